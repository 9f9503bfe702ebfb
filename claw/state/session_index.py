"""A SQLite index of sessions, for listing without opening every transcript.

The transcripts are the source of truth; this file can be deleted at any time and
`claw sessions reindex` (or the next listing) rebuilds it. WAL mode lets the daemon and
one-shot commands use it at once; one row update per append keeps the cost of an append
independent of how many sessions exist.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

SCHEMA_VERSION = 1

_DDL = """
CREATE TABLE IF NOT EXISTS sessions (
    key TEXT PRIMARY KEY,
    agent TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    message_count INTEGER NOT NULL DEFAULT 0,
    last_role TEXT,
    preview TEXT,
    model TEXT
);
CREATE INDEX IF NOT EXISTS sessions_updated ON sessions(updated_at);
CREATE INDEX IF NOT EXISTS sessions_agent_updated ON sessions(agent, updated_at);
"""

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

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def preview_of(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= PREVIEW_CHARS else flat[: PREVIEW_CHARS - 1] + "…"


class SessionIndex:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.created = not path.exists()
        self.db = sqlite3.connect(path, timeout=30, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        if self._version() != SCHEMA_VERSION:
            # Several processes may open a new index at once: check again under the write
            # lock, so only one of them (re)creates the table.
            self.db.execute("BEGIN IMMEDIATE")
            try:
                if self._version() != SCHEMA_VERSION:
                    self.db.execute("DROP TABLE IF EXISTS sessions")
                    for stmt in filter(str.strip, _DDL.split(";")):
                        self.db.execute(stmt)
                    self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                    self.created = True
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
        path.chmod(0o600)

    def _version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        self.db.close()

    def record(self, row: SessionRow, added: int) -> None:
        """Note `added` new messages in a session (creating its row if needed)."""
        self.db.execute(
            """INSERT INTO sessions VALUES (?,?,?,?,?,?,?,?)
               ON CONFLICT(key) DO UPDATE SET
                 updated_at = max(updated_at, excluded.updated_at),
                 message_count = message_count + excluded.message_count,
                 last_role = coalesce(excluded.last_role, last_role),
                 preview = coalesce(excluded.preview, preview),
                 model = coalesce(excluded.model, model)""",
            (row.key, row.agent, row.created_at, row.updated_at, added, row.last_role,
             row.preview, row.model),
        )

    def reset(self, row: SessionRow) -> None:
        self.db.execute("INSERT OR REPLACE INTO sessions VALUES (?,?,?,?,?,?,?,?)", _tuple(row))

    def get(self, key: str) -> SessionRow | None:
        cur = self.db.execute("SELECT * FROM sessions WHERE key = ?", (key,))
        found = cur.fetchone()
        return SessionRow(*found) if found else None

    def list(self, agent: str | None = None, limit: int | None = 50) -> list[SessionRow]:
        sql = "SELECT * FROM sessions"
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
        self.db.execute("DELETE FROM sessions WHERE key = ?", (key,))

    def count(self) -> int:
        return self.db.execute("SELECT count(*) FROM sessions").fetchone()[0]

    def replace_all(self, rows: Iterable[SessionRow]) -> int:
        """Swap the whole index for `rows` in one transaction (readers see old or new)."""
        n = 0
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute("DELETE FROM sessions")
            for row in rows:
                self.db.execute("INSERT OR REPLACE INTO sessions VALUES (?,?,?,?,?,?,?,?)",
                                _tuple(row))
                n += 1
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return n


def _tuple(row: SessionRow) -> tuple[object, ...]:
    return (row.key, row.agent, row.created_at, row.updated_at, row.message_count,
            row.last_role, row.preview, row.model)
