"""The session store: transcripts on disk (truth) plus the SQLite index (speed).

Layout under `sessions/`:
  transcripts/<encoded key>.jsonl         one per live session
  archive/<encoded key>.<UTC time>.jsonl  cleared or archived transcripts
  index.sqlite                            rebuildable listing index
Appends to one session are serialised across processes by `locks/sessions/<key>.lock`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from claw.errors import NotFound
from claw.state import jsonl, transcript
from claw.state.atomic import fsync_dir
from claw.state.home import Home, make_private_dir
from claw.state.locks import FileLock, file_lock
from claw.state.names import (
    AGENT_ID_RE,
    decode_component,
    encode_component,
    validate_session_key,
)
from claw.state.session_index import SessionIndex, SessionRow, preview_of
from claw.state.session_keys import agent_of

if TYPE_CHECKING:
    from claw.state.config import Config

log = logging.getLogger(__name__)


@dataclass
class Transcript:
    key: str
    records: list[dict[str, Any]]
    bad_lines: list[int]
    complete: bool  # False when only the tail was read

    @property
    def messages(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("type") == "message"]


class SessionStore:
    def __init__(self, home: Home, *, fsync: bool = True) -> None:
        self.home = home
        self.fsync = fsync  # durability of appends; only throwaway stores turn it off
        self.root = home.sessions_dir
        self.transcripts = self.root / "transcripts"
        self.archive_dir = self.root / "archive"
        self.lock_dir = home.locks_dir / "sessions"
        for d in (self.root, self.transcripts, self.archive_dir, self.lock_dir):
            make_private_dir(d)
        self._index: SessionIndex | None = None

    @classmethod
    def configured(cls, home: Home, config: Config) -> SessionStore:
        """A store that honours `sessions.fsync`: every writer of transcripts opens it
        this way, so the setting means the same in the daemon, the CLI and the runners."""
        return cls(home, fsync=bool(config.get("sessions.fsync", True)))

    # -- paths and locks -------------------------------------------------------------
    def path(self, key: str) -> Path:
        return self.transcripts / f"{encode_component(validate_session_key(key))}.jsonl"

    def lock(self, key: str) -> FileLock:
        return file_lock(self.lock_dir / f"{encode_component(validate_session_key(key))}.lock")

    @property
    def index(self) -> SessionIndex:
        if self._index is None:
            self._index = SessionIndex(self.root / "index.sqlite", self.lock_dir / "index.lock")
            if self._index.created and any(self.transcripts.iterdir()):
                self.reindex()
        return self._index

    def close(self) -> None:
        if self._index is not None:
            self._index.close()
            self._index = None

    def exists(self, key: str) -> bool:
        return self.path(key).exists()

    def require(self, key: str) -> Path:
        path = self.path(key)
        if not path.exists():
            raise NotFound(
                f"no session {key!r} in {self.home.root}",
                hint="`claw sessions list` shows the sessions there are",
            )
        return path

    # -- writing ---------------------------------------------------------------------
    def append(self, key: str, records: list[dict[str, Any]], *, agent: str | None = None) -> None:
        """Append records to a session (creating it), durably, then update the index."""
        path = self.path(key)
        agent = agent or agent_of(key)
        _ = self.index  # open (and, if it was missing, rebuild) before this write lands
        with self.lock(key):
            new = not path.exists()
            head = [transcript.header(key, agent)] if new else []
            data = b"".join(jsonl.dumps(r) for r in head + records)
            old_size, new_size = jsonl.append_locked(path, data, fsync=self.fsync)
            if new:
                fsync_dir(self.transcripts)
            self._note(key, agent, records, old_size, new_size)

    def _note(
        self, key: str, agent: str, records: list[dict[str, Any]], old_size: int, new_size: int
    ) -> None:
        msgs = [r for r in records if r.get("type") == "message"]
        now = time.time()
        last = msgs[-1] if msgs else {}
        row = SessionRow(
            key=key,
            agent=agent,
            created_at=now,
            updated_at=now,
            last_role=last.get("role"),
            preview=preview_of(str(last.get("content") or "")) if last else None,
            model=last.get("model"),
            size=new_size,
        )
        try:
            self.index.record(
                row, len(msgs), old_size, lambda: self._row_from_file(key, self.path(key))
            )
        except Exception as e:  # the transcript is the truth; reindex repairs the index
            log.warning("session index not updated (%s); run `claw sessions reindex`", e)

    # -- reading ---------------------------------------------------------------------
    def read(self, key: str) -> Transcript:
        res = jsonl.read_all(self.require(key))
        return Transcript(key, res.records, res.bad_lines, complete=True)

    def tail(self, key: str, n_messages: int) -> Transcript:
        """The last `n_messages` messages, reading only as much of the file as needed."""
        path = self.require(key)
        records: list[dict[str, Any]] = []
        bad: list[int] = []
        with open(path, "rb") as f:  # backwards, as in `history_pairs`
            end, step = f.seek(0, os.SEEK_END), 16 * 1024
            while True:
                res, end = jsonl.read_before(f, end, step, name=path)
                records, bad = res.records + records, res.bad_lines + bad
                msgs = [r for r in records if r.get("type") == "message"]
                if end == 0 or len(msgs) > n_messages:
                    break
                step *= 4
        if len(msgs) > n_messages:
            first = msgs[-n_messages] if n_messages else None
            records = records[records.index(first) :] if first is not None else []
        return Transcript(key, records, bad, complete=end == 0)

    def history(
        self,
        key: str,
        budget_tokens: int,
        enough: Callable[[list[dict[str, Any]]], bool] | None = None,
    ) -> list[dict[str, Any]]:
        """Messages for the model: the replay of the newest records that fit the budget."""
        return [m for _, m in self.history_pairs(key, budget_tokens, enough)]

    def history_pairs(
        self,
        key: str,
        budget_tokens: int,
        enough: Callable[[list[dict[str, Any]]], bool] | None = None,
    ) -> list[tuple[str | None, dict[str, Any]]]:
        """`history`, with the id of the record each message comes from.

        With `enough`, reading starts small and stops as soon as the messages read satisfy
        it: a caller that wants only the last few messages of a long session parses a few
        kilobytes, not the whole budget's worth.
        """
        path = self.path(key)
        try:  # one handle throughout: a session cleared meanwhile is not mixed in
            with open(path, "rb") as f:
                return _window(f, path, budget_tokens, enough)
        except FileNotFoundError:
            return []

    def list(self, agent: str | None = None, limit: int | None = 50) -> list[SessionRow]:
        return self.index.list(agent=agent, limit=limit)

    def get(self, key: str) -> SessionRow:
        self.require(key)
        return self.index.get(key) or self._row_from_file(key, self.path(key))

    # -- lifecycle -------------------------------------------------------------------
    def clear(self, key: str) -> Path:
        """Archive the transcript and start the session afresh; returns the archive path."""
        with self.lock(key):
            path = self.require(key)
            agent = _header_agent(path) or agent_of(key)  # still that agent's session
            dest = self._archive_locked(key, path)
            jsonl.append_locked(path, jsonl.dumps(transcript.header(key, agent)))
            fsync_dir(self.transcripts)
            now = time.time()
            self.index.put(SessionRow(key, agent, now, now, size=path.stat().st_size))
        return dest

    def delete(self, key: str) -> None:
        with self.lock(key):
            path = self.require(key)
            path.unlink()
            fsync_dir(self.transcripts)
            self.index.delete(key)
        with contextlib.suppress(FileNotFoundError):
            (self.lock_dir / f"{encode_component(key)}.lock").unlink()
        self._forget_memory(key)

    def _forget_memory(self, key: str) -> None:
        """A deleted conversation must not be recalled: drop its chunks from memory."""
        from claw.memory.sync import forget_session

        try:
            forget_session(self.home, key)
        except Exception as e:  # the next memory sync drops them too (the file is gone)
            log.warning("memory index not updated for deleted %s (%s)", key, e)

    def archive_older_than(self, seconds: float) -> list[str]:
        """Archive sessions not updated for `seconds`; returns their keys."""
        cutoff = time.time() - seconds
        done: list[str] = []
        for key in self.index.older_than(cutoff):
            with self.lock(key):
                path = self.path(key)
                row = self.index.get(key)
                if row is None or row.updated_at >= cutoff:
                    continue  # touched since we looked
                if path.exists():
                    self._archive_locked(key, path)
                self.index.delete(key)
                done.append(key)
        return done

    def _archive_locked(self, key: str, path: Path) -> Path:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        dest = self.archive_dir / f"{path.stem}.{stamp}.jsonl"
        n = 1
        while dest.exists():
            n += 1
            dest = self.archive_dir / f"{path.stem}.{stamp}-{n}.jsonl"
        os.rename(path, dest)
        fsync_dir(self.archive_dir)
        fsync_dir(self.transcripts)
        return dest

    # -- index maintenance -----------------------------------------------------------
    def reindex(self) -> int:
        """Rebuild the index from the transcripts; returns the number of sessions."""
        if self._index is None:
            self._index = SessionIndex(self.root / "index.sqlite", self.lock_dir / "index.lock")
        # Scan first (slow: every transcript), then write in one short transaction, so
        # concurrent appends are not held up for the length of the scan.
        rows = list(self._scan())
        return self._index.replace_all(rows, self._refresh)

    def _refresh(self, row: SessionRow) -> SessionRow | None:
        path = self.path(row.key)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return None  # deleted since the scan
        return row if size == row.size else self._row_from_file(row.key, path)

    def _scan(self) -> Iterator[SessionRow]:
        for entry in os.scandir(self.transcripts):
            if not entry.name.endswith(".jsonl") or entry.name.startswith("."):
                continue
            try:
                key = decode_component(entry.name[: -len(".jsonl")])
                validate_session_key(key)
            except Exception:
                log.warning("ignoring %s: not a transcript name", entry.path)
                continue
            yield self._row_from_file(key, Path(entry.path))

    def _row_from_file(self, key: str, path: Path) -> SessionRow:
        data = path.read_bytes()
        records = jsonl.parse_lines(data.split(b"\n")).records
        head = next((r for r in records if r.get("type") == "session"), {})
        msgs = [r for r in records if r.get("type") == "message"]
        mtime = path.stat().st_mtime
        created = _ts(head.get("ts"), mtime)
        last = msgs[-1] if msgs else {}
        return SessionRow(
            key=key,
            agent=str(head.get("agent") or agent_of(key)),
            created_at=created,
            updated_at=_ts(last.get("ts"), created) if msgs else created,
            message_count=len(msgs),
            last_role=last.get("role"),
            preview=preview_of(str(last.get("content") or "")) if msgs else None,
            model=next((m.get("model") for m in reversed(msgs) if m.get("model")), None),
            size=len(data),
        )


def _header_agent(path: Path) -> str | None:
    """The agent named by a transcript's header (its first line), if it names a valid one;
    reads one line, not the transcript."""
    with open(path, "rb") as f:
        head = jsonl.parse_lines([f.readline(64 * 1024)]).records
    agent = head[0].get("agent") if head and head[0].get("type") == "session" else None
    return agent if isinstance(agent, str) and AGENT_ID_RE.fullmatch(agent) else None


def _window(
    f: BinaryIO,
    path: Path,
    budget_tokens: int,
    enough: Callable[[list[dict[str, Any]]], bool] | None,
) -> list[tuple[str | None, dict[str, Any]]]:
    """`history_pairs` on the open transcript: read backwards, each step 4x the last,
    parsing only bytes not read yet, until the budget is full, `enough` holds, or the
    start is reached (and no compaction kept anything from before what was read)."""
    end = f.seek(0, os.SEEK_END)
    step = 4 * 1024 if enough else max(64 * 1024, budget_tokens * 4)
    records: list[dict[str, Any]] = []
    while True:
        res, end = jsonl.read_before(f, end, step, name=path)
        records = res.records + records
        whole = end == 0
        pairs = transcript.replay_pairs(records)
        start, cut = transcript.fit([m for _, m in pairs], budget_tokens)
        reaches_back = not whole and _compaction_reaches_back(records)
        done = cut or (enough is not None and enough([m for _, m in pairs]))
        if whole or (done and not reaches_back):
            return pairs[start:]
        step *= 4


def _compaction_reaches_back(records: list[dict[str, Any]]) -> bool:
    """A compaction in `records` keeps messages from before them: read further back."""
    ids = {r.get("id") for r in records}
    return any(
        r.get("type") == "compaction" and r.get("first_kept_id") not in (None, *ids)
        for r in records
    )


def _ts(text: object, fallback: float) -> float:
    try:
        return transcript.parse_iso(str(text))
    except (TypeError, ValueError):
        return fallback
