"""The enqueue journal, `queue/journal.jsonl`: the write-ahead log in front of the entry files.

Why it exists: making a new entry file durable costs two fsyncs (the file, then its
directory after the rename), and on a virtual disk each is a journal commit of 0.2–0.5 ms.
Appending one line to a file whose name is already durable costs one `fdatasync`. So
`QueueStore.enqueue` appends the entry here and returns once that line is on disk; the
deliverer (the daemon's worker, `claw queue flush`) later *absorbs* the journal: every line
becomes its own entry file (fsynced, one directory fsync for the whole batch), and only then
is the journal truncated. Until it is absorbed, readers see a journaled entry as pending.

Locking is `flock` on the journal itself: appenders take it shared around their write, so
concurrent enqueuers (threads or processes) append side by side; the absorber takes it
exclusive, so no line can land between reading the journal and truncating it. Threads of
one process share their fdatasyncs (group commit).

A line is one JSON object ending in a newline; a reader ignores a last line without its
newline (an append in progress) and skips a line that does not parse (torn by a power cut,
or by a SIGKILL, which Linux lets stop a write at a page boundary; the next append ends it
with a newline first, and its enqueue never returned, so nothing acknowledged is lost).
One rule keeps delivery exactly-once: an entry's file may be removed only once the journal
no longer holds the entry, or a later absorb would bring a delivered entry back.
`QueueStore` absorbs before every removal.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from claw.state.jsonl import append_fd

log = logging.getLogger("claw.delivery")
NAME = "journal.jsonl"
FILE_MODE = 0o600


class EnqueueJournal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._ready = str(path) in _durable  # the file exists and its name is durable

    def append(self, line: bytes) -> None:
        """Append one record (a JSON object without a newline); durable on return."""
        if not self._ready:
            self._create()
        data = line + b"\n"
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND)
        except FileNotFoundError:  # removed by hand since: make it again, durably
            self._create()
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            append_fd(fd, data, self.path, sync=None)
            # The lock only has to cover the write: an absorb that takes this line from
            # now on makes it durable itself (entry file synced before the truncation).
            fcntl.flock(fd, fcntl.LOCK_UN)
            _group(self.path).sync(fd)
        finally:
            os.close(fd)

    def _create(self) -> None:
        """Create the journal once, its name fsynced before any entry relies on it. The
        directory's own flock makes a second process wait until that fsync is done, so
        nobody appends to a journal whose name a power cut could still lose."""
        dfd = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(dfd, fcntl.LOCK_EX)
            if not self.path.exists():
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, FILE_MODE))
                os.fsync(dfd)
        finally:
            os.close(dfd)
        self._ready = True
        _durable.add(str(self.path))

    def is_empty(self) -> bool:
        try:
            return os.stat(self.path).st_size == 0
        except FileNotFoundError:
            return True

    def lines(self) -> list[bytes]:
        """The complete lines now in the journal (no lock: appends are whole writes, and
        an unfinished last line is left for the next look)."""
        try:
            with open(self.path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            return []
        return list(_complete_lines(raw))

    def absorb(self, materialize: Callable[[list[bytes]], None]) -> int:
        """Hand every line to `materialize` (which makes them durable elsewhere), then
        empty the journal. Returns how many lines there were."""
        if self.is_empty():
            return 0
        fd = os.open(self.path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            raw = _read_all(fd)
            lines = list(_complete_lines(raw, final=True))
            if lines:
                materialize(lines)
            os.ftruncate(fd, 0)
            os.fsync(fd)
            return len(lines)
        finally:
            os.close(fd)


class _GroupCommit:
    """One fdatasync for the appends of several threads (group commit): fdatasync covers
    the whole file, so a thread whose line an earlier fdatasync already covered returns
    without its own. Per process and journal."""

    def __init__(self) -> None:
        self._mu = threading.Lock()
        self._sync_mu = threading.Lock()
        self._written = 0  # appends completed (numbered after their write returned)
        self._synced = 0  # appends known durable

    def sync(self, fd: int) -> None:
        with self._mu:
            self._written += 1
            mine = self._written
        with self._sync_mu:
            if self._synced >= mine:
                return  # a sync that started after our write covered it
            with self._mu:
                upto = self._written
            os.fdatasync(fd)
            self._synced = upto


_durable: set[str] = set()  # journals this process has seen created, their names fsynced
_groups: dict[str, _GroupCommit] = {}
_groups_mu = threading.Lock()


def _group(path: Path) -> _GroupCommit:
    with _groups_mu:
        return _groups.setdefault(str(path), _GroupCommit())


def _complete_lines(raw: bytes, *, final: bool = False) -> Iterator[bytes]:
    """Non-empty lines; the last one only if it ends in a newline. With `final` (the
    absorber holds the lock, so no append is in progress) an unterminated tail is a line
    torn by a crash: reported, and dropped with the rest of the journal."""
    lines = raw.split(b"\n")
    tail = lines.pop()  # b"" when the journal ends in a newline, as it should
    if tail and final:
        log.warning("enqueue journal: dropped a torn last line (%d bytes)", len(tail))
    yield from (line for line in lines if line.strip())


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)
