"""The durable outbound queue: `queue/<id>.json` pending, `queue/failed/<id>.json` failed,
and in front of them the enqueue journal `queue/journal.jsonl` (see claw.delivery.journal).

A new entry is one fdatasynced line in the journal: durable on return, and any process may
append (concurrently). The deliverer absorbs the journal into entry files before it looks
at them; readers meanwhile see journaled entries as pending. Every state change after that
is an atomic rewrite (temp file, fsync, rename, fsync the directory), so after a crash each
entry is whole, in its last written state. Changing an entry's state is the deliverer's
job, and there is one deliverer at a time: whoever holds `locks/queue.lock` (the daemon's
worker, or `claw queue flush`). The CLI's retry and purge move whole files and are safe
beside it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from claw.delivery.entry import ID_RE, Delivery, next_seq, validate_id
from claw.delivery.journal import NAME as JOURNAL_NAME
from claw.delivery.journal import EnqueueJournal
from claw.errors import NotFound
from claw.state.atomic import (
    TMP_PREFIX,
    atomic_write_bytes,
    fsync_dir,
    has_syncfs,
    sync_filesystem,
    write_all,
)
from claw.state.home import Home, make_private_dir
from claw.state.locks import FileLock, file_lock

if TYPE_CHECKING:
    from claw.delivery.inbox import Inbox

log = logging.getLogger("claw.delivery")
SUFFIX = ".json"
SYNCFS_BATCH = 32  # absorbing this many journal lines or more: one syncfs, not an fsync each
TMP_GRACE_S = 60.0  # a temp file older than this is an orphan of a crashed writer


@dataclass
class Stats:
    depth: int
    due: int
    sending: int
    failed: int
    oldest_age_s: float | None
    failures_by_reason: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


class QueueStore:
    def __init__(self, home: Home) -> None:
        self.home = home
        self._inbox: Inbox | None = None
        self.dir = home.root / "queue"
        self.failed_dir = self.dir / "failed"
        make_private_dir(self.failed_dir)
        self.journal = EnqueueJournal(self.dir / JOURNAL_NAME)

    def deliverer_lock(self, timeout: float = 0) -> FileLock:
        """Held by whoever delivers (the daemon's worker or `claw queue flush`)."""
        return file_lock(self.home.locks_dir / "queue.lock", timeout=timeout)

    def path(self, entry_id: str, *, failed: bool = False) -> Path:
        return (self.failed_dir if failed else self.dir) / f"{validate_id(entry_id)}{SUFFIX}"

    # -- writing ---------------------------------------------------------------------
    def enqueue(self, entry: Delivery) -> Delivery:
        """Write ahead: durable on return (one line in the journal), before anything is
        sent. Stamps the entry's place in its destination's order (`seq`)."""
        validate_id(entry.id)
        if not entry.seq:
            entry.seq = next_seq()
        self.journal.append(entry.to_json())
        return entry

    def save(self, entry: Delivery) -> None:
        atomic_write_bytes(self.path(entry.id), entry.to_json())

    def absorb(self) -> list[Delivery]:
        """Turn the journal's entries into entry files, durably, and empty it. Returns
        the entries that were new (not already a file), in queue order."""
        new: list[Delivery] = []

        def materialize(lines: list[bytes]) -> None:
            # A big batch (many entries queued while no deliverer ran) is written without
            # an fsync per file and made durable by one syncfs: ~5x faster.
            batch = len(lines) >= SYNCFS_BATCH and has_syncfs()
            # Absorbed before a crash, the file may have moved on since: keep it. (A file
            # made after this listing is safe too: the link below never replaces.)
            have = set(os.listdir(self.dir)).union(os.listdir(self.failed_dir))
            base = str(self.dir)
            for line in lines:
                entry = self._parse_line(line)
                if entry is None or (name := entry.id + SUFFIX) in have:
                    continue
                have.add(name)
                if _write_new(os.path.join(base, name), line, fsync=not batch):
                    new.append(entry)
            if new and batch:
                sync_filesystem(self.dir)  # the files and their names
            elif new:
                fsync_dir(self.dir)  # one directory fsync for the whole batch

        self.journal.absorb(materialize)
        return sorted(new, key=_order)

    def _parse(self, lines: list[bytes]) -> list[Delivery]:
        return [e for e in map(self._parse_line, lines) if e is not None]

    @staticmethod
    def _parse_line(line: bytes) -> Delivery | None:
        try:
            return Delivery.from_json(line)
        except (ValueError, TypeError) as e:
            log.error("enqueue journal: skipped an unreadable line (%s)", e)
            return None

    def journaled(self) -> list[Delivery]:
        """Entries still only in the journal (not yet absorbed), in queue order."""
        if self.journal.is_empty():
            return []
        return sorted(self._parse(self.journal.lines()), key=_order)

    def _before_removing(self) -> None:
        """An entry file may go only when the journal cannot bring it back."""
        if not self.journal.is_empty():
            self.absorb()

    def delivered(self, entry: Delivery) -> None:
        self._before_removing()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path(entry.id))
        fsync_dir(self.dir)

    def mark_inbound_done(self, entry: Delivery) -> None:
        """Mark the inbound message this entry answers as done (a no-op when it is, as
        it nearly always is): a re-run of that message then cannot queue a second reply
        after this one is delivered and gone."""
        from claw.delivery.inbox import Inbox

        if self._inbox is None:
            self._inbox = Inbox(self.home)  # kept: it reads the journal incrementally
        with contextlib.suppress(NotFound):
            self._inbox.done(entry.inbound_id or "", f"answered: {entry.id}")

    def mark_origin_done(self, entry: Delivery, outcome: str) -> None:
        """Record that the scheduled occurrence this entry comes from has been sent (or
        purged), durably, before the entry goes: see claw.delivery.origins."""
        from claw.delivery.origins import OriginLog

        if entry.origin:
            OriginLog(self.dir).record(entry.origin, entry.id, outcome)

    def fail(self, entry: Delivery, reason: str, error: str | None = None) -> None:
        """Park the entry in failed/: the copy there is durable before the pending one goes
        (a crash in between leaves both; `load` then drops the pending copy)."""
        entry.state, entry.failed_reason, entry.failed_at = "failed", reason, time.time()
        if error is not None:
            entry.last_error = error
        atomic_write_bytes(self.path(entry.id, failed=True), entry.to_json())
        self.delivered(entry)

    def retry(self, entry_id: str) -> Delivery:
        """Back from failed/ with its attempts reset, due now."""
        src = self.path(entry_id, failed=True)
        try:
            entry = Delivery.from_json(src.read_bytes())
        except FileNotFoundError:
            raise NotFound(
                f"no failed queue entry {entry_id!r}", hint="`claw queue list --failed` shows them"
            ) from None
        entry.state, entry.attempts, entry.next_attempt_at = "pending", 0, 0.0
        entry.failed_reason = entry.failed_at = None
        self.save(entry)
        src.unlink()
        fsync_dir(self.failed_dir)
        return entry

    def remove(self, entry_id: str, *, failed: bool, origin: str | None = None) -> bool:
        """Delete an entry for good; one from a scheduled send (`origin`) is recorded
        first, so the sender's retry after a crash does not queue it again."""
        if not failed:
            self._before_removing()
        if origin and self.path(entry_id, failed=failed).exists():
            self.mark_origin_done(Delivery(entry_id, "", "", [], origin=origin), "purged")
        try:
            os.unlink(self.path(entry_id, failed=failed))
        except FileNotFoundError:
            return False
        fsync_dir(self.failed_dir if failed else self.dir)
        return True

    # -- reading ---------------------------------------------------------------------
    # The journal is read before the entry files: an absorb in between moves an entry
    # from the journal to its file, and in this order a reader sees it in one or the
    # other (in the opposite order it could miss it in both, and call it delivered).
    def get(self, entry_id: str) -> Delivery:
        entry = self.load(entry_id)
        if entry is not None:
            return entry
        with contextlib.suppress(FileNotFoundError):
            return Delivery.from_json(self.path(entry_id, failed=True).read_bytes())
        raise NotFound(f"no queue entry {entry_id!r}", hint="`claw queue list` shows the entries")

    def exists(self, entry_id: str) -> bool:
        """Pending: a line in the journal, or an entry file."""
        return self._journaled(entry_id) is not None or self.path(entry_id).exists()

    def _journaled(self, entry_id: str) -> Delivery | None:
        """The entry if the journal holds it; only lines that mention the id are parsed
        (a line torn by a crash may mention it too, and is not an entry)."""
        if self.journal.is_empty():
            return None
        needle = f'"id":"{validate_id(entry_id)}"'.encode()
        for line in self.journal.lines():
            if needle in line and (entry := self._parse_line(line)) and entry.id == entry_id:
                return entry
        return None

    def ids(self, *, failed: bool = False) -> list[str]:
        """Entry ids, the journal's included (other files ignored), sorted by id: names
        only, no file is read (`entries()` gives the delivery order)."""
        if failed:
            return self._file_ids(failed=True)
        journaled = self._journaled_by_id()
        ids = self._file_ids()
        return sorted(journaled.keys() | set(ids)) if journaled else ids

    def _file_ids(self, *, failed: bool = False) -> list[str]:
        """Ids of the entry files (names only: no file is opened)."""
        directory = self.failed_dir if failed else self.dir
        cut = len(SUFFIX)
        names = (n[:-cut] for n in os.listdir(directory) if n.endswith(SUFFIX))
        return sorted(i for i in names if ID_RE.fullmatch(i))

    def _journaled_by_id(self) -> dict[str, Delivery]:
        return {e.id: e for e in self.journaled()}

    def load(self, entry_id: str, *, failed: bool = False) -> Delivery | None:
        """One entry (its file's state when it has one), or None if it is gone; a corrupt
        file is parked in failed/."""
        entry = self._load_file(entry_id, failed=failed)
        if entry is not None or failed:
            return entry
        # Not in the journal: it may have been absorbed since the first look.
        return self._journaled(entry_id) or self._load_file(entry_id, failed=False)

    def _load_file(self, entry_id: str, *, failed: bool) -> Delivery | None:
        path = self.path(entry_id, failed=failed)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            return Delivery.from_json(raw)
        except (ValueError, TypeError) as e:
            if not failed:
                self._park_corrupt(path, e)
            return None

    def entries(self, *, failed: bool = False) -> list[Delivery]:
        journaled = {} if failed else self._journaled_by_id()
        out = []
        for entry_id in self._file_ids(failed=failed):
            entry = self._load_file(entry_id, failed=failed)
            if entry is not None:
                journaled.pop(entry_id, None)  # the file's state is the newer one
                out.append(entry)
        return sorted(out + list(journaled.values()), key=_order)

    def recover(self) -> list[Delivery]:
        """At start-up (holding the deliverer lock): remove orphaned temp files (never
        delivered; only those older than TMP_GRACE_S, since writers take no lock), drop
        pending copies of entries already failed, return the rest in queue order.

        It reads every pending entry once, so it is written for speed (100,000 entries in
        well under 2 s): plain string paths and os.read, the id taken from the file name.
        """
        self.absorb()
        cutoff = time.time() - TMP_GRACE_S
        for directory in (self.dir, self.failed_dir):
            for name in os.listdir(directory):
                if not name.startswith(TMP_PREFIX):
                    continue
                with contextlib.suppress(FileNotFoundError):
                    # A young temp file may be another process's enqueue, mid-write.
                    if (directory / name).stat().st_mtime < cutoff:
                        os.unlink(directory / name)
                        log.info("removed an orphaned temp file %s", name)
        failed = set(self._file_ids(failed=True))
        entries = []
        base = f"{self.dir}{os.sep}"
        for entry_id in self._file_ids():
            if entry_id in failed:
                self.remove(entry_id, failed=False)
                continue
            path = base + entry_id + SUFFIX
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                raw = _read_all(fd)
            finally:
                os.close(fd)
            try:
                entries.append(Delivery.from_json(raw, checked_id=True))
            except (ValueError, TypeError) as e:
                self._park_corrupt(Path(path), e)
        entries.sort(key=_order)
        return entries

    def stats(self, now: float | None = None) -> Stats:
        now = time.time() if now is None else now
        pending = self.entries()
        failed = self.entries(failed=True)
        oldest = min((e.created_at for e in pending), default=None)
        return Stats(
            depth=len(pending),
            due=sum(1 for e in pending if e.next_attempt_at <= now),
            sending=sum(1 for e in pending if e.state == "sending"),
            failed=len(failed),
            oldest_age_s=None if oldest is None else round(now - oldest, 3),
            failures_by_reason=dict(Counter(_reason(e) for e in failed)),
        )

    def _park_corrupt(self, path: Path, error: Exception) -> None:
        target = self.failed_dir / f"{path.stem}.corrupt"
        with contextlib.suppress(FileNotFoundError):
            os.replace(path, target)
            fsync_dir(self.failed_dir)
            fsync_dir(self.dir)
            log.error("queue entry %s is unreadable (%s); kept as %s", path.name, error, target)


def _order(entry: Delivery) -> tuple[int, str]:
    return entry.order


def _write_new(path: str, data: bytes, *, fsync: bool = True) -> bool:
    """Temp file, fsync, then link it in under `path` unless `path` exists (a link never
    replaces: a deliverer may have just written the entry as `sending`, and an absorb must
    not turn it back). The caller fsyncs the directory (once for a batch). False if the
    entry was there already."""
    directory, name = os.path.split(path)
    tmp = os.path.join(directory, f"{TMP_PREFIX}{name}.{os.urandom(6).hex()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            write_all(fd, data, tmp)
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)


def _read_all(fd: int) -> bytes:
    chunk = os.read(fd, 65536)
    if len(chunk) < 65536:
        return chunk  # the usual case: one read, no second call to see the end
    chunks = [chunk]
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _reason(entry: Delivery) -> str:
    """`permanent: http_404` style: the class of failure, for `claw queue stats`."""
    detail = (entry.last_error or "").split(":", 1)[0].strip()
    return f"{entry.failed_reason or 'unknown'}: {detail}" if detail else str(entry.failed_reason)
