"""The memory index: SQLite (WAL) with FTS5 for BM25 and one vector per chunk.

Rebuildable from the files at any time (`claw memory index --rebuild`), so it is a cache,
not a source of truth: a schema change simply drops and rebuilds it.

Tables: `sources` (what was indexed from each file: size, mtime, hash, how far a
transcript was read), `chunks` (text, where it came from, its content hash and vector,
float16) and `chunks_fts` (an external-content FTS5 table kept in step by triggers).
`meta` holds the schema version, the embedding model the vectors belong to, and two
counters: `generation` (any change) and `epoch` (a change other than appending chunks),
which let a process keep the vectors in memory and reload only what was appended.
Writers hold `locks/memory.lock` (see `sync`); readers never wait (WAL).
"""

from __future__ import annotations

import logging
import re
import sqlite3
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from claw.state.home import FILE_MODE, Home, make_private_dir

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)
SCHEMA_VERSION = "2"  # 2: a cron or free-form transcript filed under its own agent
_UNREADABLE = (11, 26)  # SQLITE_CORRUPT, SQLITE_NOTADB: not a lock or a full disk
INDEX_NAME = "index.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sources(
  rel TEXT PRIMARY KEY, kind TEXT NOT NULL, agent TEXT NOT NULL, session_key TEXT,
  size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, hash TEXT NOT NULL,
  read_to INTEGER NOT NULL DEFAULT 0, next_line INTEGER NOT NULL DEFAULT 1);
CREATE TABLE IF NOT EXISTS chunks(
  id INTEGER PRIMARY KEY AUTOINCREMENT, rel TEXT NOT NULL, agent TEXT NOT NULL,
  kind TEXT NOT NULL, hash TEXT NOT NULL, text TEXT NOT NULL, line INTEGER NOT NULL,
  ts REAL, role TEXT NOT NULL DEFAULT '', vec BLOB);
CREATE INDEX IF NOT EXISTS chunks_rel ON chunks(rel);
CREATE INDEX IF NOT EXISTS chunks_novec ON chunks(id) WHERE vec IS NULL;
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
  text, content='chunks', content_rowid='id', tokenize='porter unicode61 remove_diacritics 2');
CREATE TRIGGER IF NOT EXISTS chunks_ai AFTER INSERT ON chunks BEGIN
  INSERT INTO chunks_fts(rowid, text) VALUES (new.id, new.text); END;
CREATE TRIGGER IF NOT EXISTS chunks_ad AFTER DELETE ON chunks BEGIN
  INSERT INTO chunks_fts(chunks_fts, rowid, text) VALUES ('delete', old.id, old.text); END;
"""
_STOP_WORDS = (
    "a an and are as at be but by did do does for from had has have how i in is it its me my "
    "of on or our so that the their them then there these they this to was we were what when "
    "where which who why will with you your"
)
_STOP = frozenset(_STOP_WORDS.split(" "))


def index_path(home: Home) -> Path:
    return home.root / "memory" / INDEX_NAME


def unreadable(error: BaseException) -> bool:
    """SQLite says the file is damaged or not a database (at open or in the middle of a
    query; extended codes such as SQLITE_CORRUPT_VTAB included), as opposed to a lock,
    a full disk or a bug: the index is a cache, so the cure is to build it anew."""
    code = getattr(error, "sqlite_errorcode", None)
    return (
        isinstance(error, sqlite3.DatabaseError)
        and code is not None
        and code & 0xFF in (_UNREADABLE)
    )


def discard(path: Path) -> None:
    """Delete the index and its WAL and shared-memory files (the files stay the truth).
    A connection still open elsewhere keeps the old inode; a new one starts afresh."""
    for p in path.parent.glob(path.name + "*"):
        p.unlink(missing_ok=True)


@dataclass
class Hit:
    id: int
    rel: str
    agent: str
    kind: str
    text: str
    line: int
    ts: float | None
    role: str


class MemoryIndex:
    """One connection to the index; use from one thread, close when done."""

    def __init__(self, home: Home) -> None:
        self.path = index_path(home)
        make_private_dir(self.path.parent)
        try:
            self._open()
        except sqlite3.DatabaseError as e:
            if not unreadable(e):
                raise
            # a cache of the files: one SQLite cannot read is dropped; the next sync refills it
            log.warning("%s is unreadable (%s): starting it anew", self.path, e)
            self.db.close()
            discard(self.path)
            self._open()

    def _open(self) -> None:
        new = not self.path.exists()
        self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        if new:
            self.path.chmod(FILE_MODE)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")  # a cache: a lost last commit is redone
        self._ensure_schema()

    def _ensure_schema(self) -> None:
        try:
            row = self.db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        except sqlite3.OperationalError:
            row = None
        if row is not None and row[0] == SCHEMA_VERSION:
            return
        drops = ""
        if row is not None:  # an older layout: start over (the files are the truth)
            drops = "".join(
                f"DROP TABLE IF EXISTS {t};" for t in ("chunks_fts", "chunks", "sources", "meta")
            )
        # `instance` tells this index from one that replaced it (see VectorCache.get)
        self.db.executescript(
            f"BEGIN IMMEDIATE;{drops}{_SCHEMA}"
            f"INSERT OR REPLACE INTO meta VALUES ('schema', '{SCHEMA_VERSION}');"
            f"INSERT OR REPLACE INTO meta VALUES ('instance', '{uuid.uuid4().hex}');COMMIT;"
        )

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> MemoryIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def tx(self) -> Any:
        return _Tx(self.db)

    # -- meta --------------------------------------------------------------------------
    def meta(self, key: str, default: str = "") -> str:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def bump(self, *, appended_only: bool) -> None:
        """Mark a change (inside the writer's transaction), for other processes' caches."""
        self.set_meta("generation", str(int(self.meta("generation", "0")) + 1))
        if not appended_only:
            self.set_meta("epoch", str(int(self.meta("epoch", "0")) + 1))

    # -- sources -----------------------------------------------------------------------
    def sources(self, agent: str | None = None) -> dict[str, dict[str, Any]]:
        sql = "SELECT rel, kind, agent, session_key, size, mtime_ns, hash, read_to, next_line"
        sql += " FROM sources" + (" WHERE agent=?" if agent else "")
        cols = ("rel", "kind", "agent", "session_key", "size", "mtime_ns", "hash")
        cols += ("read_to", "next_line")
        rows = self.db.execute(sql, (agent,) if agent else ()).fetchall()
        return {r[0]: dict(zip(cols, r, strict=True)) for r in rows}

    def put_source(self, row: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO sources VALUES "
            "(:rel, :kind, :agent, :session_key, :size, :mtime_ns, :hash, :read_to, :next_line)",
            row,
        )

    def drop_source(self, rel: str) -> int:
        """Forget a source and its chunks; returns how many chunks went."""
        n = self.db.execute("DELETE FROM chunks WHERE rel=?", (rel,)).rowcount
        self.db.execute("DELETE FROM sources WHERE rel=?", (rel,))
        return n

    # -- chunks ------------------------------------------------------------------------
    def chunk_hashes(self, rel: str) -> dict[str, list[tuple[int, int]]]:
        out: dict[str, list[tuple[int, int]]] = {}
        sql = "SELECT id, hash, line FROM chunks WHERE rel=?"
        for cid, h, line in self.db.execute(sql, (rel,)):
            out.setdefault(h, []).append((cid, line))
        return out

    def add_chunks(self, rows: list[tuple[Any, ...]]) -> None:
        """rows: (rel, agent, kind, hash, text, line, ts, role, vec blob or None)."""
        self.db.executemany(
            "INSERT INTO chunks(rel, agent, kind, hash, text, line, ts, role, vec) "
            "VALUES (?,?,?,?,?,?,?,?,?)",
            rows,
        )

    def delete_chunks(self, ids: list[int]) -> None:
        self.db.executemany("DELETE FROM chunks WHERE id=?", [(i,) for i in ids])

    def move_chunks(self, moves: list[tuple[int, int]]) -> None:
        self.db.executemany("UPDATE chunks SET line=? WHERE id=?", [(ln, i) for i, ln in moves])

    def without_vectors(self, limit: int) -> list[tuple[int, str]]:
        return self.db.execute(
            "SELECT id, text FROM chunks WHERE vec IS NULL ORDER BY id LIMIT ?", (limit,)
        ).fetchall()

    def set_vectors(self, pairs: list[tuple[bytes, int]]) -> None:
        self.db.executemany("UPDATE chunks SET vec=? WHERE id=?", pairs)

    def clear_vectors(self) -> None:
        self.db.execute("UPDATE chunks SET vec=NULL")

    def hits(self, ids: list[int]) -> dict[int, Hit]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        sql = f"SELECT id, rel, agent, kind, text, line, ts, role FROM chunks WHERE id IN ({marks})"
        return {r[0]: Hit(*r) for r in self.db.execute(sql, ids)}

    # -- search ------------------------------------------------------------------------
    def keyword(self, query: str, agent: str | None, limit: int) -> list[tuple[int, float]]:
        """(chunk id, BM25 relevance >= 0, higher is better), best first."""
        match = fts_query(query)
        if not match:
            return []
        top = (
            "SELECT rowid AS id, -bm25(chunks_fts) AS s FROM chunks_fts "
            "WHERE chunks_fts MATCH ? ORDER BY s DESC LIMIT ?"
        )
        if not agent:
            return [(int(i), float(s)) for i, s in self.db.execute(top, (match, limit))]
        # The best of every agent, then this agent's among them: a row lookup for a few
        # hundred hits instead of one for every match. If that leaves too few, the exact
        # (slower) query: this agent's share of the index may be small.
        wide = 4 * limit
        sql = f"SELECT t.id, t.s FROM ({top}) t JOIN chunks c ON c.id = t.id WHERE c.agent = ?"
        rows = self.db.execute(sql + " ORDER BY t.s DESC", (match, wide, agent)).fetchall()
        if len(rows) < limit:
            full = self.db.execute(top.replace("LIMIT ?", ""), (match,)).fetchall()
            if len(full) > wide:
                sql = f"SELECT t.id, t.s FROM ({top.replace(' LIMIT ?', '')}) t "
                sql += "JOIN chunks c ON c.id = t.id WHERE c.agent = ? ORDER BY t.s DESC"
                rows = self.db.execute(sql, (match, agent)).fetchall()
        return [(int(i), float(s)) for i, s in rows[:limit]]

    def vectors_since(self, after_id: int) -> list[tuple[int, str, bytes]]:
        return self.db.execute(
            "SELECT id, agent, vec FROM chunks WHERE id > ? AND vec IS NOT NULL ORDER BY id",
            (after_id,),
        ).fetchall()

    def stats(self) -> dict[str, Any]:
        by_kind = dict(self.db.execute("SELECT kind, COUNT(*) FROM sources GROUP BY kind"))
        chunks = self.db.execute("SELECT COUNT(*), COUNT(vec) FROM chunks").fetchone()
        return {
            "sources": {k: int(by_kind.get(k, 0)) for k in ("long_term", "daily", "session")},
            "chunks": int(chunks[0]),
            "vectors": int(chunks[1]),
        }

    def check(self) -> None:
        """Raise if the FTS table and the chunks disagree (tests, `status --check`)."""
        self.db.execute("INSERT INTO chunks_fts(chunks_fts, rank) VALUES ('integrity-check', 1)")


class _Tx:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error): writers queue, readers do not."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")


def fts_query(text: str) -> str:
    """An FTS5 OR-query of the words in `text` (quoted: user text is never FTS syntax)."""
    words = [w for w in re.findall(r"\w+", text.lower()) if len(w) > 1 or w.isdigit()]
    kept = [w for w in words if w not in _STOP] or words
    return " OR ".join(f'"{w}"' for w in dict.fromkeys(kept))


def to_blob(vec: np.ndarray) -> bytes:
    import numpy as np

    return np.asarray(vec, dtype=np.float16).tobytes()
