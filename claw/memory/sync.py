"""Keeping the index in step with the files, incrementally.

A source whose size and mtime are what the index recorded is not opened at all. A note
that changed is re-chunked, and its chunks are matched by content hash with the ones
already indexed: unchanged chunks keep their row and vector (only their line number may
move), so only new text is embedded. A transcript is append-only, so only the lines after
the offset read last time are parsed; if its first line changed (the session was cleared
and restarted) it is read again from the start. Files that are gone lose their chunks.

Every writer holds `locks/memory.lock`, so the daemon's watcher and any number of CLI
commands can update the same index at once; each change to a note is one transaction.
Grown transcripts are gathered and written together: one embedding call and one
transaction for a batch of them. Under load the daemon's watcher sees hundreds of
sessions grow by a line or two each round, and per-transcript calls and commits cost
three times what the new text does.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from claw.errors import ClawError
from claw.memory import sources as S
from claw.memory.embed import EmbedderStatus, resolve
from claw.memory.index import MemoryIndex, discard, index_path, to_blob, unreadable
from claw.memory.settings import MemorySettings
from claw.state.config import Config
from claw.state.home import Home
from claw.state.locks import Timeout, file_lock

log = logging.getLogger(__name__)
LOCK_WAIT_S = 120.0
EMBED_BATCH = 256
Progress = Callable[[int, int], None]


def _warn_rebuild(path: Path, error: BaseException) -> None:
    log.warning("%s is corrupt (%s): rebuilding it from the notes", path, error)


class IndexBusy(ClawError):
    """Another process holds the index's lock for longer than this caller would wait."""


@dataclass
class SyncReport:
    sources: int = 0  # looked at
    updated: list[str] = field(default_factory=list)  # re-indexed (rel paths)
    removed: list[str] = field(default_factory=list)  # sources forgotten
    chunks_added: int = 0
    chunks_removed: int = 0
    embedded: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Indexer:
    def __init__(
        self,
        home: Home,
        config: Config,
        *,
        settings: MemorySettings | None = None,
        embedder: EmbedderStatus | None = None,
        lock_wait: float = LOCK_WAIT_S,
    ) -> None:
        self.home = home
        self.lock_wait = lock_wait
        self.config = config
        self.settings = settings or MemorySettings.from_config(config)
        self._embedder = embedder

    @property
    def embedder(self) -> EmbedderStatus:
        if self._embedder is None:
            self._embedder = resolve(self.config, self.settings.embedding_model)
        return self._embedder

    def lock(self) -> Any:
        return file_lock(self.home.locks_dir / "memory.lock", timeout=self.lock_wait)

    def _locked(self, work: Callable[[MemoryIndex, SyncReport], None]) -> SyncReport:
        """Run `work` on the index under the writers' lock. An index SQLite finds corrupt
        on the way is deleted and `work` done again on a fresh one (it is a cache)."""
        start = time.perf_counter()
        try:
            with self.lock():
                try:
                    report = self._run(work)
                except sqlite3.DatabaseError as e:
                    if not unreadable(e):
                        raise
                    _warn_rebuild(index_path(self.home), e)
                    discard(index_path(self.home))
                    report = self._run(work)
        except Timeout:
            raise IndexBusy(
                "the memory index is busy (another process holds locks/memory.lock)",
                hint="try again when the other `claw memory` command or the daemon's sync ends",
            ) from None
        report.seconds = round(time.perf_counter() - start, 3)
        return report

    def _run(self, work: Callable[[MemoryIndex, SyncReport], None]) -> SyncReport:
        report = SyncReport()
        with MemoryIndex(self.home) as idx:
            self._check_model(idx)
            work(idx, report)
            self._fill_vectors(idx, report)
        return report

    def discard_unreadable(self, error: BaseException) -> None:
        """A reader found the index corrupt mid-query: delete it under the writers' lock
        (waiting as long as a sync may take); the caller syncs and asks again."""
        _warn_rebuild(index_path(self.home), error)
        if 0 <= self.lock_wait < LOCK_WAIT_S:
            self.lock_wait = LOCK_WAIT_S  # the rebuild is needed: no quick give-up now
        try:
            with self.lock():
                discard(index_path(self.home))
        except Timeout:
            raise IndexBusy(
                "the memory index is corrupt and another process holds locks/memory.lock",
                hint="run `claw memory index --rebuild` when it is done",
            ) from None

    # -- entry points ------------------------------------------------------------------
    def sync(
        self,
        agent: str | None = None,
        *,
        transcripts: bool | None = None,
        rebuild: bool = False,
        progress: Progress | None = None,
    ) -> SyncReport:
        """Bring the index up to date with every source (of `agent`, or all agents)."""
        with_sessions = self.settings.transcripts if transcripts is None else transcripts

        def work(idx: MemoryIndex, report: SyncReport) -> None:
            if rebuild:
                with idx.tx():
                    for rel in idx.sources():
                        report.chunks_removed += idx.drop_source(rel)
                    idx.bump(appended_only=False)
            listing = list(S.note_sources(self.home, agent))
            if with_sessions:
                listing += list(S.session_sources(self.home, agent))
            known = idx.sources(agent)
            grown: list[_Grown] = []
            for n, src in enumerate(listing, 1):
                self._sync_source(idx, src, known.pop(src.rel, None), report, grown)
                if progress is not None:
                    progress(n, len(listing))
            self._write_grown(idx, grown, report)
            for rel, row in known.items():  # indexed before, gone now (or not wanted)
                if row["kind"] != "session" or with_sessions or not self.settings.transcripts:
                    self._forget(idx, rel, report)
            report.sources = len(listing)

        return self._locked(work)

    def sync_paths(self, paths: Iterable[Path]) -> SyncReport:
        """Update the sources at these paths (changed, created or deleted): the watcher's."""

        def work(idx: MemoryIndex, report: SyncReport) -> None:
            grown: list[_Grown] = []
            for path in dict.fromkeys(paths):
                src = S.source_for(self.home, path)
                if src is None or (src.kind == "session" and not self.settings.transcripts):
                    continue
                row = _source_row(idx, src.rel)
                self._sync_source(idx, src, row, report, grown)
                report.sources += 1
            self._write_grown(idx, grown, report)

        return self._locked(work)

    def forget(self, rels: Iterable[str]) -> SyncReport:
        def work(idx: MemoryIndex, report: SyncReport) -> None:
            for rel in rels:
                self._forget(idx, rel, report)

        return self._locked(work)

    # -- one source --------------------------------------------------------------------
    def _sync_source(
        self,
        idx: MemoryIndex,
        src: S.Source,
        row: dict[str, Any] | None,
        report: SyncReport,
        grown: list[_Grown],
    ) -> None:
        """Bring one source up to date; a grown transcript is read into `grown`, which is
        written when it holds a batch's worth (the caller writes what is left)."""
        path = src.path(self.home)
        try:
            st = path.stat()
        except FileNotFoundError:
            if row is not None:
                self._forget(idx, src.rel, report)
            return
        if row is not None and row["size"] == st.st_size and row["mtime_ns"] == st.st_mtime_ns:
            return
        if src.kind == "session":
            grown.append(self._read_transcript(src, row, st))
            if len(grown) >= EMBED_BATCH or sum(len(g.chunks) for g in grown) >= EMBED_BATCH:
                self._write_grown(idx, grown, report)
        else:
            self._sync_note(idx, src, row, st, report)

    def _sync_note(
        self, idx: MemoryIndex, src: S.Source, row: dict[str, Any] | None, st: Any, r: SyncReport
    ) -> None:
        text = src.path(self.home).read_text(encoding="utf-8", errors="replace")
        digest = S.content_hash(text)
        state = _state(src, st, digest)
        if row is not None and row["hash"] == digest:  # touched, not changed
            with idx.tx():
                idx.put_source(state)
            return
        ts = S.daily_ts(Path(src.rel).name) if src.kind == "daily" else None
        chunks = S.chunk_note(text, self.settings.chunk_chars, ts)
        existing = idx.chunk_hashes(src.rel)
        fresh, moves = [], []
        for c in chunks:
            kept = existing.get(c.hash)
            if kept:
                cid, line = kept.pop()
                if line != c.line:
                    moves.append((cid, c.line))
            else:
                fresh.append(c)
        gone = [cid for pairs in existing.values() for cid, _ in pairs]
        rows = self._rows(src, fresh, self._embed([c.text for c in fresh], r) if fresh else None)
        with idx.tx():
            idx.delete_chunks(gone)
            idx.move_chunks(moves)
            idx.add_chunks(rows)
            idx.put_source(state)
            idx.bump(appended_only=not gone)
        r.updated.append(src.rel)
        r.chunks_added += len(rows)
        r.chunks_removed += len(gone)

    def _read_transcript(self, src: S.Source, row: dict[str, Any] | None, st: Any) -> _Grown:
        """The transcript's lines after what was indexed (all of it when it restarted)."""
        with open(src.path(self.home), "rb") as f:
            head = S.content_hash(f.readline().decode("utf-8", "replace"))
            restart = row is None or row["hash"] != head or st.st_size < row["read_to"]
            offset = 0 if restart else int(row["read_to"])
            first_line = 1 if restart else int(row["next_line"])
            f.seek(offset)
            data = f.read()
        end = data.rfind(b"\n") + 1  # a torn last line waits for its newline
        lines = data[:end].split(b"\n")[:-1] if end else []
        chunks = S.chunk_transcript_lines(lines, first_line, self.settings.chunk_chars)
        state = _state(src, st, head, read_to=offset + end, next_line=first_line + len(lines))
        return _Grown(src, chunks, state, drop=restart and row is not None)

    def _write_grown(self, idx: MemoryIndex, grown: list[_Grown], r: SyncReport) -> None:
        """Embed their new chunks in one call, write them in one transaction, and empty
        `grown`."""
        if not grown:
            return
        chunks = [c for g in grown for c in g.chunks]
        vecs = self._embed([c.text for c in chunks], r) if chunks else None
        n, removed = 0, 0
        with idx.tx():
            for g in grown:
                removed += idx.drop_source(g.src.rel) if g.drop else 0
                rows = self._rows(g.src, g.chunks, None if vecs is None else vecs[n:])
                n += len(g.chunks)
                idx.add_chunks(rows)
                idx.put_source(g.state)
                r.updated.append(g.src.rel)
                r.chunks_added += len(rows)
            idx.bump(appended_only=not removed)
        r.chunks_removed += removed
        grown.clear()

    def _forget(self, idx: MemoryIndex, rel: str, r: SyncReport) -> None:
        with idx.tx():
            n = idx.drop_source(rel)
            idx.bump(appended_only=False)
        r.removed.append(rel)
        r.chunks_removed += n

    # -- vectors -----------------------------------------------------------------------
    def _rows(self, src: S.Source, chunks: list[S.Chunk], vecs: Any) -> list[tuple[Any, ...]]:
        return [
            (src.rel, src.agent, src.kind, c.hash, c.text, c.line, c.ts, c.role,
             to_blob(vecs[i]) if vecs is not None else None)
            for i, c in enumerate(chunks)
        ]  # fmt: skip

    def _embed(self, texts: list[str], r: SyncReport) -> Any:
        emb = self.embedder.embedder
        if emb is None:
            return None
        try:
            out = emb.embed(texts)
        except ClawError as e:  # keyword search still works; the next sync retries
            log.warning("memory: %s; chunks stay without vectors for now", e)
            return None
        r.embedded += len(texts)
        return out

    def _check_model(self, idx: MemoryIndex) -> None:
        """Vectors of another model are useless: drop them (they are recomputed)."""
        name = self.embedder.embedder.name if self.embedder.embedder else ""
        if idx.meta("embedding_model") != name:
            with idx.tx():
                idx.clear_vectors()
                idx.set_meta("embedding_model", name)
                idx.bump(appended_only=False)

    def _fill_vectors(self, idx: MemoryIndex, r: SyncReport) -> None:
        if self.embedder.embedder is None:
            return
        while batch := idx.without_vectors(EMBED_BATCH):
            vecs = self._embed([t for _, t in batch], r)
            if vecs is None:
                return
            with idx.tx():
                pairs = zip(vecs, batch, strict=True)
                idx.set_vectors([(to_blob(v), cid) for v, (cid, _) in pairs])
                idx.bump(appended_only=False)


@dataclass
class _Grown:
    """A transcript's new chunks, read but not yet written."""

    src: S.Source
    chunks: list[S.Chunk]
    state: dict[str, Any]
    drop: bool  # it restarted: its old chunks go first


def _source_row(idx: MemoryIndex, rel: str) -> dict[str, Any] | None:
    cols = ("rel", "kind", "agent", "session_key", "size", "mtime_ns", "hash", "read_to")
    cols += ("next_line",)
    row = idx.db.execute(f"SELECT {', '.join(cols)} FROM sources WHERE rel=?", (rel,)).fetchone()
    return dict(zip(cols, row, strict=True)) if row else None


def _state(src: S.Source, st: os.stat_result, digest: str, **extra: int) -> dict[str, Any]:
    return {
        "rel": src.rel,
        "kind": src.kind,
        "agent": src.agent,
        "session_key": src.session_key,
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "hash": digest,
        "read_to": extra.get("read_to", st.st_size),
        "next_line": extra.get("next_line", 1),
    }


def forget_session(home: Home, key: str) -> None:
    """Remove a deleted session's chunks (no-op when there is no index yet)."""
    if not index_path(home).exists():
        return
    from claw.state.names import encode_component

    rel = f"sessions/transcripts/{encode_component(key)}.jsonl"
    lock = file_lock(home.locks_dir / "memory.lock", timeout=LOCK_WAIT_S)
    with lock, MemoryIndex(home) as idx, idx.tx():
        if idx.drop_source(rel):
            idx.bump(appended_only=False)
