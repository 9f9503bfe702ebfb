"""One outbound delivery as it is stored in `queue/` (one JSON file per entry).

Messages to one destination are delivered in the order they were queued: by `seq`, the
instant (nanoseconds, never repeated in a process) the entry was written ahead. Ids sort
by creation time too, but not always by enqueue time: a scheduled send's id is derived
from its occurrence (claw.delivery.origins), which for a catch-up cron run or an overdue
reminder lies hours in the past, and ordering by id let it overtake newer messages.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from dataclasses import dataclass, field, fields
from typing import Any

from claw.errors import InvalidName, UsageError
from claw.state.names import validate_simple_name

ID_RE = re.compile(r"[0-9]{19}-[0-9a-f]{8}")
MAX_PEER_LEN = 256
STATES = ("pending", "sending", "failed")
_decode = json.JSONDecoder().decode


def new_id(now_ns: int | None = None) -> str:
    return f"{now_ns or time.time_ns():019d}-{os.urandom(4).hex()}"


_seq_lock = threading.Lock()
_last_seq = 0


def next_seq() -> int:
    """An enqueue stamp: wall-clock nanoseconds (comparable across processes), strictly
    increasing within this one even if the clock stalls or steps back."""
    global _last_seq
    with _seq_lock:
        _last_seq = max(time.time_ns(), _last_seq + 1)
        return _last_seq


def validate_id(entry_id: str) -> str:
    if not isinstance(entry_id, str) or not ID_RE.fullmatch(entry_id):
        raise InvalidName(
            f"invalid queue id {entry_id!r} (ids look like 1763712000000000000-1a2b3c4d)"
        )
    return entry_id


def validate_peer(peer: str) -> str:
    """A destination as a channel names it (a chat id, a target name): printable, no
    whitespace; it never becomes a path."""
    if not isinstance(peer, str) or not peer or len(peer) > MAX_PEER_LEN:
        raise InvalidName(f"invalid peer {peer!r}: 1-{MAX_PEER_LEN} characters")
    if any(not c.isprintable() or c.isspace() for c in peer):
        raise InvalidName(f"invalid peer {peer!r}: no spaces or control characters")
    return peer


@dataclass
class Delivery:
    """A message (one or more ordered parts) on its way to (channel, account, to)."""

    id: str
    channel: str
    to: str
    parts: list[str]
    account: str = "default"
    idempotency_key: str = ""  # sent with every part (suffixed :<n>); default: the id
    agent: str | None = None
    session_key: str | None = None
    reply_to: str | None = None  # the channel's id of the message this answers
    thread: str | None = None  # topic / thread id, when the channel has them
    inbound_id: str | None = None  # the journaled message this replies to (marked done first)
    origin: str | None = None  # the scheduled occurrence it comes from (claw.delivery.origins)
    created_at: float = field(default_factory=time.time)
    attempts: int = 0
    next_attempt_at: float = 0.0  # epoch seconds; 0: due now
    last_error: str | None = None
    state: str = "pending"  # pending | sending | failed
    parts_sent: int = 0  # parts already acknowledged by the channel (resume point)
    failed_reason: str | None = None  # permanent | exhausted | corrupt (state failed)
    failed_at: float | None = None
    seq: int = 0  # enqueue order (next_seq); 0 in entries queued before it existed

    @property
    def order(self) -> tuple[int, str]:
        """The delivery order within a destination: enqueue time, then id. An entry
        without `seq` (an older claw wrote it) counts as queued when its id was made."""
        return (self.seq or int(self.id[:19]), self.id)

    @property
    def destination(self) -> tuple[str, str, str]:
        """Messages to one destination are delivered in queue order."""
        return (self.channel, self.account, self.to)

    def part_key(self, n: int) -> str:
        return f"{self.idempotency_key or self.id}:{n}"

    def to_json(self) -> bytes:
        # Every field is a plain value (parts a list of str): no deep copy (asdict's) needed.
        data = {name: getattr(self, name) for name in _FIELD_ORDER}
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: bytes | str, *, checked_id: bool = False) -> Delivery:
        """Parse a stored entry; `checked_id` skips re-checking an id already matched (the
        file name). Recovery parses 100,000 of these: keep it lean."""
        # The decoder directly: json.loads would sniff the bytes' encoding first (UTF-8).
        data = _decode(raw.decode() if isinstance(raw, bytes) else raw)
        if type(data) is not dict:
            raise ValueError("a queue entry is a JSON object")
        if not data.keys() <= _FIELDS:  # written by a newer claw: keep what we know
            data = {k: v for k, v in data.items() if k in _FIELDS}
        entry = cls(**data)
        if not checked_id:
            validate_id(entry.id)
        parts = entry.parts
        if type(parts) is not list or not all(type(p) is str for p in parts):
            raise ValueError("parts must be a list of strings")
        if entry.state not in STATES:
            raise ValueError(f"unknown state {entry.state!r}")
        return entry

    def summary(self) -> dict[str, Any]:
        """What `claw queue list --json` shows of an entry (the text shortened)."""
        text = "\n".join(self.parts)
        return {
            "id": self.id,
            "state": self.state,
            "channel": self.channel,
            "account": self.account,
            "to": self.to,
            "parts": len(self.parts),
            "preview": text if len(text) <= 60 else text[:59] + "…",
            "attempts": self.attempts,
            "next_attempt_at": self.next_attempt_at,
            "last_error": self.last_error,
            "created_at": self.created_at,
            "failed_reason": self.failed_reason,
        }


_FIELD_ORDER = tuple(f.name for f in fields(Delivery))  # id first: it names the line
_FIELDS = frozenset(_FIELD_ORDER)


def make(
    channel: str,
    to: str,
    parts: list[str],
    *,
    account: str = "default",
    idempotency_key: str = "",
    agent: str | None = None,
    session_key: str | None = None,
    reply_to: str | None = None,
    thread: str | None = None,
    inbound_id: str | None = None,
    origin: str | None = None,
    entry_id: str | None = None,
) -> Delivery:
    """A new pending entry, validated: names never reach a path unchecked, and an empty
    message is refused (claw never sends an empty message)."""
    validate_simple_name(channel, "channel name")
    validate_simple_name(account, "account name")
    validate_peer(to)
    parts = [p for p in parts if p.strip()]
    if not parts:
        raise UsageError("nothing to deliver: the message is empty")
    return Delivery(
        id=validate_id(entry_id) if entry_id else new_id(),
        channel=channel,
        to=to,
        parts=parts,
        account=account,
        idempotency_key=idempotency_key,
        agent=agent,
        session_key=session_key,
        reply_to=reply_to,
        thread=thread,
        inbound_id=inbound_id,
        origin=origin,
    )
