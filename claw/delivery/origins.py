"""Scheduled sends, exactly once across crashes: origins and the `queue/origins.jsonl` log.

A scheduled sender (a cron run, a heartbeat, a task reminder) queues its message and only
then records that it ran; a crash in between made the occurrence look not-run, and the
retry sent a second message. Now every scheduled message names its occurrence, its
*origin* (`cron:<job>:<due ms>`, `heartbeat:<agent>:<run ms>`, `reminder:<task>:<due ms>`),
and the queue id is derived from it, so "already queued?" is one `exists()` check:

- pending or failed: the entry file (or its journal line) under that id;
- delivered or purged: a line in the origin log, which the deliverer appends (fsynced)
  *before* it unlinks the entry, as the inbound path marks its message done first.

A sender checks `queued()` before it runs the turn (no tokens spent on a retry) and
enqueues with `enqueue_once()`. The log keeps records for `KEEP_SECONDS` (a week, like the
inbox's duplicate window): older ones are dropped when an append finds the first line
expired, so the log stays as small as a week of scheduled messages.

Dropping a record must not make its occurrence look unsent: a cron occurrence caught up
after a long downtime, or re-run after a crash, could come back later than a week. So a
prune first folds what it drops into `origins-marks.json`, a high-water mark per source
(`cron:<job>`, `heartbeat:<agent>`, `reminder:<task>`): the latest occurrence time whose
message left the queue. An occurrence at or before its source's mark counts as sent. The
rule this relies on: a source's occurrences are sent in time order, so once an occurrence
is a week past its delivery, an older one of the same source is never worth sending
(a stale occurrence is dropped, never sent twice).
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from claw.delivery.entry import Delivery
from claw.state.atomic import atomic_write_bytes
from claw.state.faults import crash_point
from claw.state.home import Home
from claw.state.jsonl import append_locked, dumps, parse_lines
from claw.state.locks import lock_for

NAME = "origins.jsonl"
MARKS_NAME = "origins-marks.json"
KEEP_SECONDS = 7 * 86400


def origin(kind: str, name: str, at: float) -> str:
    """The origin of the occurrence of `kind` `name` at `at` (epoch seconds)."""
    return f"{kind}:{name}:{round(at * 1000)}"


def queue_id(origin_: str) -> str:
    """The queue id of an origin's message: its instant (so ids still sort by time, near
    enough) and 8 hex digits of its hash (two origins of one instant differ)."""
    ms = int(origin_.rsplit(":", 1)[1])
    return f"{ms * 1_000_000:019d}-{hashlib.sha256(origin_.encode()).hexdigest()[:8]}"


class OriginLog:
    """Origins whose message left the queue (delivered, or purged by hand), with when."""

    def __init__(self, queue_dir: Path) -> None:
        self.path = queue_dir / NAME
        self.marks_path = queue_dir / MARKS_NAME

    def record(self, origin_: str, entry_id: str, outcome: str, now: float | None = None) -> None:
        """Durable on return; call it before the entry file goes."""
        now = time.time() if now is None else now
        rec = {"origin": origin_, "id": entry_id, "outcome": outcome, "at": now}
        with lock_for(self.path):
            append_locked(self.path, dumps(rec))
            if self._first_at() < now - KEEP_SECONDS:
                self._prune_locked(now)

    def get(self, origin_: str) -> dict[str, Any] | None:
        """The record of `origin_`, if its message left the queue (only lines that
        mention it are parsed)."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        needle = json.dumps(origin_, ensure_ascii=False).encode()
        at = raw.find(needle)  # a byte search: a week of records is not split into lines
        while at >= 0:
            start, end = raw.rfind(b"\n", 0, at) + 1, raw.find(b"\n", at)
            end = len(raw) if end < 0 else end
            for rec in parse_lines([raw[start:end]]).records:
                if rec.get("origin") == origin_:
                    return rec
            at = raw.find(needle, end)
        return None

    def known_sent(self, origin_: str) -> bool:
        """Has this occurrence's message left the queue? Its record says so, or (the
        record pruned) its source's high-water mark is at or after it."""
        if self.get(origin_) is not None:
            return True
        split = _split(origin_)
        if split is None:
            return False
        mark = self.marks().get(split[0])
        return mark is not None and split[1] <= mark

    def marks(self) -> dict[str, int]:
        """Per source, the latest occurrence (ms) among the pruned records."""
        try:
            data = json.loads(self.marks_path.read_bytes())
        except FileNotFoundError:
            return {}
        except ValueError:  # written atomically, so only by hand: treat as no marks
            return {}
        if not isinstance(data, dict):
            return {}
        return {k: v for k, v in data.items() if isinstance(v, int)}

    def prune(self, now: float | None = None) -> int:
        """Drop records older than KEEP_SECONDS; returns how many are kept."""
        with lock_for(self.path):
            return self._prune_locked(time.time() if now is None else now)

    def _prune_locked(self, now: float) -> int:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return 0
        cutoff = now - KEEP_SECONDS
        keep, expired = [], []
        for rec in parse_lines(raw.split(b"\n")).records:
            (keep if _at(rec) >= cutoff else expired).append(rec)
        marks = self.marks()
        before = dict(marks)
        for rec in expired:
            split = _split(rec.get("origin"))
            if split is not None and split[1] > marks.get(split[0], -1):
                marks[split[0]] = split[1]
        if marks != before:  # durable before the records it covers go
            text = json.dumps(marks, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
            atomic_write_bytes(self.marks_path, text.encode())
        atomic_write_bytes(self.path, b"".join(dumps(r) for r in keep))
        return len(keep)

    def _first_at(self) -> float:
        """When the oldest record was written (only the first line is read)."""
        try:
            with open(self.path, "rb") as f:
                first = f.readline()
        except FileNotFoundError:
            return float("inf")
        records = parse_lines([first]).records
        return _at(records[0]) if records else float("-inf")  # unreadable: prune it


def _split(origin_: Any) -> tuple[str, int] | None:
    """`cron:nightly:1790000000000` → ("cron:nightly", 1790000000000); None if malformed."""
    if not isinstance(origin_, str) or origin_.count(":") < 2:
        return None
    source, _, ms = origin_.rpartition(":")
    try:
        return source, int(ms)
    except ValueError:
        return None


def _at(rec: dict[str, Any]) -> float:
    at = rec.get("at")
    return float(at) if isinstance(at, int | float) else float("-inf")


def queued(home: Home, origin_: str) -> str | None:
    """The queue id if this occurrence's message was queued already (pending, failed,
    delivered or purged), else None: the sender may run and queue it."""
    from claw.delivery.queue import QueueStore

    store = QueueStore(home)
    entry_id = queue_id(origin_)
    # The log last: a deliverer records it before the file goes, so in this order a
    # message being delivered right now is seen in one place or the other. (Pending once
    # more after failed/: `claw queue retry` moves a file the other way.)
    failed = store.path(entry_id, failed=True)
    if store.exists(entry_id) or failed.exists() or store.exists(entry_id):
        return entry_id
    return entry_id if OriginLog(store.dir).known_sent(origin_) else None


def enqueue_once(
    home: Home, config: Any, target: str, text: str, *, origin_: str, **meta: str | None
) -> Delivery:
    """`enqueue_reply` under the origin's queue id (call `queued` first)."""
    from claw.delivery.service import enqueue_reply

    entry = enqueue_reply(
        home, config, target, text, entry_id=queue_id(origin_), origin=origin_, **meta
    )
    crash_point("enqueued:" + origin_.split(":", 1)[0])  # tests: die before the run is noted
    return entry


__all__ = ["KEEP_SECONDS", "NAME", "OriginLog", "enqueue_once", "origin", "queue_id", "queued"]
