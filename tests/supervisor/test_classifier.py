"""Intent classification: the labelled set, rules, configured intents, forced modes, and
the LLM fallback (only when the cheap score is uncertain)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from claw.errors import ConfigError, UsageError
from claw.state.home import Home
from claw.supervisor.classifier import Classifier
from claw.supervisor.decide import decide
from claw.supervisor.intents import load_intents
from tests import scripted
from tests.supervisor._helpers import configure, labelled


def test_the_labelled_set_is_big_enough_and_covers_both_languages() -> None:
    rows = labelled()
    assert len(rows) >= 60
    for mode in ("fast", "single", "multi"):
        texts = [t for m, t in rows if m == mode]
        assert len(texts) >= 20
        assert any(any("\u4e00" <= c <= "\u9fff" for c in t) for t in texts)  # Chinese
        assert any(t.isascii() for t in texts)  # English


def test_held_out_none_of_the_labelled_messages_is_a_builtin_example() -> None:
    examples = {ex for i in load_intents() for ex in i.examples}
    assert not examples & {t for _, t in labelled()}


def test_accuracy_on_the_labelled_set_without_the_llm_is_at_least_90_percent() -> None:
    classifier = Classifier(load_intents())
    rows = labelled()
    wrong = [
        (m, t, d.mode)
        for m, t in rows
        if (d := classifier.classify(t, min_score=0.3, margin=0.05)).mode != m
    ]
    assert len(wrong) / len(rows) <= 0.10, wrong


@pytest.mark.parametrize(
    ("text", "mode", "source"),
    [
        ("thanks!", "fast", "rule"),
        ("👍", "fast", "rule"),
        ("好的", "fast", "rule"),
        ("1. summarize a.md\n2. list my tasks\n3. draft an email", "multi", "rule"),
        ("首先查天气，然后订餐厅，最后提醒我出门", "multi", "rule"),
        ("compare Rust, Go and Zig for CLIs", "multi", "rule"),
    ],
)
def test_rules_decide_the_obvious_cases_with_full_score(text: str, mode: str, source: str) -> None:
    d = Classifier(load_intents()).classify(text, min_score=0.3, margin=0.05)
    assert (d.mode, d.source, d.score) == (mode, source, 1.0)


def test_a_fast_looking_message_that_names_a_file_is_not_fast() -> None:
    d = Classifier(load_intents()).classify(
        "hello, what's in notes.txt?", min_score=0.3, margin=0.05
    )
    assert d.mode == "single"


def test_decision_line_has_mode_intent_and_score() -> None:
    d = Classifier(load_intents()).classify(
        "good morning, how are you?", min_score=0.3, margin=0.05
    )
    assert d.line().startswith(f"mode=fast intent={d.intent} score=")
    assert 0 < d.score <= 1


def test_configured_intents_add_examples_and_can_switch_one_off(home: Home) -> None:
    config = configure(
        home,
        supervisor__intents__weather__mode="fast",
        supervisor__intents__weather__examples='["will it rain today", "今天会下雨吗"]',
    )
    d = decide(config, "will it rain tomorrow?")
    assert (d.mode, d.intent) == ("fast", "weather")
    off = configure(home, supervisor__intents__simple_fact__examples="[]")
    assert "simple_fact" not in {i.name for i in load_intents(off.get("supervisor.intents"))}


def test_a_configured_intent_needs_a_valid_mode() -> None:
    with pytest.raises(ConfigError):
        load_intents({"new": {"examples": ["x"]}})


def test_forced_and_disabled(home: Home) -> None:
    config = configure(home)
    assert decide(config, "hi", "multi").mode == "multi"
    assert decide(config, "hi", "multi").source == "forced"
    with pytest.raises(UsageError):
        decide(config, "hi", "turbo")
    off = configure(home, supervisor__enabled="false")
    assert decide(off, "hi").mode == "single"


def test_llm_fallback_runs_only_when_the_cheap_score_is_uncertain(home: Home) -> None:
    script = scripted.install(["multi"], name="cls")
    config = configure(home, supervisor__classifier_model="scripted/cls")
    sure = decide(config, "thanks!", home=home)
    assert sure.source == "rule" and script.calls == []  # certain: no model call
    unsure = decide(config, "zebra quantum marmalade", home=home)
    assert (unsure.mode, unsure.source) == ("multi", "llm")
    assert (
        len(script.calls) == 1 and "Answer with exactly one word" in script.calls[0][0]["content"]
    )


def test_llm_fallback_failure_keeps_the_cheap_decision(home: Home) -> None:
    scripted.install([RuntimeError("down"), "banana"], name="cls")
    config = configure(home, supervisor__classifier_model="scripted/cls")
    first = decide(config, "zebra quantum marmalade", home=home)
    assert first.source != "llm" and first.uncertain and first.reason == "llm failed"
    second = decide(config, "zebra quantum marmalade", home=home)
    assert second.reason == "llm unclear"


def test_cheap_classification_imports_no_model_code() -> None:
    code = (
        "import sys\n"
        "from claw.state.config import Config\n"
        "from claw.state.config_schema import defaults\n"
        "from claw.supervisor.decide import decide\n"
        "d = decide(Config(defaults()), 'hello there')\n"
        "assert d.mode == 'fast', d\n"
        "print('litellm' in sys.modules, 'claw.agent.completion' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
