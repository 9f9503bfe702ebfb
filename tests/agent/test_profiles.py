"""Auth profiles: which keys are usable, the rotation order around cooldowns, the pin, and
reading Retry-After from real litellm exceptions."""

from __future__ import annotations

import email.utils
import logging
from typing import Any

import httpx
import pytest

from claw.agent.models import classify, litellm
from claw.agent.profiles import (
    AuthProfile,
    ProfileRotation,
    profiles_for,
    provider_of,
    retry_after_seconds,
)
from claw.errors import ConfigError
from claw.state.config import Config
from claw.state.cooldowns import CooldownStore
from claw.state.home import Home

T0 = 1_800_000_000.0


def config(provider: str = "openai", **section: Any) -> Config:
    return Config(data={"providers": {provider: section}})


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEY_WORK", "sk-work-secret")
    monkeypatch.setenv("KEY_HOME", "sk-home-secret")
    monkeypatch.delenv("KEY_UNSET", raising=False)


THREE = [
    {"name": "work", "api_key_env": "KEY_WORK"},
    {"name": "home", "api_key_env": "KEY_HOME"},
    {"name": "spare", "api_key": "sk-spare-secret"},
]
THREE_NAMES = ["work", "home", "spare"]


def names(profiles: list[AuthProfile]) -> list[str]:
    return [p.name for p in profiles]


def test_profiles_in_config_order_with_their_keys(keys: None) -> None:
    got = profiles_for(config(profiles=THREE), "openai")
    assert got == [
        AuthProfile("openai", "work", "sk-work-secret"),
        AuthProfile("openai", "home", "sk-home-secret"),
        AuthProfile("openai", "spare", "sk-spare-secret"),
    ]


def test_profiles_without_a_key_are_skipped(keys: None, caplog: pytest.LogCaptureFixture) -> None:
    section = [
        {"name": "gone", "api_key_env": "KEY_UNSET"},
        {"name": "nothing"},
        {"name": "home", "api_key_env": "KEY_HOME"},
    ]
    with caplog.at_level(logging.DEBUG, logger="claw.agent.profiles"):
        got = profiles_for(config(profiles=section), "openai")
    assert names(got) == ["home"]
    assert "skipping profile 'gone': $KEY_UNSET is not set" in caplog.text
    assert "skipping profile 'nothing'" in caplog.text


def test_an_empty_env_var_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEY_EMPTY", "")
    section = [{"name": "e", "api_key_env": "KEY_EMPTY"}, {"name": "k", "api_key": "sk-k"}]
    assert names(profiles_for(config(profiles=section), "openai")) == ["k"]


def test_implicit_default_profile_when_none_configured() -> None:
    assert profiles_for(Config(data={}), "openai") == [AuthProfile("openai", "default", None)]
    assert profiles_for(config(api_base="http://x"), "openai") == [
        AuthProfile("openai", "default", None)
    ]


def test_configured_profiles_all_keyless_fall_back_to_the_default_with_a_warning(
    keys: None, caplog: pytest.LogCaptureFixture
) -> None:
    section = [{"name": "gone", "api_key_env": "KEY_UNSET"}]
    with caplog.at_level(logging.WARNING, logger="claw.agent.profiles"):
        got = profiles_for(config(profiles=section), "openai")
    assert got == [AuthProfile("openai", "default", None)]
    assert "$KEY_UNSET" in caplog.text


def test_duplicate_and_unnamed_profiles(keys: None) -> None:
    section = [
        {"api_key_env": "KEY_WORK"},
        {"name": "KEY_WORK", "api_key": "sk-other"},
        {"api_key": "sk-anon"},
    ]
    got = profiles_for(config(profiles=section), "openai")
    assert [(p.name, p.api_key) for p in got] == [("KEY_WORK", "sk-work-secret"), ("#3", "sk-anon")]


def test_repr_never_shows_the_key() -> None:
    p = AuthProfile("openai", "work", "sk-very-secret")
    for text in (repr(p), str(p), f"{p}", repr([p])):
        assert "sk-very-secret" not in text
        assert "work" in text
    assert "api_key=None" in repr(AuthProfile("openai", "default", None))


def test_provider_of() -> None:
    assert provider_of("openai/gpt-4o-mini") == "openai"
    assert provider_of("openrouter/anthropic/claude-3.5-sonnet") == "openrouter"
    assert provider_of("local/smollm2") == "local"
    assert provider_of("gpt-4o") == "default"
    assert provider_of("/odd") == "default"


def test_order_skips_cooling_profiles_and_returns_them_after_expiry(home: Home, keys: None) -> None:
    store = CooldownStore(home)
    cfg = config(profiles=THREE)
    rot = ProfileRotation(store, cfg, "openai", now=T0)
    assert names(rot.order()) == THREE_NAMES
    cd = rot.failed(rot.order()[0], "rate_limit", error="429 too many")
    assert cd is not None and cd.until == T0 + 60
    assert names(rot.order()) == ["home", "spare"]
    assert rot.next_ready_at() is None
    # Another rotation (another turn, maybe another process) sees the same thing.
    assert names(ProfileRotation(store, cfg, "openai", now=T0 + 30).order()) == ["home", "spare"]
    assert names(ProfileRotation(store, cfg, "openai", now=T0 + 60).order()) == THREE_NAMES
    # Other providers are unaffected.
    assert names(ProfileRotation(store, config("anthropic", profiles=THREE), "anthropic").order())
    assert store.get("openai", "work", now=T0).last_error == "429 too many"


def test_all_cooling_down_gives_an_empty_order_and_the_next_ready_time(
    home: Home, keys: None
) -> None:
    store = CooldownStore(home)
    rot = ProfileRotation(store, config(profiles=THREE), "openai", now=T0)
    work, home_p, spare = rot.order()
    rot.failed(work, "auth")  # 60 s
    rot.failed(home_p, "rate_limit", retry_after=600)
    rot.failed(spare, "timeout", retry_after=120)
    assert rot.order() == []
    assert rot.next_ready_at() == T0 + 60
    later = ProfileRotation(store, config(profiles=THREE), "openai", now=T0 + 61)
    assert names(later.order()) == ["work"]


def test_only_the_profiles_fault_starts_a_cooldown(home: Home, keys: None) -> None:
    store = CooldownStore(home)
    rot = ProfileRotation(store, config(profiles=THREE), "openai", now=T0)
    work = rot.order()[0]
    for reason in ("format", "overflow", "not_found", "network", "unknown", "empty"):
        assert rot.failed(work, reason) is None
    assert names(rot.order()) == THREE_NAMES and store.all(now=T0) == []
    for reason in ("auth", "rate_limit", "timeout", "billing"):
        assert rot.failed(work, reason) is not None
    assert store.get("openai", "work", now=T0).failures == 4


def test_succeeded_clears_the_cooldown(home: Home, keys: None) -> None:
    store = CooldownStore(home)
    rot = ProfileRotation(store, config(profiles=THREE), "openai", now=T0)
    work = rot.order()[0]
    rot.failed(work, "timeout")
    rot.succeeded(work)
    assert names(rot.order()) == THREE_NAMES
    assert rot.failed(work, "timeout").failures == 1


def test_pinned_profile_is_never_rotated_away_from(home: Home, keys: None) -> None:
    store = CooldownStore(home)
    cfg = config(profiles=THREE, pin="home")
    rot = ProfileRotation(store, cfg, "openai", now=T0)
    assert rot.order() == [AuthProfile("openai", "home", "sk-home-secret")]
    pinned = rot.order()[0]
    rot.failed(pinned, "rate_limit", retry_after=300)
    # Still the only one tried, though cooling down and others are fine.
    assert rot.order() == [pinned]
    assert rot.next_ready_at() == T0 + 300
    rot.succeeded(pinned)
    assert rot.next_ready_at() is None


def test_pin_to_a_missing_or_keyless_profile_is_a_config_error(home: Home, keys: None) -> None:
    store = CooldownStore(home)
    for pin in ("nope", "gone"):
        section = [*THREE, {"name": "gone", "api_key_env": "KEY_UNSET"}]
        rot = ProfileRotation(store, config(profiles=section, pin=pin), "openai")
        with pytest.raises(ConfigError, match=f"pin is '{pin}'"):
            rot.order()


def test_implicit_default_profile_rotates_too(home: Home) -> None:
    store = CooldownStore(home)
    rot = ProfileRotation(store, Config(data={}), "openai", now=T0)
    (default,) = rot.order()
    assert default.api_key is None
    rot.failed(default, "auth")
    assert rot.order() == [] and rot.next_ready_at() == T0 + 60


def test_the_key_never_reaches_the_cooldown_file(home: Home, keys: None) -> None:
    store = CooldownStore(home)
    rot = ProfileRotation(store, config(profiles=THREE), "openai", now=T0)
    rot.failed(rot.order()[0], "auth", error="Incorrect API key provided: sk-work-secret")
    text = store.path.read_text()
    assert "sk-work-secret" not in text and "provided: ***" in text


def test_storage_trouble_is_logged_not_raised(
    home: Home, keys: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    store = CooldownStore(home)
    rot = ProfileRotation(store, config(profiles=THREE), "openai", now=T0)

    def broken(*a: object, **k: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store, "mark_failure", broken)
    monkeypatch.setattr(store, "clear", broken)
    with caplog.at_level(logging.WARNING, logger="claw.agent.profiles"):
        assert rot.failed(rot.order()[0], "auth") is None
        rot.succeeded(rot.order()[0])
    assert caplog.text.count("No space left") == 2


def rate_limit(headers: dict[str, str] | None = None) -> BaseException:
    lm = litellm()
    response = httpx.Response(
        429,
        headers=headers or {},
        request=httpx.Request("POST", "https://api.example.com/v1/chat/completions"),
    )
    return lm.RateLimitError("slow down", llm_provider="openai", model="gpt-x", response=response)


def test_retry_after_from_a_real_litellm_rate_limit_error() -> None:
    assert retry_after_seconds(rate_limit({"Retry-After": "17"})) == 17.0
    assert retry_after_seconds(rate_limit({"retry-after": "2.5"})) == 2.5
    # The millisecond header is more precise and wins.
    assert retry_after_seconds(rate_limit({"retry-after-ms": "1500", "retry-after": "2"})) == 1.5
    assert retry_after_seconds(rate_limit()) is None


def test_retry_after_as_an_http_date() -> None:
    date = email.utils.formatdate(T0 + 120, usegmt=True)
    assert retry_after_seconds(rate_limit({"Retry-After": date}), now=T0) == 120.0
    assert retry_after_seconds(rate_limit({"Retry-After": date}), now=T0 + 500) == 0.0
    live = email.utils.formatdate(None, usegmt=True)  # "now" from the real clock
    assert 0.0 <= retry_after_seconds(rate_limit({"Retry-After": live})) <= 1.0


@pytest.mark.parametrize(
    "value", ["soon", "", "-3", "nan", "inf", "Mon, 99 Foo 2026 25:61:00 GMT", "Thu, 01 Jan 1970"]
)
def test_garbage_retry_after_is_none(value: str) -> None:
    assert retry_after_seconds(rate_limit({"Retry-After": value})) is None


def test_retry_after_through_a_classified_model_error() -> None:
    original = rate_limit({"retry-after": "42"})
    try:
        raise classify(original, "openai/gpt-x") from original
    except Exception as wrapped:
        assert wrapped.reason == "rate_limit"  # type: ignore[attr-defined]
        assert retry_after_seconds(wrapped) == 42.0


def test_retry_after_attribute_and_hostile_exceptions() -> None:
    class WithAttr(Exception):
        retry_after = 9

    class Hostile(Exception):
        @property
        def response(self) -> Any:
            raise RuntimeError("no response")

        @property
        def retry_after(self) -> Any:
            raise RuntimeError("nope")

    assert retry_after_seconds(WithAttr()) == 9.0
    assert retry_after_seconds(Hostile()) is None
    assert retry_after_seconds(ValueError("plain")) is None
    loop = ValueError("loop")
    loop.__cause__ = loop
    assert retry_after_seconds(loop) is None
