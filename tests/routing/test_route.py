"""Routing: binding tiers, precedence, threads, groups, identity links, every dm_scope."""

from __future__ import annotations

from typing import Any

import pytest

from claw.errors import ConfigError, InvalidName
from claw.routing.bindings import parse_bindings
from claw.routing.route import Inbound, route
from claw.state import config_schema as schema
from claw.state.config import Config, merge

BINDINGS: list[dict[str, Any]] = [
    {"agent": "chan", "match": {"channel": "telegram"}},  # 1
    {"agent": "acct", "match": {"channel": "telegram", "account": "biz"}},  # 2
    {"agent": "guild", "match": {"channel": "discord", "guild": "g1"}},  # 3
    {"agent": "peer", "match": {"channel": "telegram", "peer": "123"}},  # 4
    {"agent": "grp", "match": {"channel": "discord", "peer": {"kind": "group", "id": "555"}}},  # 5
    {"agent": "thr", "match": {"channel": "discord", "group": "555", "thread": "t9"}},  # 6
    {"agent": "both", "match": {"channel": "telegram", "account": "biz", "peer": "777"}},  # 7
    {"agent": "chan2", "match": {"channel": "telegram"}},  # 8: never wins over #1
    {"agent": "guild2", "match": {"channel": "discord", "guild": "g1", "account": "x"}},  # 9
    {"agent": "tg", "match": {"channel": "slack", "group": "C1"}},  # 10
]
AGENTS = ["chan", "acct", "guild", "peer", "grp", "thr", "both", "chan2", "guild2", "tg"]


def make_config(
    bindings: list[dict[str, Any]] | None = None,
    agents: dict[str, dict[str, Any]] | None = None,
    links: dict[str, list[str]] | None = None,
) -> Config:
    file: dict[str, Any] = {
        "agents": agents if agents is not None else {a: {"dm_scope": "main"} for a in AGENTS},
        "bindings": BINDINGS if bindings is None else bindings,
    }
    if links is not None:
        file["session"] = {"identity_links": links}
    return Config(data=merge(schema.defaults(), file), file_data=file)


CASES = [
    # (inbound kwargs, agent, tier, binding number, session key)
    (dict(channel="telegram", peer="123"), "peer", "peer", 4, "agent:peer:main"),
    (dict(channel="telegram", peer="999"), "chan", "channel", 1, "agent:chan:main"),
    (dict(channel="telegram", peer="999", account="biz"), "acct", "account", 2, "agent:acct:main"),
    # account 'biz' + peer 777: exact peer beats the account binding listed before it
    (dict(channel="telegram", peer="777", account="biz"), "both", "peer", 7, "agent:both:main"),
    # all fields must match: #7 needs account biz, so peer 777 on default falls to channel
    (dict(channel="telegram", peer="777"), "chan", "channel", 1, "agent:chan:main"),
    (
        dict(channel="discord", peer="u1", guild="g1", group="444"),
        "guild",
        "guild",
        3,
        "agent:guild:discord:group:444",
    ),
    (dict(channel="discord", peer="u1"), "main", "default", None, "agent:main:main"),
    (dict(channel="whatsapp", peer="u1"), "main", "default", None, "agent:main:main"),
    # exact group peer beats guild
    (
        dict(channel="discord", peer="u1", guild="g1", group="555"),
        "grp",
        "peer",
        5,
        "agent:grp:discord:group:555",
    ),
    # a thread with its own binding: exact
    (
        dict(channel="discord", peer="u1", guild="g1", group="555", thread="t9"),
        "thr",
        "peer",
        6,
        "agent:thr:discord:group:555:thread:t9",
    ),
    # another thread in group 555: the parent peer's binding (#5) beats the guild (#3)
    (
        dict(channel="discord", peer="u1", guild="g1", group="555", thread="t2"),
        "grp",
        "parent_peer",
        5,
        "agent:grp:discord:group:555:thread:t2",
    ),
    # a thread in an unbound group of guild g1: guild tier
    (
        dict(channel="discord", peer="u1", guild="g1", group="666", thread="t2"),
        "guild",
        "guild",
        3,
        "agent:guild:discord:group:666:thread:t2",
    ),
    # explicit parent_peer
    (
        dict(
            channel="discord",
            peer="u1",
            peer_kind="group",
            group="t3",
            thread="t3",
            parent_peer="555",
        ),
        "grp",
        "parent_peer",
        5,
        "agent:grp:discord:group:t3:thread:t3",
    ),
    # peer_kind group without group: the peer is the group id
    (
        dict(channel="slack", peer="C1", peer_kind="group"),
        "tg",
        "peer",
        10,
        "agent:tg:slack:group:C1",
    ),
    # a direct peer binding does not match a group with the same id
    (dict(channel="telegram", peer="x", group="123"), "chan", "channel", 1, None),
    # guild + account binding: both must match
    (dict(channel="discord", peer="u", guild="g1", account="x"), "guild", "guild", 3, None),
    # a direct-message thread: its parent is the direct peer
    (dict(channel="telegram", peer="123", thread="th"), "peer", "parent_peer", 4, None),
]


@pytest.mark.parametrize(("kwargs", "agent", "tier", "number", "key"), CASES)
def test_route_table(kwargs, agent, tier, number, key) -> None:
    r = route(make_config(), Inbound(**kwargs))
    assert (r.agent, r.tier) == (agent, tier)
    assert r.binding_index == (None if number is None else number - 1)
    if key is not None:
        assert r.session_key == key
    if number is None:
        assert r.why == "no binding matched: the default agent"
    else:
        assert r.why.startswith(f"binding #{number} (")


def test_why_names_the_match() -> None:
    cfg = make_config()
    assert route(cfg, Inbound("telegram", "123")).why == "binding #4 (peer telegram:123)"
    r = route(cfg, Inbound("discord", "u", guild="g1", group="555"))
    assert r.why == "binding #5 (peer discord:group:555)"
    assert route(cfg, Inbound("discord", "u", guild="g1")).why == "binding #3 (guild discord:g1)"
    assert route(cfg, Inbound("telegram", "9")).why == "binding #1 (channel telegram)"


def test_first_match_wins_within_a_tier() -> None:
    bindings = [
        {"agent": "a", "match": {"channel": "telegram", "peer": "1"}},
        {"agent": "b", "match": {"channel": "telegram", "peer": "1"}},
    ]
    cfg = make_config(bindings, {"a": {}, "b": {}})
    assert route(cfg, Inbound("telegram", "1")).agent == "a"
    cfg = make_config(bindings[::-1], {"a": {}, "b": {}})
    assert route(cfg, Inbound("telegram", "1")).agent == "b"


def test_more_specific_tier_wins_whatever_the_order() -> None:
    bindings = [
        {"agent": "a", "match": {"channel": "telegram"}},
        {"agent": "b", "match": {"channel": "telegram", "account": "biz"}},
        {"agent": "c", "match": {"channel": "telegram", "account": "biz", "peer": "1"}},
    ]
    agents = {"a": {}, "b": {}, "c": {}}
    for order in (bindings, bindings[::-1]):
        cfg = make_config(order, agents)
        assert route(cfg, Inbound("telegram", "1", account="biz")).agent == "c"
        assert route(cfg, Inbound("telegram", "2", account="biz")).agent == "b"
        assert route(cfg, Inbound("telegram", "1")).agent == "a"


@pytest.mark.parametrize(
    ("scope", "key"),
    [
        ("main", "agent:a:main"),
        ("per-peer", "agent:a:direct:123"),
        ("per-channel-peer", "agent:a:telegram:direct:123"),
        ("per-account-channel-peer", "agent:a:telegram:biz:direct:123"),
    ],
)
def test_every_dm_scope(scope: str, key: str) -> None:
    cfg = make_config(
        [{"agent": "a", "match": {"channel": "telegram"}}], {"a": {"dm_scope": scope}}
    )
    assert route(cfg, Inbound("telegram", "123", account="biz")).session_key == key
    assert route(cfg, Inbound("telegram", "123", account="biz", thread="7")).session_key == (
        key + ":thread:7"
    )
    # groups ignore dm_scope
    r = route(cfg, Inbound("telegram", "123", group="-100"))
    assert r.session_key == "agent:a:telegram:group:-100"


def test_default_agent_uses_mains_dm_scope() -> None:
    cfg = make_config([], {"main": {"dm_scope": "per-channel-peer"}})
    assert route(cfg, Inbound("irc", "bob")).session_key == "agent:main:irc:direct:bob"


def test_identity_links_share_a_session_across_channels() -> None:
    links = {"alice": ["telegram:123", "discord:987"]}
    cfg = make_config([], {"main": {"dm_scope": "per-peer"}}, links)
    tg = route(cfg, Inbound("telegram", "123"))
    dc = route(cfg, Inbound("discord", "987"))
    assert tg.session_key == dc.session_key == "agent:main:direct:alice"
    assert route(cfg, Inbound("discord", "123")).session_key == "agent:main:direct:123"
    # per-channel-peer: one session per channel, both under the canonical name
    cfg = make_config([], {"main": {"dm_scope": "per-channel-peer"}}, links)
    assert route(cfg, Inbound("discord", "987")).session_key == "agent:main:discord:direct:alice"
    # groups are not people: links do not apply
    r = route(cfg, Inbound("telegram", "123", group="g"))
    assert r.session_key == "agent:main:telegram:group:g"


@pytest.mark.parametrize(
    ("links", "message"),
    [
        ({"alice": ["telegram"]}, 'is not "channel:peer"'),
        ({"alice": "telegram:1"}, "expected a list"),
        ({"a:b": ["telegram:1"]}, "without ':'"),
        ({"a": ["telegram:1"], "b": ["telegram:1"]}, "already linked to 'a'"),
    ],
)
def test_bad_identity_links(links, message) -> None:
    cfg = make_config([], {}, links)
    with pytest.raises(ConfigError, match=message):
        route(cfg, Inbound("telegram", "1"))


@pytest.mark.parametrize(
    ("binding", "message"),
    [
        ({"agent": "ghost", "match": {"channel": "t"}}, r"#2 \(bindings\[1\]\): unknown agent"),
        ({"agent": "a", "match": {}}, "binding #2 .*match is empty"),
        ({"agent": "a"}, "binding #2 .*match is empty"),
        ({"agent": "a", "match": {"peer": "1"}}, "match.channel is required"),
        ({"agent": "a", "match": {"channel": "t", "peers": "1"}}, "unknown match key 'peers'"),
        ({"agent": "a", "match": {"channel": "t", "peer": {"kind": "x", "id": "1"}}}, "kind must"),
        ({"agent": "a", "match": {"channel": "t", "peer": {"kind": "group"}}}, "peer.id must"),
        ({"agent": "a", "match": {"channel": "t", "peer": "1", "group": "2"}}, "not both"),
        ({"agent": "a", "match": {"channel": "t", "guild": 5}}, "guild must be"),
        ({"match": {"channel": "t"}}, "agent is missing"),
        ({"agent": "a", "match": {"channel": "t"}, "extra": 1}, "unknown key 'extra'"),
    ],
)  # fmt: skip
def test_invalid_bindings_name_the_binding(binding, message) -> None:
    good = {"agent": "a", "match": {"channel": "t"}}
    cfg = make_config([good, binding], {"a": {}})
    with pytest.raises(ConfigError, match=message):
        parse_bindings(cfg)


def test_main_always_exists_for_bindings() -> None:
    cfg = make_config([{"agent": "main", "match": {"channel": "t", "peer": "1"}}], {})
    r = route(cfg, Inbound("t", "1"))
    assert (r.agent, r.tier, r.binding_index) == ("main", "peer", 0)


def test_bad_thread_id() -> None:
    with pytest.raises(InvalidName, match="thread id"):
        route(make_config(), Inbound("telegram", "1", thread="a:b"))


@pytest.mark.parametrize("scope", ["main", "per-peer", "per-channel-peer"])
def test_a_webhook_cannot_claim_someone_elses_session(scope: str) -> None:
    """A hook's caller (a third-party service) chooses `from` freely: it must not land in
    the owner's main session, in a linked person's session, or in another hook's."""
    links = {"alice": ["telegram:123"]}
    cfg = make_config([], {"main": {"dm_scope": scope}}, links)
    alice = route(cfg, Inbound("telegram", "123")).session_key
    for peer in ("alice", "123"):
        key = route(cfg, Inbound("webhook", peer, account="alerts")).session_key
        assert key == f"agent:main:webhook:alerts:direct:{peer}" != alice
    other = route(cfg, Inbound("webhook", "alice", account="ci")).session_key
    assert other == "agent:main:webhook:ci:direct:alice"
