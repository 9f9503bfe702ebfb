"""The durable inbound journal: `inbox/journal.jsonl` (issue #5 item 7).

A channel adapter calls `Inbox.record(msg)` before it acknowledges a message upstream, so
a crash after the acknowledgement cannot lose it; processing calls `done(id)` afterwards.
On restart `pending()` lists what was received but never finished. Channels re-deliver
(webhook retries, long-poll offsets not yet committed), so `record` recognises a channel
message id it has already seen and says "duplicate": the adapter acknowledges it again but
nothing processes it twice.

Records (one JSON line each, appended under the journal's lock and fsynced):
  {"type": "received", "id", "key", ...message fields}
  {"type": "reply", "id", "key", "queue_id"}      the reply's queue id, chosen before it is queued
  {"type": "done", "id", "key", "outcome", "at"}
  {"type": "compacted", "id", "at"}            first line of a compacted journal
The key is "<channel>/<account>/<channel_message_id>"; channel and account cannot hold '/',
so two messages never share a key. Nothing from a message ever becomes a path.

Exactly-once processing needs the handler's effect and `done` to be atomic together (or
the handler to be idempotent): a crash between the two re-runs that one handler. Replies
are made idempotent that way: `reserve_reply` durably names the reply's queue id before it
is queued, and the delivery of a reply marks its message done before the queue entry goes.
So a re-run that finds its reserved id neither queued nor done knows it was never queued
(not that it was already delivered), and queues it exactly once.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from claw.delivery.entry import new_id
from claw.errors import InvalidName, NotFound
from claw.state.atomic import atomic_write_bytes
from claw.state.home import Home, make_private_dir
from claw.state.jsonl import append_locked, dumps, parse_lines
from claw.state.locks import lock_for
from claw.state.names import validate_simple_name

log = logging.getLogger("claw.delivery.inbox")

MAX_ID_LEN = 256
KEEP_DONE_SECONDS = 7 * 86400  # duplicates re-delivered within a week are still recognised
_PREFIX_BYTES = 64  # enough to cover the unique id of the first record (file identity)


def _validate_text_id(value: object, what: str) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_ID_LEN:
        raise InvalidName(f"invalid {what} {value!r}: 1-{MAX_ID_LEN} characters")
    if not value.isprintable():
        raise InvalidName(f"invalid {what} {value!r}: no control characters")
    return value


@dataclass(kw_only=True)
class InboundMessage:
    """One message as a channel delivered it; `id` is assigned by the journal."""

    channel: str
    account: str = "default"
    channel_message_id: str
    peer: str  # the sender's id on the channel
    text: str
    received_at: float = field(default_factory=time.time)
    peer_kind: str = "direct"  # direct | group
    guild: str | None = None  # a server/guild the group belongs to (Discord)
    group: str | None = None
    thread: str | None = None
    sender_name: str | None = None
    reply_to: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    id: str = ""

    @property
    def chat(self) -> str:
        """Where a reply goes: the channel's own chat id when the adapter gives one in
        `meta["chat"]` (a Discord DM channel), else the group, else the sender."""
        chat = self.meta.get("chat")
        return chat if isinstance(chat, str) and chat else (self.group or self.peer)

    @property
    def key(self) -> str:
        return f"{self.channel}/{self.account}/{self.channel_message_id}"

    def validate(self) -> InboundMessage:
        validate_simple_name(self.channel, "channel")
        validate_simple_name(self.account, "account")
        _validate_text_id(self.channel_message_id, "channel message id")
        _validate_text_id(self.peer, "peer")
        if self.peer_kind not in ("direct", "group"):
            raise InvalidName(f"invalid peer kind {self.peer_kind!r}: direct or group")
        if not isinstance(self.text, str) or not isinstance(self.meta, dict):
            raise InvalidName("invalid message: text must be a string and meta a dict")
        return self

    def to_record(self) -> dict[str, Any]:
        rec = asdict(self)  # the unique id early in the line: it identifies the file
        return {"type": "received", "id": rec.pop("id"), "key": self.key, **rec}

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> InboundMessage:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in rec.items() if k in names}).validate()


@dataclass
class _Entry:
    id: str
    key: str
    done_at: float | None = None  # None: still pending
    queue_id: str | None = None  # the reply's queue entry, once reserved


class Inbox:
    """The journal plus an in-memory view of it, refreshed incrementally under its lock.

    The view remembers how far it has read (byte offset) and which file it read (inode and
    first bytes), so each call reads only what other writers appended since; a compaction
    by anyone replaces the file, which the next call notices and re-reads from scratch.
    """

    def __init__(self, home: Home) -> None:
        self.dir = home.root / "inbox"
        make_private_dir(self.dir)
        self.path = self.dir / "journal.jsonl"
        self._mutex = threading.Lock()  # the cache; flock alone does not exclude threads
        self._reset()

    def _reset(self) -> None:
        self._ident: tuple[int, int, bytes] | None = None
        self._offset = 0
        self._by_key: dict[str, _Entry] = {}
        self._by_id: dict[str, _Entry] = {}
        self._pending: dict[str, InboundMessage] = {}  # journal order

    # -- reading -----------------------------------------------------------------------
    def _refresh(self) -> None:
        """Apply what was appended since the last call; the caller holds both locks."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            self._reset()
            return
        try:
            st = os.fstat(fd)
            prefix = os.pread(fd, _PREFIX_BYTES, 0)
            old = self._ident
            if old is not None and (
                (st.st_dev, st.st_ino) != old[:2]
                or st.st_size < self._offset
                or prefix[: len(old[2])] != old[2]
            ):
                self._reset()  # replaced (compacted) since we last looked: start over
            chunks, pos = [], self._offset
            while pos < st.st_size:
                got = os.pread(fd, st.st_size - pos, pos)
                if not got:
                    break
                chunks.append(got)
                pos += len(got)
        finally:
            os.close(fd)
        data = b"".join(chunks)
        # Under the lock no write is in flight: bytes after the last newline are a torn
        # record from a crashed writer. Consume them; the next append starts a new line.
        result = parse_lines(data.split(b"\n"))
        if result.bad_lines:
            log.warning("%s: skipped %d unreadable line(s)", self.path, len(result.bad_lines))
        for rec in result.records:
            self._apply(rec)
        self._offset += len(data)
        self._ident = (st.st_dev, st.st_ino, prefix[: min(_PREFIX_BYTES, self._offset)])

    def _apply(self, rec: dict[str, Any]) -> None:
        kind, entry_id, key = rec.get("type"), rec.get("id"), rec.get("key")
        if not isinstance(entry_id, str) or not isinstance(key, str):
            return
        if kind == "received":
            if key in self._by_key:
                return  # the first receipt of a key wins
            try:
                msg = InboundMessage.from_record(rec)
            except (TypeError, InvalidName) as e:
                log.warning("%s: skipped a malformed record %s: %s", self.path, entry_id, e)
                return
            entry = self._by_key[key] = self._by_id[entry_id] = _Entry(entry_id, key)
            self._pending[entry_id] = msg
        elif kind == "reply":
            entry = self._by_id.get(entry_id)
            queue_id = rec.get("queue_id")
            if entry is not None and entry.queue_id is None and isinstance(queue_id, str):
                entry.queue_id = queue_id
        elif kind == "done":
            at = rec.get("at")
            at = float(at) if isinstance(at, int | float) else time.time()
            entry = self._by_id.get(entry_id) or self._by_key.get(key)
            if entry is None:  # a compacted journal keeps only the done record
                entry = self._by_key[key] = self._by_id[entry_id] = _Entry(entry_id, key)
            if entry.done_at is None:
                entry.done_at = at
                self._pending.pop(entry.id, None)

    def pending(self) -> list[InboundMessage]:
        """Received but not done, in journal order: what a restart must process."""
        with self._mutex, lock_for(self.path):
            self._refresh()
            return list(self._pending.values())

    def is_done(self, entry_id: str) -> bool:
        with self._mutex, lock_for(self.path):
            self._refresh()
            entry = self._by_id.get(entry_id)
            return entry is not None and entry.done_at is not None

    # -- writing -----------------------------------------------------------------------
    def record(self, msg: InboundMessage) -> tuple[str, bool]:
        """Durably journal `msg`; returns (id, True), or (existing id, False) for a duplicate.

        Call it before acknowledging upstream. A duplicate is acknowledged but not
        processed again. Sets `msg.id` either way.
        """
        msg.validate()
        with self._mutex, lock_for(self.path):
            self._refresh()
            existing = self._by_key.get(msg.key)
            if existing is not None:
                msg.id = existing.id
                return existing.id, False
            entry_id = new_id()
            data = dumps(msg.to_record() | {"id": entry_id})  # a meta that is not JSON fails
            append_locked(self.path, data)
            self._refresh()  # reads back just our record (and any torn tail before it)
            msg.id = entry_id
            return entry_id, True

    def done(self, entry_id: str, outcome: str = "ok") -> None:
        """Mark an entry processed (durable on return); doing it twice is harmless."""
        with self._mutex, lock_for(self.path):
            self._refresh()
            entry = self._by_id.get(entry_id)
            if entry is None:
                raise NotFound(f"no inbound message {entry_id!r} in {self.path}")
            if entry.done_at is not None:
                return
            rec = {"type": "done", "id": entry.id, "key": entry.key}
            rec |= {"outcome": str(outcome), "at": time.time()}
            append_locked(self.path, dumps(rec))
            self._refresh()

    def reserve_reply(self, entry_id: str) -> str:
        """The queue id the reply to this message gets: chosen and journaled (durably)
        on the first call, the same one on every later call, even after a restart."""
        with self._mutex, lock_for(self.path):
            self._refresh()
            entry = self._by_id.get(entry_id)
            if entry is None:
                raise NotFound(f"no inbound message {entry_id!r} in {self.path}")
            if entry.queue_id is None:
                rec = {"type": "reply", "id": entry.id, "key": entry.key, "queue_id": new_id()}
                append_locked(self.path, dumps(rec))
                self._refresh()
            assert entry.queue_id is not None
            return entry.queue_id

    def compact(self, *, keep_seconds: float = KEEP_DONE_SECONDS, now: float | None = None) -> int:
        """Rewrite the journal with the pending entries and recently done keys only.

        Atomic (readers see the old journal or the new one). Returns the records kept.
        """
        cutoff = (time.time() if now is None else now) - keep_seconds
        with self._mutex, lock_for(self.path):
            self._refresh()
            header = {"type": "compacted", "id": new_id(), "at": time.time()}
            out = [dumps(header)]
            for entry in self._by_key.values():
                if entry.done_at is None:
                    out.append(dumps(self._pending[entry.id].to_record()))
                    if entry.queue_id is not None:
                        rec = {"type": "reply", "id": entry.id, "key": entry.key}
                        out.append(dumps(rec | {"queue_id": entry.queue_id}))
                elif entry.done_at >= cutoff:
                    rec = {"type": "done", "id": entry.id, "key": entry.key}
                    out.append(dumps(rec | {"outcome": "compacted", "at": entry.done_at}))
            atomic_write_bytes(self.path, b"".join(out))
            self._reset()
            self._refresh()
            return len(out) - 1


def process_pending(
    inbox: Inbox, handler: Callable[[InboundMessage], str | None], *, outcome: str = "ok"
) -> int:
    """Run `handler` on each pending message, in order, marking each done after it returns.

    A handler returning a string records it as the outcome. If the handler raises, the
    message stays pending (a restart retries it) and the exception propagates. One
    processor at a time is the caller's job (the daemon, or a lock it holds).
    Returns how many messages were processed.
    """
    count = 0
    for msg in inbox.pending():
        try:
            result = handler(msg)
        except Exception:
            log.exception("inbound message %s (%s) failed; it stays pending", msg.id, msg.key)
            raise
        inbox.done(msg.id, result if isinstance(result, str) else outcome)
        count += 1
    return count


__all__ = ["KEEP_DONE_SECONDS", "InboundMessage", "Inbox", "process_pending"]
