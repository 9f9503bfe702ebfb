"""Idempotent `chat.send`: a retried request gets the stored result, not a second turn.

A client that loses its connection mid-turn cannot know whether the turn ran; it retries with
the same `idempotency_key`. Without this store the retry would produce a second reply and a
second transcript entry. The store is a SQLite file (WAL) under `<home>/gateway/`, so it
survives a daemon restart and is shared safely by every process using the state directory.

Protocol, per key (`begin` is one write transaction, so two processes cannot both win):
- no live entry → insert 'running', Claim 'new': run the turn, then `finish` or `abandon`;
- 'done' within the window with the same scope → Claim 'replay' with the stored result;
- 'running' with the same scope → Claim 'in_progress' (answer busy -32003, or poll again);
- live entry with another scope (the key was reused for another request: the gateway's scope
  is the session and the text) → Claim 'conflict', reported as invalid params (-32602).

A 'running' entry not updated for `stale_after_s` is treated as abandoned (its daemon
crashed); a turn that may legitimately run longer calls `keepalive` now and then.
Expired entries are ignored at once and deleted lazily, in bounded batches.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from claw.errors import UsageError
from claw.state.home import FILE_MODE, Home, make_private_dir
from claw.state.locks import lock_for

SCHEMA_VERSION = 1
WINDOW_S = 24 * 3600.0
STALE_AFTER_S = 15 * 60.0
PURGE_EVERY_S = 10 * 60.0
PURGE_BATCH = 500
MAX_KEY_LEN = 200

_DDL = (
    """CREATE TABLE idempotency (
        key TEXT PRIMARY KEY,
        scope TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('running', 'done')),
        result TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    )""",
    "CREATE INDEX idempotency_updated ON idempotency(updated_at)",
)

ClaimKind = Literal["new", "replay", "in_progress", "conflict"]


@dataclass(frozen=True)
class Claim:
    """What `begin` decided. `result` is set for 'replay'; `scope` is the stored scope for
    'conflict' (so the error can say which session the key belongs to)."""

    kind: ClaimKind
    key: str
    result: dict[str, Any] | None = None
    scope: str | None = None


def validate_key(key: object) -> str:
    """An idempotency key is 1..200 printable characters (no control characters)."""
    if not isinstance(key, str) or not key:
        raise UsageError("invalid idempotency_key: it must be a non-empty string")
    if len(key) > MAX_KEY_LEN:
        raise UsageError(f"invalid idempotency_key: longer than {MAX_KEY_LEN} characters")
    if not key.isprintable():
        raise UsageError("invalid idempotency_key: it contains non-printable characters")
    return key


def store_path(home: Home) -> Path:
    return home.root / "gateway" / "idempotency.sqlite"


class IdempotencyStore:
    """The idempotency table of one state directory; one instance per process.

    Methods block briefly on SQLite (call them via `trio.to_thread.run_sync`). A lock
    serialises them because the connection is shared by whatever worker thread runs them,
    and two threads' statements must not land in one transaction.
    """

    def __init__(
        self,
        home: Home,
        window_s: float = WINDOW_S,
        now: Callable[[], float] = time.time,
        *,
        stale_after_s: float = STALE_AFTER_S,
    ) -> None:
        self.path = store_path(home)
        self.window_s = window_s
        self.stale_after_s = stale_after_s
        self._now = now
        self._mutex = threading.Lock()
        self._next_purge = float("-inf")
        make_private_dir(self.path.parent)
        # Setup under a file lock: SQLite's busy timeout does not cover the switch to WAL,
        # and two processes must not both create the table.
        with lock_for(self.path):
            if not self.path.exists():
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, FILE_MODE))
            self.db = sqlite3.connect(
                self.path, timeout=30, isolation_level=None, check_same_thread=False
            )
            try:
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")
                version = int(self.db.execute("PRAGMA user_version").fetchone()[0])
                if version != SCHEMA_VERSION:
                    # Entries live a day at most: an unknown layout is simply started over.
                    self.db.execute("DROP TABLE IF EXISTS idempotency")
                    for stmt in _DDL:
                        self.db.execute(stmt)
                    self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            except BaseException:
                self.db.close()
                raise

    def close(self) -> None:
        with self._mutex:
            self.db.close()

    def __enter__(self) -> IdempotencyStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def begin(self, key: str, scope: str) -> Claim:
        """Claim `key` for a request in `scope` (e.g. its session key); see the module doc."""
        validate_key(key)
        if not isinstance(scope, str):
            raise TypeError("an idempotency scope must be a string (e.g. the session key)")
        with self._mutex:
            now = self._now()
            self._maybe_purge(now)
            with self._write():
                row = self.db.execute(
                    "SELECT scope, state, result, updated_at FROM idempotency WHERE key = ?",
                    (key,),
                ).fetchone()
                if row is not None and self._live(row[1], row[3], now):
                    stored_scope, state, result, _ = row
                    if stored_scope != scope:
                        return Claim("conflict", key, scope=stored_scope)
                    if state == "done":
                        return Claim("replay", key, result=json.loads(result), scope=scope)
                    return Claim("in_progress", key, scope=scope)
                self.db.execute(
                    "INSERT OR REPLACE INTO idempotency"
                    " (key, scope, state, result, created_at, updated_at)"
                    " VALUES (?, ?, 'running', NULL, ?, ?)",
                    (key, scope, now, now),
                )
                return Claim("new", key, scope=scope)

    def finish(self, key: str, result: dict[str, Any]) -> bool:
        """Store the result of the turn claimed by `begin`; False if the claim was gone
        (abandoned meanwhile), in which case nothing is stored."""
        if not isinstance(result, dict):
            raise TypeError("an idempotent result must be a dict")
        text = json.dumps(result, ensure_ascii=False, separators=(",", ":"))
        with self._mutex, self._write():
            cur = self.db.execute(
                "UPDATE idempotency SET state = 'done', result = ?, updated_at = ?"
                " WHERE key = ? AND state = 'running'",
                (text, self._now(), key),
            )
            return cur.rowcount == 1

    def abandon(self, key: str) -> None:
        """Drop a 'running' claim whose turn failed, so a retry runs the turn again.
        A 'done' entry is never removed by this."""
        with self._mutex, self._write():
            self.db.execute("DELETE FROM idempotency WHERE key = ? AND state = 'running'", (key,))

    def keepalive(self, key: str) -> None:
        """Mark a long turn as still running, so it is not mistaken for a crashed one."""
        with self._mutex, self._write():
            self.db.execute(
                "UPDATE idempotency SET updated_at = ? WHERE key = ? AND state = 'running'",
                (self._now(), key),
            )

    def purge(self, limit: int = PURGE_BATCH) -> int:
        """Delete up to `limit` expired entries; returns how many were deleted."""
        with self._mutex:
            return self._purge(self._now(), limit)

    def count(self) -> int:
        with self._mutex:
            return int(self.db.execute("SELECT count(*) FROM idempotency").fetchone()[0])

    def _live(self, state: str, updated_at: float, now: float) -> bool:
        age = now - updated_at
        return age < (self.window_s if state == "done" else self.stale_after_s)

    def _maybe_purge(self, now: float) -> None:
        # At most every PURGE_EVERY_S, one bounded batch; a full batch means a backlog,
        # so the next call takes another batch instead of waiting ten minutes.
        if now < self._next_purge:
            return
        deleted = self._purge(now, PURGE_BATCH)
        self._next_purge = now if deleted >= PURGE_BATCH else now + PURGE_EVERY_S

    def _purge(self, now: float, limit: int) -> int:
        # Stale 'running' entries go only after the full window: deleting them earlier
        # would gain nothing (begin already overwrites them) and could race a keepalive.
        with self._write():
            cur = self.db.execute(
                "DELETE FROM idempotency WHERE key IN"
                " (SELECT key FROM idempotency WHERE updated_at <= ? LIMIT ?)",
                (now - self.window_s, limit),
            )
            return cur.rowcount

    def _write(self) -> _Transaction:
        return _Transaction(self.db)


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT (ROLLBACK on error): takes SQLite's write lock up front, so
    a read-then-write decision cannot be overtaken by another process."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.db.execute("COMMIT" if exc_type is None else "ROLLBACK")
