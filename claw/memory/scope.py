"""Whose memories a conversation may recall, and whether it may write any.

An agent's memory is its owner's: the notes hold what the owner (or the agent, for them)
saved, and the transcripts hold every conversation the agent had, with every person and
group it talks to. The session key says who is on the other side (DESIGN §3), so:

- owner    the agent's own sessions (`agent:<id>:main`, cron, subagents of these, ...):
           everything the agent remembers.
- peer     a direct conversation with one person (`...:direct:<peer>`): the notes and
           this conversation, never another person's conversation nor the owner's.
- stranger a group (`...:group:<id>`), or a caller that names itself (a webhook's
           `from`): only this conversation, and no memory_save, so nobody there can read
           the owner's notes or plant a "memory" the owner's sessions later recall.

A subagent has the scope of the session that started it. Unknown means stranger: a
mistake here must cost a recall, never leak one.
"""

from __future__ import annotations

from dataclasses import dataclass

from claw.state.home import Home
from claw.state.names import encode_component

OWNER, PEER, STRANGER = "owner", "peer", "stranger"
_MAX_PARENTS = 8  # subagents do not spawn; a longer chain is a loop in broken records


@dataclass(frozen=True)
class Scope:
    kind: str
    own: frozenset[str]  # the transcripts (relative paths) of this conversation

    def allows(self, kind: str, source: str) -> bool:
        """May a chunk of this kind from this source be recalled here?"""
        if self.kind == OWNER or source in self.own:
            return True
        return self.kind == PEER and kind != "session"

    @property
    def may_save(self) -> bool:
        return self.kind != STRANGER


def transcript_rel(key: str) -> str:
    return f"sessions/transcripts/{encode_component(key)}.jsonl"


def scope_of(home: Home, key: str) -> Scope:
    """The scope of session `key` (see the module's docstring)."""
    from claw.supervisor.registry import id_of_key, load

    keys = [key]
    while (sub := id_of_key(keys[-1])) is not None:
        rec = load(home, sub)
        if rec is None or len(keys) > _MAX_PARENTS:
            return Scope(STRANGER, frozenset(map(transcript_rel, keys)))
        keys.append(rec.parent)
    return Scope(_kind(keys[-1]), frozenset(map(transcript_rel, keys)))


def _kind(key: str) -> str:
    """From the key's shape: `agent:<id>:[<channel>:[<account>:]]direct:<peer>` or
    `agent:<id>:<channel>:group:<id>` (either maybe `:thread:<id>` after)."""
    from claw.routing.route import CALLER_NAMED_PEERS

    parts = key.split(":")
    rest = parts[2:] if parts[0] == "agent" else []
    marker = next((i for i, p in enumerate(rest) if p in ("direct", "group")), None)
    if marker is None:
        return OWNER
    if rest[marker] == "group" or CALLER_NAMED_PEERS & set(rest[:marker]):
        return STRANGER
    return PEER
