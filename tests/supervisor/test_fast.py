"""Fast mode: no tools, a short history, its own model; escalation to single mode when
the model asks for a tool or says it cannot answer; forced modes."""

from __future__ import annotations

import pytest

from claw.agent.events import MessageDelta, ModeDecision
from claw.state import jsonl
from claw.state.home import Home
from claw.state.sessions import SessionStore
from claw.state.transcript import message
from claw.supervisor.history import text_window
from tests import scripted
from tests.supervisor._helpers import Roles, configure, messages_of, replies, supervised


@pytest.fixture
def config(home: Home):
    return configure(home, model__default="scripted/test")


def test_small_talk_runs_fast_without_tools_and_records_the_decision(home: Home, config) -> None:
    script = scripted.install(replies(Roles(fast="Hi! How can I help?")))
    events, end = supervised(home, config, "hey, how are you?")
    assert (
        end is not None and end.result.mode == "fast" and end.result.text == "Hi! How can I help?"
    )
    assert "tools" not in script.params[0]  # no tool schemas offered
    decision = next(e for e in events if isinstance(e, ModeDecision))
    assert (decision.mode, decision.source) == ("fast", "semantic")
    user, reply = messages_of(home)
    assert user["content"] == "hey, how are you?"
    assert reply["mode"] == "fast" and reply["route"]["intent"] == decision.intent
    assert reply["route"]["score"] == decision.score


def test_fast_mode_sends_a_short_text_only_history(home: Home, config) -> None:
    script = scripted.install(replies(Roles(single=lambda m: f"answer {len(m)}", fast="ok")))
    for n in range(5):
        supervised(home, config, f"please summarize chapter {n} of my notes.md", mode="single")
    config = configure(home, supervisor__fast_history="4")
    supervised(home, config, "thanks!")
    sent = script.calls[-1]
    assert len(sent) == 1 + 4 + 1  # system, the last 4 messages, the new one
    assert [m["role"] for m in sent[1:]] == ["user", "assistant", "user", "assistant", "user"]


def test_fast_window_of_a_long_session_reads_only_its_tail(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Parsing the whole token window of a long session on every fast turn cost ~8 ms; the
    # window needs only the last few messages, so only a few kilobytes are read.
    store = SessionStore(home)
    key = "agent:main:long"
    turns = [
        (message("user", f"question {n} " + "x" * 200), message("assistant", f"answer {n}"))
        for n in range(400)
    ]
    store.append(key, [m for pair in turns for m in pair])  # ~100 KB
    read: list[int] = []
    real = jsonl.read_before

    def spy(f, end, nbytes, **kw):  # type: ignore[no-untyped-def]
        read.append(nbytes)
        return real(f, end, nbytes, **kw)

    monkeypatch.setattr(jsonl, "read_before", spy)
    window = text_window(store, key, 4)
    assert 0 < sum(read) <= 16 * 1024
    assert [m["content"][:12] for m in window] == [
        "question 398",
        "answer 398",
        "question 399",
        "answer 399",
    ]
    tool_heavy = [message("tool", "y" * 1000, tool_call_id="t") for _ in range(6)]
    store.append(key, tool_heavy)  # tool traffic is skipped: reading goes on past it
    assert [m["content"][:12] for m in text_window(store, key, 2)] == ["question 399", "answer 399"]


def test_fast_model_from_config(home: Home) -> None:
    big = scripted.install(replies(Roles()), name="big")
    small = scripted.install(replies(Roles(fast="hey")), name="small")
    config = configure(home, model__default="scripted/big", supervisor__fast_model="scripted/small")
    _, end = supervised(home, config, "hello there")
    assert end is not None and end.result.model == "scripted/small"
    assert len(small.calls) == 1 and big.calls == []


def test_asking_for_a_tool_escalates_to_single_without_a_trace(home: Home, config) -> None:
    wants_tool = {"text": "", "tool_calls": [{"name": "current_time", "arguments": {}}]}
    script = scripted.install(
        [
            wants_tool,
            {"text": "", "tool_calls": [{"name": "current_time", "arguments": {}}]},
            "Noon.",
        ]
    )
    events, end = supervised(home, config, "hello!", mode="fast")
    assert end is not None and end.result.text == "Noon." and end.result.mode == "single"
    decisions = [e for e in events if isinstance(e, ModeDecision)]
    assert [d.mode for d in decisions] == ["fast", "single"]
    assert decisions[1].source == "escalated" and "tool" in decisions[1].reason
    assert "tools" not in script.params[0] and "tools" in script.params[1]
    msgs = messages_of(home)
    assert [m["role"] for m in msgs] == ["user", "assistant", "tool", "assistant"]
    assert msgs[-1]["mode"] == "single" and msgs[-1]["route"]["source"] == "escalated"


@pytest.mark.parametrize(
    "fast_reply", ["ESCALATE", "I can't check that without my tools.", "抱歉，我无法回答这个问题。"]
)
def test_saying_it_cannot_answer_escalates_and_nothing_of_it_is_shown(
    home: Home, config, fast_reply: str
) -> None:
    scripted.install(replies(Roles(fast=fast_reply, single="Here it is.")))
    events, end = supervised(home, config, "what's the capital of Peru?")
    assert end is not None and end.result.text == "Here it is." and end.result.mode == "single"
    shown = "".join(e.text for e in events if isinstance(e, MessageDelta))
    assert shown == "Here it is."
    assert [m["content"] for m in messages_of(home)] == [
        "what's the capital of Peru?",
        "Here it is.",
    ]


def test_a_long_fast_answer_streams_and_is_kept(home: Home, config) -> None:
    text = "Lima is the capital of Peru. " * 6
    scripted.install(replies(Roles(fast=text)))
    events, end = supervised(home, config, "what's the capital of Peru?")
    assert end is not None and end.result.mode == "fast"
    deltas = [e.text for e in events if isinstance(e, MessageDelta)]
    assert len(deltas) > 2 and "".join(deltas) == text


def test_forced_single_and_multi_modes(home: Home, config) -> None:
    script = scripted.install(replies(Roles(plan=["only one thing"], single="single answer")))
    _, end = supervised(home, config, "hi", mode="single")
    assert end is not None and end.result.mode == "single"
    assert "tools" in script.params[-1]
    events, end = supervised(home, config, "hi", mode="multi")
    decisions = [(d.mode, d.source) for d in events if isinstance(d, ModeDecision)]
    assert decisions == [("multi", "forced"), ("single", "plan")]  # a one-part plan
    assert end is not None and end.result.mode == "single"


def test_a_fast_model_failure_with_the_agents_own_model_is_recorded_not_retried(
    home: Home, config
) -> None:
    script = scripted.install([ValueError("boom")] * 10)
    from claw.errors import ModelError

    with pytest.raises(ModelError):
        supervised(home, config, "hello there")
    calls = len(script.calls)
    msgs = messages_of(home)
    assert [m["role"] for m in msgs] == ["user", "assistant"] and msgs[1]["status"] == "error"
    assert calls <= 8  # one failover chain, not two


def test_a_distinct_fast_model_that_fails_escalates(home: Home) -> None:
    scripted.install([ValueError("boom")] * 10, name="small")
    scripted.install(replies(Roles(single="from the big one")), name="big")
    config = configure(home, model__default="scripted/big", supervisor__fast_model="scripted/small")
    _, end = supervised(home, config, "hello there")
    assert end is not None and end.result.text == "from the big one" and end.result.mode == "single"


def test_fast_mode_gets_plugin_context_like_single_mode(
    home: Home, config, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib
    import sys
    import textwrap

    from claw.agent.hooks import clear_cache

    clear_cache()
    folder = tmp_path / "plugins"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    (folder / "fastplug.py").write_text(
        textwrap.dedent("""
        from claw.agent.hooks import hookimpl

        @hookimpl
        def before_agent_start(ctx, messages):
            return "PLUGIN: the user's cat is Miso; they said " + messages[-1]["content"]
        """)
    )
    importlib.invalidate_caches()
    try:
        config = configure(home, plugins="fastplug")
        script = scripted.install(replies(Roles(fast="Miso!")))
        _, end = supervised(home, config, "what's my cat called?", mode="fast")
        assert end is not None and end.result.mode == "fast"
        system = script.calls[0][0]["content"]
        assert "PLUGIN: the user's cat is Miso; they said what's my cat called?" in system
    finally:
        sys.modules.pop("fastplug", None)
        clear_cache()
