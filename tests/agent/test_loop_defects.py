"""Defects of the agent loop found after it shipped (issue #3): a message too long for
the model, reasoning from a failed attempt, provider-less tool call ids, skill warnings."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from claw.agent.events import AgentEnd, ReasoningDelta, ReasoningReset, Retry
from claw.agent.models import litellm
from claw.state import config as cfg
from claw.state.home import Home
from claw.state.sessions import SessionStore
from tests import scripted
from tests.agent._helpers import MAIN, msgs, turn
from tests.agent.test_loop_failover import rate_limited

# -- a message that cannot fit the model's context ------------------------------------------


@pytest.mark.timeout(60)
def test_a_message_too_long_for_the_model_is_refused_before_it_is_stored(cli, home: Home) -> None:
    """Even compaction cannot make room for the message itself: storing it would leave a
    question in the session no model call can ever carry. Refused like other bad input."""
    scripted.install(["First answer."], context_window=2048)
    assert cli("send", "--model", "scripted/test", "hello").exit_code == 0
    store = SessionStore(home)
    try:
        before = store.path(MAIN).read_bytes()
    finally:
        store.close()
    listed = cli("sessions", "list", "--json")
    assert listed.exit_code == 0, listed.output

    script = scripted.install(["never called"], context_window=2048)
    r = cli("send", "--model", "scripted/test", "word " * 3000)
    assert r.exit_code == 2, r.output
    assert "too long" in r.output and "scripted/test" in r.output
    assert script.calls == []  # no model call was spent on it
    store = SessionStore(home)
    try:
        assert store.path(MAIN).read_bytes() == before
    finally:
        store.close()
    assert cli("sessions", "list", "--json").output == listed.output


@pytest.mark.timeout(60)
def test_a_message_too_long_for_a_new_session_creates_no_session(home: Home) -> None:
    from claw.errors import UsageError

    scripted.install(["never called"], context_window=2048)
    with pytest.raises(UsageError, match="too long"):
        turn(home, "word " * 3000, model="scripted/test")
    store = SessionStore(home)
    try:
        assert not store.exists(MAIN)
        assert store.list() == []
    finally:
        store.close()


# -- reasoning of a failed attempt -------------------------------------------------------------


def _chunk(reasoning: str = "", text: str = "", finish: str | None = None) -> Any:
    delta = SimpleNamespace(reasoning_content=reasoning or None, content=text or None)
    choice = SimpleNamespace(finish_reason=finish, delta=delta)
    return SimpleNamespace(usage=None, choices=[choice])


@pytest.fixture
def reasoning_then_429(monkeypatch: pytest.MonkeyPatch, home: Home) -> None:
    """A hosted model (two auth profiles) that thinks, then is rate limited; the retry on
    the second profile thinks again and answers."""
    cfg.set_value(
        home.config_file,
        "providers.scripted.profiles",
        json.dumps([{"name": "a", "api_key": "ka"}, {"name": "b", "api_key": "kb"}]),
    )
    scripted.install(["unused"], builtin=False)
    lm = litellm()
    attempts: list[str] = []

    def failing() -> Iterator[Any]:
        yield _chunk(reasoning="Let me think. ")
        yield _chunk(reasoning="First try.")
        raise rate_limited()

    def answering() -> Iterator[Any]:
        yield _chunk(reasoning="Second try.")
        yield _chunk(text="The answer.", finish="stop")

    def fake(**kwargs: Any) -> Iterator[Any]:
        attempts.append(kwargs["api_key"])
        return failing() if len(attempts) == 1 else answering()

    monkeypatch.setattr(lm, "completion", fake)


@pytest.mark.timeout(60)
@pytest.mark.usefixtures("reasoning_then_429")
def test_reasoning_of_a_failed_attempt_is_dropped(home: Home) -> None:
    events = turn(home, "why?", model="scripted/test")
    result = events[-1].result
    assert isinstance(events[-1], AgentEnd) and result.text == "The answer."
    assert result.reasoning == "Second try."
    [reply] = [m for m in msgs(home) if m["role"] == "assistant"]
    assert reply["reasoning"] == "Second try."
    # what was streamed before the failure cannot be unshown: a reset says to drop it
    kinds = [type(e).__name__ for e in events if isinstance(e, ReasoningDelta | ReasoningReset)]
    assert kinds == ["ReasoningDelta", "ReasoningDelta", "ReasoningReset", "ReasoningDelta"]
    reset = next(i for i, e in enumerate(events) if isinstance(e, ReasoningReset))
    assert isinstance(events[reset + 1], Retry)


@pytest.mark.timeout(60)
@pytest.mark.usefixtures("reasoning_then_429")
def test_reasoning_of_an_earlier_round_is_kept_across_a_retry(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the failed attempt's part goes: what an earlier tool round thought stays."""
    lm = litellm()
    retry_stream = lm.completion

    def first_round_then_retry(**kwargs: Any) -> Iterator[Any]:
        if not calls:
            calls.append(1)
            tool = SimpleNamespace(
                index=0,
                id="t1",
                function=SimpleNamespace(name="current_time", arguments="{}"),
            )
            delta = SimpleNamespace(
                reasoning_content="Need the time. ", content=None, tool_calls=[tool]
            )
            choice = SimpleNamespace(finish_reason="tool_calls", delta=delta)
            return iter([SimpleNamespace(usage=None, choices=[choice])])
        return retry_stream(**kwargs)

    calls: list[int] = []
    monkeypatch.setattr(lm, "completion", first_round_then_retry)
    events = turn(home, "what time is it?", model="scripted/test")
    assert events[-1].result.reasoning == "Need the time. Second try."


# -- tool call ids the provider did not give ---------------------------------------------------


@pytest.mark.timeout(60)
def test_generated_tool_call_ids_are_unique_across_rounds_and_turns(home: Home) -> None:
    def call(name: str) -> dict[str, Any]:
        return {"name": name, "arguments": {}, "id": ""}

    scripted.install(
        [
            {"text": "", "tool_calls": [call("current_time"), call("list_dir")]},
            {"text": "", "tool_calls": [call("current_time")]},
            "Done.",
            {"text": "", "tool_calls": [call("current_time")]},
            "Again.",
        ]
    )
    turn(home, "time?", model="scripted/test")
    turn(home, "and now?", model="scripted/test")
    records = msgs(home)
    ids = [c["id"] for m in records for c in m.get("tool_calls", [])]
    assert len(ids) == 4 and len(set(ids)) == 4, ids
    assert all(i.startswith("call_") and len(i) <= 40 for i in ids), ids
    results = [m["tool_call_id"] for m in records if m["role"] == "tool"]
    assert results == ids  # each result answers its own call


# -- skill warnings ------------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_a_skill_warning_is_logged_once_per_version_of_the_file(
    home: Home, caplog: pytest.LogCaptureFixture
) -> None:
    """A daemon runs many turns: a broken skill must not flood its log, yet an edit that
    leaves it broken is worth saying again."""
    bad = home.agent_dir("main") / "skills" / "broken" / "SKILL.md"
    bad.parent.mkdir(parents=True)
    bad.write_text("no front matter here\n")
    scripted.install(["One.", "Two.", "Three."])
    caplog.set_level(logging.WARNING)

    def warned() -> int:
        return sum(str(bad) in r.getMessage() for r in caplog.records)

    turn(home, "one", model="scripted/test")
    turn(home, "two", model="scripted/test")
    assert warned() == 1
    st = bad.stat()
    os.utime(bad, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))  # a new version
    turn(home, "three", model="scripted/test")
    assert warned() == 2


@pytest.mark.timeout(60)
@pytest.mark.usefixtures("reasoning_then_429")
def test_claw_send_streaming_reasoning_says_the_failed_attempts_part_is_void(
    cli, home: Home
) -> None:
    cfg.set_value(home.config_file, "model.reasoning", "stream")
    r = cli("send", "--model", "scripted/test", "why?")
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == "The answer."
    shown = r.stderr
    assert shown.index("First try.") < shown.index("is void") < shown.index("Second try.")
