"""The enqueue journal, `queue/journal.jsonl`: the write-ahead log in front of the entry files.

Why it exists: making a new entry file durable costs two fsyncs (the file, then its
directory after the rename), and on a virtual disk each is a journal commit of 0.2–0.5 ms.
Appending one line to a file whose name is already durable costs one `fdatasync`. So
`QueueStore.enqueue` appends the entry here and returns once that line is on disk; the
deliverer (the daemon's worker, `claw queue flush`) later *absorbs* the journal: every line
becomes its own entry file (fsynced, one directory fsync for the whole batch), and only then
is the journal truncated. Until it is absorbed, readers see a journaled entry as pending.

Locking is `flock` on the journal itself: appenders take it shared, so concurrent enqueuers
(threads or processes) append side by side and their fdatasyncs share the file system's
commits; the absorber takes it exclusive, so no line can land between reading the journal
and truncating it.

A line is one JSON object ending in a newline; a reader ignores a last line without its
newline (an append in progress) and skips a line that does not parse (torn by a power cut,
which the next append ends with a newline first). One rule keeps delivery exactly-once:
an entry's file may be removed only once the journal no longer holds the entry, or a later
absorb would bring a delivered entry back. `QueueStore` absorbs before every removal.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from claw.state.jsonl import append_fd

log = logging.getLogger("claw.delivery")
NAME = "journal.jsonl"
FILE_MODE = 0o600


class EnqueueJournal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._ready = False  # the file exists and its name is durable

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
            append_fd(fd, data, self.path, sync=os.fdatasync)
        finally:
            os.close(fd)  # releases the lock

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
