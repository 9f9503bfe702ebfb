"""A SQLite index of sessions, for listing without opening every transcript.

The transcripts are the source of truth; this file can be deleted at any time and
`claw sessions reindex` (or the next command that needs it) rebuilds it. WAL mode lets the
daemon and one-shot commands use it at once; one row update per append keeps the cost of
an append independent of how many sessions exist.

Counts stay exact under concurrency because each row remembers the transcript size it
describes: an append adds its messages only if the row describes the file as it was just
before the append; otherwise (a rebuild already counted them, or the row is missing) the
appender recounts its own transcript, which it holds the lock of.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sqlite3
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from claw.state.locks import file_lock

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2

_DDL = (
    """CREATE TABLE sessions (
        key TEXT PRIMARY KEY,
        agent TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        message_count INTEGER NOT NULL DEFAULT 0,
        last_role TEXT,
        preview TEXT,
        model TEXT,
        size INTEGER NOT NULL DEFAULT 0
    )""",
    "CREATE INDEX sessions_updated ON sessions(updated_at)",
    "CREATE INDEX sessions_agent_updated ON sessions(agent, updated_at)",
)
_COLUMNS = "key, agent, created_at, updated_at, message_count, last_role, preview, model, size"

PREVIEW_CHARS = 80


@dataclass
class SessionRow:
    key: str
    agent: str
    created_at: float
    updated_at: float
    message_count: int = 0
    last_role: str | None = None
    preview: str | None = None
    model: str | None = None
    size: int = 0  # transcript bytes this row describes

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d.pop("size")
        return d


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def preview_of(text: str) -> str:
    # SQLite stores UTF-8 only: a lone surrogate (kept exactly in the transcript) is shown
    # as U+FFFD here rather than failing the index update.
    flat = _LONE_SURROGATE.sub("\ufffd", " ".join(text.split()))
    return flat if len(flat) <= PREVIEW_CHARS else flat[: PREVIEW_CHARS - 1] + "…"


_writers: dict[str, threading.RLock] = {}
_writers_guard = threading.Lock()


def _writer_lock(path: Path) -> threading.RLock:
    """One lock per index file per process, taken around every write.

    Threads of one process (the daemon's turn workers, one connection each) would
    otherwise meet on SQLite's write lock, whose busy handler sleeps 1, 2, 5, 10 … ms
    between tries: under load most of a turn went to those sleeps. A Python lock wakes
    the next writer at once; SQLite's lock still arbitrates between processes.
    """
    key = os.path.abspath(path)
    with _writers_guard:
        return _writers.setdefault(key, threading.RLock())


class SessionIndex:
    def __init__(self, path: Path, lock_path: Path) -> None:
        self.path = path
        self._writer = _writer_lock(path)
        self.created = False  # True only in the process that created the tables
        with file_lock(lock_path):
            # Setting up (WAL switch, tables) under a file lock: SQLite's busy timeout
            # does not cover a journal-mode change, and two processes must not both
            # create the table.
            try:
                self._open()
            except sqlite3.DatabaseError as e:  # derived data: set it aside, start afresh
                self._set_aside(e)
                self._open()

    def _open(self) -> None:
        path = self.path
        if not path.exists():
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        self.db = sqlite3.connect(path, timeout=60, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        if self._version() != SCHEMA_VERSION:
            self.db.execute("DROP TABLE IF EXISTS sessions")
            for stmt in _DDL:
                self.db.execute(stmt)
            self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            self.created = True  # the store then rebuilds it from the transcripts

    def _set_aside(self, error: Exception) -> None:
        """A damaged index file goes to index.sqlite.corrupt (the last one kept, for a
        look); the transcripts rebuild a new one."""
        if getattr(self, "db", None) is not None:
            self.db.close()
        aside = self.path.with_name(self.path.name + ".corrupt")
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.replace(f"{self.path}{suffix}", f"{aside}{suffix}")
        log.warning(
            "session index %s unreadable (%s): set aside as %s, rebuilding it from the transcripts",
            self.path,
            error,
            aside.name,
        )

    def _version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        self.db.close()

    def record(
        self, row: SessionRow, added: int, old_size: int, recount: Callable[[], SessionRow]
    ) -> None:
        """Note `added` messages appended to a transcript that was `old_size` bytes long.

        `row.size` is the size after the append; `recount` rebuilds the row from the
        transcript (the caller holds the transcript's lock).
        """
        with self._writer:
            self._record(row, added, old_size, recount)

    def _record(
        self, row: SessionRow, added: int, old_size: int, recount: Callable[[], SessionRow]
    ) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            found = self.db.execute("SELECT size FROM sessions WHERE key = ?", (row.key,))
            current = found.fetchone()
            if current is not None and current[0] == old_size:
                self.db.execute(
                    """UPDATE sessions SET updated_at = max(updated_at, ?),
                         message_count = message_count + ?,
                         last_role = coalesce(?, last_role), preview = coalesce(?, preview),
                         model = coalesce(?, model), size = ?
                       WHERE key = ?""",
                    (
                        row.updated_at,
                        added,
                        row.last_role,
                        row.preview,
                        row.model,
                        row.size,
                        row.key,
                    ),
                )
            elif current is None and old_size == 0:
                self.put(SessionRow(**{**asdict(row), "message_count": added}))
            else:
                self.put(recount())
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def put(self, row: SessionRow) -> None:
        with self._writer:
            self.db.execute(
                f"INSERT OR REPLACE INTO sessions ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",
                _tuple(row),
            )

    def get(self, key: str) -> SessionRow | None:
        cur = self.db.execute(f"SELECT {_COLUMNS} FROM sessions WHERE key = ?", (key,))
        found = cur.fetchone()
        return SessionRow(*found) if found else None

    def list(self, agent: str | None = None, limit: int | None = 50) -> list[SessionRow]:
        sql = f"SELECT {_COLUMNS} FROM sessions"
        args: list[object] = []
        if agent:
            sql += " WHERE agent = ?"
            args.append(agent)
        sql += " ORDER BY updated_at DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return [SessionRow(*r) for r in self.db.execute(sql, args)]

    def older_than(self, cutoff: float) -> list[str]:
        cur = self.db.execute("SELECT key FROM sessions WHERE updated_at < ?", (cutoff,))
        return [r[0] for r in cur]

    def delete(self, key: str) -> None:
        with self._writer:
            self.db.execute("DELETE FROM sessions WHERE key = ?", (key,))

    def count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM sessions").fetchone()[0])

    def replace_all(
        self, rows: Iterable[SessionRow], refresh: Callable[[SessionRow], SessionRow | None]
    ) -> int:
        """Swap the whole index for `rows` (scanned beforehand) in one transaction.

        Inside the transaction `refresh` gets each row and returns it as it is now (the
        caller recounts a transcript whose size changed since the scan), or None if the
        session is gone. Appends landing
        during the scan are thus counted once: by the refresh, or by their own update
        after this commit, which sees the sizes written here.
        """
        with self._writer:
            return self._replace_all(rows, refresh)

    def _replace_all(
        self, rows: Iterable[SessionRow], refresh: Callable[[SessionRow], SessionRow | None]
    ) -> int:
        n = 0
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute("DELETE FROM sessions")
            for row in rows:
                current = refresh(row)
                if current is not None:
                    self.put(current)
                    n += 1
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return n


def _tuple(row: SessionRow) -> tuple[object, ...]:
    return (
        row.key,
        row.agent,
        row.created_at,
        row.updated_at,
        row.message_count,
        row.last_role,
        row.preview,
        row.model,
        row.size,
    )
