"""Which agent answers an inbound message, and in which session (DESIGN §3, §10).

Tiers, most specific first: exact peer > parent peer (a thread's group or chat) > guild >
account > channel > the default agent ("main"). A binding's tier is that of its most
specific key; all its keys must match; within a tier the first binding in the file wins.

Session keys: direct messages follow the agent's `dm_scope`; groups get
`agent:<agent>:<channel>:group:<id>`; a thread appends `:thread:<id>` to either. With
`[session.identity_links]` (`alice = ["telegram:123", "discord:987"]`) a direct message
from a linked peer uses the canonical name as its peer id, so per-peer scopes share one
session across channels. Inbound webhooks, whose sender is whatever the caller wrote, always
get `agent:<agent>:webhook:<hook>:direct:<from>`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from claw.errors import ConfigError, InvalidName
from claw.routing.bindings import Binding, Peer, parse_bindings
from claw.state.names import validate_session_key, validate_simple_name
from claw.state.session_keys import DEFAULT_AGENT, session_key

TIERS = ("peer", "parent_peer", "guild", "account", "channel", "default")
TIER_LABELS = {
    "peer": "exact peer",
    "parent_peer": "parent peer",
    "guild": "guild",
    "account": "account",
    "channel": "channel",
    "default": "default",
}


@dataclass(frozen=True)
class Inbound:
    """One message as routing sees it.

    `peer` is the sender. A message in a group has `group` (its id) and peer_kind "group";
    `peer_kind="group"` without `group` means `peer` is the group id itself. A message in
    a thread has `thread`; its parent is `parent_peer` when given, else the group (or the
    direct chat) it is in.
    """

    channel: str
    peer: str
    account: str = "default"
    peer_kind: str = "direct"
    guild: str | None = None
    group: str | None = None
    thread: str | None = None
    parent_peer: str | None = None

    def __post_init__(self) -> None:
        if self.peer_kind not in ("direct", "group"):
            raise InvalidName(f"peer kind must be direct or group, got {self.peer_kind!r}")
        if self.group is not None and self.peer_kind == "direct":
            object.__setattr__(self, "peer_kind", "group")
        if self.peer_kind == "group" and self.group is None:
            object.__setattr__(self, "group", self.peer)

    @property
    def conversation(self) -> Peer:
        """The chat the message is in: the group, else the direct peer."""
        return Peer("group", self.group) if self.group is not None else Peer("direct", self.peer)

    @property
    def parent(self) -> Peer:
        """For a thread: the chat it belongs to."""
        if self.parent_peer is not None:
            return Peer(self.conversation.kind, self.parent_peer)
        return self.conversation


@dataclass(frozen=True)
class Route:
    agent: str
    session_key: str
    binding_index: int | None  # from 0; None: no binding matched
    tier: str  # one of TIERS
    why: str

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["binding"] = None if self.binding_index is None else self.binding_index + 1
        return d


def binding_tier(b: Binding, msg: Inbound) -> str | None:
    """The tier at which `b` matches `msg`, or None when any of its keys does not match."""
    if b.channel != msg.channel:
        return None
    if b.account is not None and b.account != msg.account:
        return None
    if b.guild is not None and b.guild != msg.guild:
        return None
    if b.thread is not None and b.thread != msg.thread:
        return None
    if b.peer is not None:
        if msg.thread is None:
            return "peer" if b.peer == msg.conversation else None
        if b.peer != msg.parent:
            return None
        return "peer" if b.thread is not None else "parent_peer"
    if b.thread is not None:
        return "peer"
    if b.guild is not None:
        return "guild"
    if b.account is not None:
        return "account"
    return "channel"


def binding_rank_tier(b: Binding) -> str:
    """A binding's own tier, from its most specific key (as `claw bindings list` shows it;
    a peer binding matches a thread in that peer at the parent-peer tier)."""
    if b.peer is not None or b.thread is not None:
        return "peer"
    if b.guild is not None:
        return "guild"
    return "account" if b.account is not None else "channel"


def pick(bindings: list[Binding], msg: Inbound) -> tuple[Binding | None, str]:
    """The winning binding and its tier (None, "default" when none matches)."""
    best: tuple[int, Binding] | None = None
    for b in bindings:
        tier = binding_tier(b, msg)
        if tier is None:
            continue
        rank = TIERS.index(tier)
        if best is None or rank < best[0]:  # strict: the first one wins within a tier
            best = (rank, b)
    if best is None:
        return None, "default"
    return best[1], TIERS[best[0]]


def identity_links(config: Any) -> dict[str, str]:
    """{"channel:peer": canonical name} from [session.identity_links]."""
    raw = config.get("session.identity_links") or {}
    out: dict[str, str] = {}
    if not isinstance(raw, dict):
        raise ConfigError('session.identity_links: expected a table of name = ["channel:peer"]')
    for name, ids in raw.items():
        where = f"session.identity_links.{name}"
        if not isinstance(name, str) or not name or ":" in name or name != name.strip():
            raise ConfigError(f"{where}: a name without ':' or spaces is required")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise ConfigError(f'{where}: expected a list of "channel:peer" strings')
        for ident in ids:
            channel, sep, peer = ident.partition(":")
            if not sep or not channel or not peer:
                raise ConfigError(f'{where}: {ident!r} is not "channel:peer"')
            if ident in out and out[ident] != name:
                raise ConfigError(f"{where}: {ident!r} is already linked to {out[ident]!r}")
            out[ident] = name
    return out


def dm_scope(config: Any, agent: str) -> str:
    return config.get(f"agents.{agent}.dm_scope") or "main"


# Channels whose sender id is whatever the caller wrote (a hook's `from`): their direct
# messages always get a session of their own, per hook and sender, whatever the dm_scope
# and identity links say, so a hook's caller can never write into (or read through the
# agent's answers) the owner's main session, a linked person's, or another hook's.
CALLER_NAMED_PEERS = frozenset({"webhook"})


def build_session_key(config: Any, agent: str, msg: Inbound) -> str:
    if msg.group is not None:
        key = session_key(agent, channel=msg.channel, group=msg.group)
    elif msg.channel in CALLER_NAMED_PEERS:
        key = session_key(
            agent,
            "per-account-channel-peer",
            channel=msg.channel,
            peer=msg.peer,
            account=msg.account,
        )
    else:
        peer = identity_links(config).get(f"{msg.channel}:{msg.peer}", msg.peer)
        key = session_key(
            agent, dm_scope(config, agent), channel=msg.channel, peer=peer, account=msg.account
        )
    return with_thread(key, msg.thread)


def with_thread(key: str, thread: str | None) -> str:
    """`<key>:thread:<id>`: a thread is its own session, next to its parent's."""
    if thread is None:
        return key
    if not thread or ":" in thread:
        raise InvalidName(f"invalid thread id {thread!r}: ':' separates key parts")
    return validate_session_key(f"{key}:thread:{thread}")


def route(config: Any, msg: Inbound) -> Route:
    validate_simple_name(msg.channel, "channel name")
    if not msg.peer or not msg.peer.isprintable():
        raise InvalidName(f"invalid peer {msg.peer!r}: the sender's id, printable, not empty")
    winner, tier = pick(parse_bindings(config), msg)
    if winner is None:
        agent, index, why = DEFAULT_AGENT, None, "no binding matched: the default agent"
    else:
        agent, index = winner.agent, winner.index
        why = f"binding #{winner.number} ({winner.describe()})"
    return Route(agent, build_session_key(config, agent, msg), index, tier, why)
