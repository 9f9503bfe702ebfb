"""`run_turn` directly: events, transcript consistency, fallbacks, interruption, locks."""

from __future__ import annotations

import pytest

from claw.agent.events import MessageStart, TextDelta, TurnEnd, TurnStart
from claw.agent.models import litellm
from claw.agent.turn import TurnRequest, run_turn
from claw.errors import ClawError, ModelError, NotFound, UsageError
from claw.state import config as cfg
from claw.state.home import Home
from claw.state.locks import Timeout, file_lock
from claw.state.names import encode_component
from claw.state.sessions import SessionStore
from tests import scripted
from tests.agent._helpers import MAIN, msgs, turn


def test_events_and_transcript_of_a_turn(home: Home) -> None:
    scripted.install(["hello back to you"])
    events = turn(home, "hello", model="scripted/test")
    assert isinstance(events[0], TurnStart)
    assert events[0].session_key == MAIN and events[0].model == "scripted/test"
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    assert deltas == ["hello ", "back ", "to ", "you"]
    assert isinstance(events[-1], TurnEnd)
    result = events[-1].result
    assert result.text == "hello back to you"
    assert result.status == "ok"
    user, reply = msgs(home)
    assert events[0].user_message_id == user["id"]
    assert result.message_id == reply["id"]
    assert reply["reply_to"] == user["id"]
    assert reply["usage"] == result.usage


def test_empty_text_is_a_usage_error(home: Home) -> None:
    with pytest.raises(UsageError):
        turn(home, " \n", model="echo")


def test_unknown_agent(home: Home) -> None:
    with pytest.raises(NotFound) as e:
        turn(home, "hi", agent_id="ghost", model="echo")
    assert "main" in e.value.message


def test_message_larger_than_the_context_window(home: Home) -> None:
    scripted.install(["never"], context_window=300)
    with pytest.raises(ClawError) as e:
        turn(home, "word " * 2000, model="scripted/test")
    assert "context window" in e.value.message
    assert not SessionStore(home).exists(MAIN)


def test_history_fits_the_budget(home: Home) -> None:
    cfg.set_value(home.config_file, "sessions.history_tokens", "60")
    script = scripted.install(["a", "b", "c"])
    turn(home, "x" * 120, model="scripted/test")  # ~44 tokens
    turn(home, "y" * 120, model="scripted/test")
    turn(home, "latest", model="scripted/test")
    sent = script.calls[-1]
    # Only the newest exchange fits; the window starts at a user message.
    assert [m["content"] for m in sent[1:]] == ["y" * 120, "b", "latest"]


def _fallback_config(home: Home) -> None:
    cfg.set_value(home.config_file, "model.default", "scripted/test")
    cfg.set_value(home.config_file, "model.fallbacks", "echo")


def test_fallback_on_rate_limit(home: Home) -> None:
    _fallback_config(home)
    script = scripted.install([litellm().RateLimitError("busy", "scripted", "test")])
    result = turn(home, "fall back please")[-1].result
    assert result.model == "echo"
    assert result.text == "fall back please"
    assert len(script.calls) == 1
    assert [m.get("status") for m in msgs(home)] == [None, "ok"]


def test_no_fallback_on_a_format_error(home: Home) -> None:
    _fallback_config(home)
    scripted.install([litellm().BadRequestError("malformed", "test", "scripted")])
    with pytest.raises(ModelError) as e:
        turn(home, "bad request")
    assert e.value.reason == "format"
    assert msgs(home)[-1]["status"] == "error"


def test_no_fallback_for_an_explicit_model(home: Home) -> None:
    _fallback_config(home)
    scripted.install([litellm().RateLimitError("busy", "scripted", "test")])
    with pytest.raises(ModelError) as e:
        turn(home, "only this model", model="scripted/test")
    assert e.value.reason == "rate_limit"


def test_agent_fallbacks_override_global_ones(home: Home) -> None:
    _fallback_config(home)
    cfg.set_value(home.config_file, "agents.main.fallbacks", "[]")
    scripted.install([litellm().RateLimitError("busy", "scripted", "test")])
    with pytest.raises(ModelError):
        turn(home, "no fallback for main")


@pytest.mark.timeout(30)
def test_closing_mid_reply_keeps_partial_text_and_frees_the_session(home: Home) -> None:
    script = scripted.install(["one two three four", "next"])
    store = SessionStore(home)
    events = run_turn(
        home, cfg.load(home.config_file), store, TurnRequest("count", model="scripted/test")
    )
    assert isinstance(next(events), TurnStart)
    assert isinstance(next(events), MessageStart)
    first = next(events)
    assert isinstance(first, TextDelta) and first.text == "one "
    events.close()  # what a caller does when the user stops the reply
    store.close()

    reply = msgs(home)[-1]
    assert reply["role"] == "assistant"
    assert reply["status"] == "interrupted"
    assert reply["content"] == "one "

    lock = file_lock(home.locks_dir / "sessions" / f"{encode_component(MAIN)}.turn.lock", timeout=0)
    try:
        lock.acquire()
    except Timeout:  # pragma: no cover - the failure being tested for
        pytest.fail("the session's turn lock is still held after the turn was closed")
    lock.release()

    # The partial reply is part of what the model sees next time.
    turn(home, "go on", model="scripted/test")
    assert [m["content"] for m in script.calls[-1][1:]] == ["count", "one ", "go on"]


def test_an_unwatched_echo_turn_calls_litellm_without_streaming(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`live=False` (chat.send, `claw send --json`) reaches the model call."""
    lm = litellm()
    seen: list[bool] = []
    real = lm.completion

    def spy(**kwargs):
        seen.append(bool(kwargs.get("stream")))
        return real(**kwargs)

    monkeypatch.setattr(lm, "completion", spy)
    store = SessionStore(home)
    for live in (True, False):
        req = TurnRequest("hello there", session_key=f"agent:main:l{live}", model="echo", live=live)
        ends = [e for e in run_turn(home, cfg.load(home.config_file), store, req)]
        assert isinstance(ends[-1], TurnEnd) and ends[-1].result.text == "hello there"
    assert seen == [True, False]
