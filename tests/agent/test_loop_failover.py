"""Failover in the agent loop: auth profiles with cooldowns persisted across processes,
model fallbacks, the retry budget and stepping the thinking level down."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from claw.agent.events import AgentEnd, AgentStart, MessageStart, Retry
from claw.agent.models import litellm
from claw.agent.turn import TurnRequest, run_turn
from claw.errors import ModelError
from claw.state import config as cfg
from claw.state.cooldowns import CooldownStore
from claw.state.home import Home
from claw.state.jsonl import read_all
from claw.state.sessions import SessionStore
from tests import scripted
from tests.agent._helpers import MAIN, turn

REPO = Path(__file__).resolve().parents[2]


def turn_events(home: Home, text: str, **kw: Any) -> tuple[list[Any], BaseException | None]:
    """The events a turn yielded before it ended, and what it raised (if it did)."""
    store = SessionStore(home)
    events: list[Any] = []
    try:
        for event in run_turn(home, cfg.load(home.config_file), store, TurnRequest(text, **kw)):
            events.append(event)
    except Exception as e:
        return events, e
    finally:
        store.close()
    return events, None


def msgs(home: Home) -> list[dict[str, Any]]:
    store = SessionStore(home)
    try:
        return [r for r in read_all(store.path(MAIN)).records if r.get("type") == "message"]
    finally:
        store.close()


def retries(events: list[Any]) -> list[tuple[str, str, str]]:
    return [(e.reason, e.action, e.model) for e in events if isinstance(e, Retry)]


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What each model call handed litellm (api_key, reasoning_effort, model)."""
    lm = litellm()
    original = lm.completion
    seen: list[dict[str, Any]] = []

    def recording(*args: Any, **kwargs: Any) -> Any:
        seen.append({k: kwargs.get(k) for k in ("model", "api_key", "reasoning_effort")})
        return original(*args, **kwargs)

    monkeypatch.setattr(lm, "completion", recording)
    return seen


def keys(sent: list[dict[str, Any]]) -> list[str | None]:
    return [s["api_key"] for s in sent]


# -- auth profiles and persisted cooldowns -------------------------------------------------


@pytest.fixture
def profiles(home: Home) -> Home:
    cfg.set_value(
        home.config_file,
        "providers.scripted.profiles",
        json.dumps([{"name": "a", "api_key": "ka"}, {"name": "b", "api_key": "kb"}]),
    )
    return home


def rate_limited(retry_after: str = "120") -> Exception:
    response = httpx.Response(
        429,
        headers={"retry-after": retry_after},
        request=httpx.Request("POST", "https://api.example.test/v1"),
    )
    return litellm().RateLimitError("slow down", "scripted", "test", response=response)


_READ_COOLDOWN = """
import json, sys
from pathlib import Path
from claw.state.cooldowns import CooldownStore
from claw.state.home import Home
cd = CooldownStore(Home(Path(sys.argv[1]))).get(sys.argv[2], sys.argv[3])
print(json.dumps(None if cd is None else
                 {"until": cd.until, "reason": cd.reason, "failures": cd.failures}))
"""


def cooldown_in_another_process(home: Home, provider: str, profile: str) -> Any:
    out = subprocess.run(
        [sys.executable, "-c", _READ_COOLDOWN, str(home.root), provider, profile],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.timeout(60)
def test_rate_limit_rotates_profile_and_the_cooldown_is_shared(
    profiles: Home, sent: list[dict[str, Any]]
) -> None:
    home = profiles
    script = scripted.install([rate_limited("120"), "answer from b"], builtin=False)
    before = time.time()
    events = turn(home, "hello", model="scripted/test")
    end = events[-1]
    assert isinstance(end, AgentEnd) and end.result.text == "answer from b"
    assert keys(sent) == ["ka", "kb"]
    assert len(script.calls) == 2
    assert [(r[0], r[1]) for r in retries(events)] == [("rate_limit", "next_profile")]

    cd = CooldownStore(home).get("scripted", "a")
    assert cd is not None and cd.reason == "rate_limit"
    assert cd.until >= before + 120  # Retry-After (120 s) beats the 60 s schedule
    assert CooldownStore(home).get("scripted", "b") is None

    other = cooldown_in_another_process(home, "scripted", "a")
    assert other is not None
    assert other["reason"] == "rate_limit" and other["failures"] == 1
    assert other["until"] >= before + 120

    # The next turn does not try profile a at all.
    sent.clear()
    script = scripted.install(["b again"], builtin=False)
    assert turn(home, "again", model="scripted/test")[-1].result.text == "b again"
    assert keys(sent) == ["kb"]
    assert len(script.calls) == 1


def test_auth_error_skips_and_cools_the_profile(profiles: Home, sent: list[dict[str, Any]]) -> None:
    home = profiles
    lm = litellm()
    scripted.install(
        [lm.AuthenticationError("invalid api key", "scripted", "test"), "ok"], builtin=False
    )
    before = time.time()
    events = turn(home, "hello", model="scripted/test")
    assert events[-1].result.text == "ok"
    assert keys(sent) == ["ka", "kb"]
    assert [(r[0], r[1]) for r in retries(events)] == [("auth", "next_profile")]
    cd = CooldownStore(home).get("scripted", "a")
    assert cd is not None and cd.reason == "auth" and cd.until >= before + 60
    assert "ka" not in cd.last_error  # the key never lands on disk


def test_success_clears_the_profiles_failures(profiles: Home, sent: list[dict[str, Any]]) -> None:
    home = profiles
    store = CooldownStore(home)
    # A failure ten minutes ago: its cooldown is over, but it still counts as consecutive.
    store.mark_failure("scripted", "a", "rate_limit", now=time.time() - 600)
    assert store.get("scripted", "a") is None
    scripted.install(["fine"], builtin=False)
    assert turn(home, "hi", model="scripted/test")[-1].result.text == "fine"
    assert keys(sent) == ["ka"]
    # Had the success not cleared it, this would be the second consecutive failure.
    assert store.mark_failure("scripted", "a", "rate_limit").failures == 1


def test_every_profile_cooling_down_fails_with_a_clear_error(
    profiles: Home, sent: list[dict[str, Any]]
) -> None:
    home = profiles
    store = CooldownStore(home)
    store.mark_failure("scripted", "a", "rate_limit")
    store.mark_failure("scripted", "b", "auth")
    script = scripted.install(["never"], builtin=False)
    _, error = turn_events(home, "hi", model="scripted/test")
    assert isinstance(error, ModelError)
    assert "cooling down" in error.message
    assert sent == [] and script.calls == []


def test_a_pinned_profile_is_never_rotated_away_from(
    profiles: Home, sent: list[dict[str, Any]]
) -> None:
    home = profiles
    cfg.set_value(home.config_file, "providers.scripted.pin", "a")
    scripted.install([rate_limited("30"), "from b: must not happen"], builtin=False)
    _, error = turn_events(home, "hello", model="scripted/test")
    assert isinstance(error, ModelError) and error.reason == "rate_limit"
    assert keys(sent) == ["ka"]
    assert CooldownStore(home).get("scripted", "a") is not None
    assert msgs(home)[-1]["status"] == "error"

    # Still pinned while it cools down: tried anyway, and its success clears the cooldown.
    sent.clear()
    scripted.install(["from a"], builtin=False)
    assert turn(home, "again", model="scripted/test")[-1].result.text == "from a"
    assert keys(sent) == ["ka"]
    assert CooldownStore(home).get("scripted", "a") is None


# -- model fallbacks and the retry budget ---------------------------------------------------


def _chain(home: Home, *fallbacks: str) -> None:
    cfg.set_value(home.config_file, "model.default", "scripted/first")
    cfg.set_value(home.config_file, "model.fallbacks", ",".join(fallbacks))


@pytest.mark.parametrize("error", ["connection", "unavailable"])
def test_network_failure_falls_back_to_the_next_model(home: Home, error: str) -> None:
    lm = litellm()
    exc = (
        lm.APIConnectionError("connection refused", "scripted", "first")
        if error == "connection"
        else lm.ServiceUnavailableError("overloaded", "scripted", "first")
    )
    _chain(home, "scripted/second")
    first = scripted.install([exc], name="first")
    second = scripted.install(["second speaking"], name="second")
    events = turn(home, "anyone there?")
    assert isinstance(events[0], AgentStart) and events[0].model == "scripted/first"
    assert retries(events) == [("network", "next_model", "scripted/first")]
    assert [e.model for e in events if isinstance(e, MessageStart)] == ["scripted/second"]
    result = events[-1].result
    assert result.model == "scripted/second"
    assert result.text == "second speaking"
    assert len(first.calls) == 1 and len(second.calls) == 1
    reply = msgs(home)[-1]
    assert reply["model"] == "scripted/second" and reply["status"] == "ok"


def test_a_format_error_does_not_fall_back(home: Home) -> None:
    _chain(home, "scripted/second")
    scripted.install(
        [litellm().BadRequestError("malformed request", "first", "scripted")], name="first"
    )
    second = scripted.install(["must not answer"], name="second")
    _, error = turn_events(home, "bad")
    assert isinstance(error, ModelError) and error.reason == "format"
    assert second.calls == []
    assert msgs(home)[-1]["status"] == "error"


def test_all_models_failing_lists_every_attempt(home: Home) -> None:
    lm = litellm()
    _chain(home, "scripted/second")
    scripted.install([lm.APIConnectionError("refused", "scripted", "first")], name="first")
    scripted.install([lm.RateLimitError("busy", "scripted", "second")], name="second")
    _, error = turn_events(home, "anyone?")
    assert isinstance(error, ModelError)
    assert "scripted/first: network" in error.message
    assert "scripted/second: rate_limit" in error.message
    assert error.message.index("scripted/first") < error.message.index("scripted/second")
    last = msgs(home)[-1]
    assert last["status"] == "error" and last["error"] == error.message


def test_retry_budget_bounds_the_calls(home: Home) -> None:
    lm = litellm()
    cfg.set_value(home.config_file, "model.retry_budget", "2")
    _chain(home, "scripted/second", "scripted/third")
    scripts = [
        scripted.install([lm.APIConnectionError("down", "scripted", n)], name=n)
        for n in ("first", "second", "third")
    ]
    _, error = turn_events(home, "try hard")
    assert isinstance(error, ModelError) and error.reason == "budget"
    assert "retry budget of 2" in error.message
    assert [len(s.calls) for s in scripts] == [1, 1, 0]


# -- thinking level ---------------------------------------------------------------------------


def test_unsupported_reasoning_steps_the_thinking_level_down(
    home: Home, sent: list[dict[str, Any]]
) -> None:
    script = scripted.install(["thought enough"], builtin=False)
    events = turn(home, "think hard", model="scripted/test", thinking="high")
    assert events[-1].result.status == "ok"
    assert events[-1].result.text == "thought enough"
    steps = retries(events)
    assert [(r[0], r[1]) for r in steps] == [("format", "lower_thinking")] * 3
    # Each level once, in order; only the call at "off" got past litellm to the model.
    assert [s["reasoning_effort"] for s in sent] == ["high", "medium", "low", None]
    assert len(script.calls) == 1
    assert "reasoning_effort" not in script.params[0]


def test_reasoning_effort_is_passed_to_hosted_models(
    home: Home, sent: list[dict[str, Any]]
) -> None:
    scripted.install(["ok"], builtin=False)
    turn(home, "think a little", model="scripted/test", thinking="low")
    assert sent[0]["reasoning_effort"] == "low"


def test_format_error_without_reasoning_requested_is_not_retried(home: Home) -> None:
    """A built-in model never gets reasoning_effort, so a lower thinking level would send
    the very same request again: the malformed request is reported at once."""
    lm = litellm()
    script = scripted.install([lm.BadRequestError("malformed", "test", "scripted")] * 4)
    events, error = turn_events(home, "x", model="scripted/test", thinking="high")
    assert isinstance(error, ModelError) and error.reason == "format"
    assert len(script.calls) == 1, "the identical request was retried"
    assert not [r for r in retries(events) if r[1] == "lower_thinking"]
