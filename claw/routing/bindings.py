"""`[[bindings]]` in config.toml: which agent answers which channel, account, peer or group.

    [[bindings]]
    agent = "work"
    match = { channel = "discord", guild = "123", peer = { kind = "group", id = "555" } }

`match` keys: channel (required), account, peer ("id" for a direct peer, or
{ kind = "direct" | "group", id }), group (shorthand for a group peer), guild, thread.
Every key given must match the message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from claw.errors import ConfigError

PEER_KINDS = ("direct", "group")
MATCH_KEYS = ("channel", "account", "peer", "group", "guild", "thread")


@dataclass(frozen=True)
class Peer:
    kind: str  # direct | group
    id: str

    def __str__(self) -> str:
        return self.id if self.kind == "direct" else f"group:{self.id}"


@dataclass(frozen=True)
class Binding:
    index: int  # position in the [[bindings]] list, from 0
    agent: str
    channel: str
    account: str | None = None
    peer: Peer | None = None  # `group = "x"` is stored as Peer("group", "x")
    guild: str | None = None
    thread: str | None = None

    @property
    def number(self) -> int:
        """1-based, as shown to people: "binding #2"."""
        return self.index + 1

    def describe(self) -> str:
        """The match in one phrase, e.g. "peer telegram:123" or "guild discord:9"."""
        parts = []
        if self.peer is not None:
            parts.append(f"peer {self.channel}:{self.peer}")
        if self.thread is not None:
            parts.append(f"thread {self.thread}")
        if self.guild is not None:
            parts.append(f"guild {self.channel}:{self.guild}")
        if self.account is not None:
            parts.append(f"account {self.channel}:{self.account}")
        return ", ".join(parts) or f"channel {self.channel}"

    def match_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"channel": self.channel}
        if self.account is not None:
            out["account"] = self.account
        if self.peer is not None:
            out["peer"] = {"kind": self.peer.kind, "id": self.peer.id}
        for name in ("guild", "thread"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "agent": self.agent,
            "match": self.match_dict(),
            "describe": self.describe(),
        }


def raw_bindings(config: Any) -> list[Any]:
    value = config.get("bindings") or []
    if not isinstance(value, list):
        raise ConfigError("bindings: expected a list of tables ([[bindings]])")
    return value


def parse_bindings(config: Any) -> list[Binding]:
    """Every binding in file order; a bad one is a ConfigError naming it."""
    agents = set(config.agent_ids())
    return [_parse(i, raw, agents) for i, raw in enumerate(raw_bindings(config))]


def bindings_for(config: Any, agent: str) -> list[int]:
    """Indexes of the bindings that name `agent` (read leniently: for counts and checks)."""
    return [
        i
        for i, raw in enumerate(raw_bindings(config))
        if isinstance(raw, dict) and raw.get("agent") == agent
    ]


def _parse(index: int, raw: Any, agents: set[str]) -> Binding:
    where = f"binding #{index + 1} (bindings[{index}])"

    def fail(message: str) -> ConfigError:
        return ConfigError(f"{where}: {message}")

    if not isinstance(raw, dict):
        raise fail("expected a table with agent and match")
    unknown = sorted(set(raw) - {"agent", "match"})
    if unknown:
        raise fail(f"unknown key {unknown[0]!r} (a binding has agent and match)")
    agent = raw.get("agent")
    if not isinstance(agent, str) or not agent:
        raise fail("agent is missing")
    if agent not in agents:
        raise fail(
            f"unknown agent {agent!r} (agents: {', '.join(sorted(agents))})",
        )
    match = raw.get("match")
    if match is None or match == {}:
        raise fail("match is empty: give at least a channel")
    if not isinstance(match, dict):
        raise fail('match must be a table, e.g. { channel = "telegram", peer = "123" }')
    unknown = sorted(set(match) - set(MATCH_KEYS))
    if unknown:
        raise fail(f"unknown match key {unknown[0]!r} (known: {', '.join(MATCH_KEYS)})")
    fields: dict[str, str | None] = {}
    for name in ("channel", "account", "group", "guild", "thread"):
        value = match.get(name)
        if value is not None and (not isinstance(value, str) or not value):
            raise fail(f"match.{name} must be a non-empty string")
        fields[name] = value
    if fields["channel"] is None:
        raise fail("match.channel is required")
    peer = _peer(match.get("peer"), fail)
    if fields["group"] is not None:
        if peer is not None:
            raise fail("give match.peer or match.group, not both")
        peer = Peer("group", fields["group"])
    return Binding(
        index=index,
        agent=agent,
        channel=fields["channel"],
        account=fields["account"],
        peer=peer,
        guild=fields["guild"],
        thread=fields["thread"],
    )


def _peer(value: Any, fail: Any) -> Peer | None:
    if value is None:
        return None
    if isinstance(value, str) and value:
        return Peer("direct", value)
    if isinstance(value, dict):
        extra = sorted(set(value) - {"kind", "id"})
        if extra:
            raise fail(f"unknown match.peer key {extra[0]!r} (a peer has kind and id)")
        kind, id_ = value.get("kind", "direct"), value.get("id")
        if kind not in PEER_KINDS:
            raise fail(f"match.peer.kind must be one of {', '.join(PEER_KINDS)}, got {kind!r}")
        if not isinstance(id_, str) or not id_:
            raise fail("match.peer.id must be a non-empty string")
        return Peer(kind, id_)
    raise fail('match.peer must be a peer id, or { kind = "direct" | "group", id = "…" }')
