"""Session key formats for every dm_scope, cron keys, and which agent a key belongs to."""

from __future__ import annotations

import pytest

from claw.errors import InvalidName
from claw.state.config_schema import SCHEMA
from claw.state.session_keys import DM_SCOPES, agent_of, cron_key, main_key, session_key


def test_every_dm_scope_format() -> None:
    kw = {"channel": "telegram", "peer": "12345", "account": "bot1"}
    assert session_key("main", "main", **kw) == "agent:main:main"
    assert session_key("work", "main") == "agent:work:main"
    assert session_key("work", "per-peer", **kw) == "agent:work:direct:12345"
    assert session_key("work", "per-channel-peer", **kw) == "agent:work:telegram:direct:12345"
    assert (
        session_key("work", "per-account-channel-peer", **kw)
        == "agent:work:telegram:bot1:direct:12345"
    )
    # A group message is its own session whatever the dm_scope.
    for scope in DM_SCOPES:
        assert (
            session_key("work", scope, channel="discord", group="g-42", peer="p")
            == "agent:work:discord:group:g-42"
        )


def test_dm_scopes_match_the_config_schema() -> None:
    assert set(DM_SCOPES) == set(SCHEMA["agents"]["*"]["dm_scope"].choices)


def test_default_agent_and_scope() -> None:
    assert main_key() == "agent:main:main"
    assert session_key("main") == "agent:main:main"


def test_peer_ids_may_hold_odd_but_printable_text() -> None:
    assert session_key("main", "per-peer", peer="alice@example.com") == (
        "agent:main:direct:alice@example.com"
    )
    assert session_key("main", "per-peer", peer="a/../b") == "agent:main:direct:a/../b"
    assert session_key("main", "per-peer", peer="用户") == "agent:main:direct:用户"


@pytest.mark.parametrize(
    ("scope", "kw"),
    [
        ("per-peer", {}),
        ("per-peer", {"peer": ""}),
        ("per-channel-peer", {"peer": "p"}),
        ("per-channel-peer", {"channel": "tg"}),
        ("per-channel-peer", {"channel": "", "peer": "p"}),
        ("per-account-channel-peer", {"channel": "tg", "peer": "p"}),
        ("per-account-channel-peer", {"channel": "tg", "account": "a"}),
        ("per-account-channel-peer", {"account": "a", "peer": "p"}),
        ("main", {"group": "g"}),  # a group needs a channel
        ("main", {"group": "", "channel": "tg"}),
    ],
)
def test_missing_parts_are_refused(scope: str, kw: dict) -> None:
    with pytest.raises(InvalidName):
        session_key("main", scope, **kw)


@pytest.mark.parametrize(
    ("agent", "scope", "kw"),
    [
        ("Main", "main", {}),
        ("../x", "main", {}),
        ("", "main", {}),
        ("main", "per-person", {"peer": "p"}),  # unknown scope
        ("main", "", {}),
        ("main", "per-peer", {"peer": "a:b"}),  # ':' would forge another key
        ("main", "per-peer", {"peer": "a b"}),
        ("main", "per-peer", {"peer": "a\x00"}),
        ("main", "per-peer", {"peer": "x" * 300}),
        ("main", "per-channel-peer", {"channel": "../tg", "peer": "p"}),
        ("main", "per-channel-peer", {"channel": "t:g", "peer": "p"}),
        ("main", "per-account-channel-peer", {"channel": "tg", "account": "a:b", "peer": "p"}),
        ("main", "main", {"channel": "t/g", "group": "g"}),
        ("main", "main", {"channel": "tg", "group": "g:h"}),
    ],
)
def test_invalid_parts_are_refused(agent: str, scope: str, kw: dict) -> None:
    with pytest.raises(InvalidName):
        session_key(agent, scope, **kw)


def test_unknown_scope_error_lists_the_valid_ones() -> None:
    with pytest.raises(InvalidName, match="per-account-channel-peer"):
        session_key("main", "per-person", peer="p")


def test_cron_key() -> None:
    assert cron_key("daily-digest") == "cron:daily-digest"
    assert cron_key("a.b_c") == "cron:a.b_c"
    for bad in ("", "../x", ".x", "a/b", "a:b", "a b"):
        with pytest.raises(InvalidName):
            cron_key(bad)


@pytest.mark.parametrize(
    ("key", "agent"),
    [
        ("agent:main:main", "main"),
        ("agent:work:main", "work"),
        ("agent:work:telegram:bot1:direct:12345", "work"),
        ("agent:work:discord:group:g", "work"),
        ("cron:daily", "main"),
        ("agent:work", "main"),  # too short to name an agent
        ("anything", "main"),
    ],
)
def test_agent_of(key: str, agent: str) -> None:
    assert agent_of(key) == agent


def test_agent_of_round_trips_every_generated_key() -> None:
    kw = {"channel": "tg", "peer": "p", "account": "a"}
    for scope in DM_SCOPES:
        assert agent_of(session_key("ops-2", scope, **kw)) == "ops-2"
    assert agent_of(session_key("ops-2", channel="tg", group="g")) == "ops-2"


@pytest.mark.parametrize("key", ["", "agent:Bad:main", "agent:../x:main", "agent::main", "a b"])
def test_agent_of_refuses_invalid_keys(key: str) -> None:
    with pytest.raises(InvalidName):
        agent_of(key)
