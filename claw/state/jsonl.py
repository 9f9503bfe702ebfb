"""Append-only JSON Lines files that survive crashes and concurrent writers.

Writers: each record is one `write()` of one line on an O_APPEND descriptor, under the
file's lock, then fsync. If a crash left a torn last line, the next append first ends it
with a newline, so the torn fragment stays one bad line instead of corrupting the new
record.

Readers: a line that does not parse (a torn tail after a crash, or damage) is skipped and
reported; every other line is still returned. `read_tail` reads only the end of the file,
so showing the last N messages does not depend on how long the transcript is.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from claw.state.atomic import write_all
from claw.state.locks import FileLock, lock_for

log = logging.getLogger(__name__)

FILE_MODE = 0o600
_BLOCK = 64 * 1024


def dumps(record: dict[str, Any]) -> bytes:
    try:
        return (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
    except UnicodeEncodeError:
        # A lone surrogate (a JSON `\ud83d` escape from a provider or client, undecodable
        # argv bytes) has no UTF-8 form; escaped as `\uXXXX` it is stored and read back exactly.
        return (json.dumps(record, separators=(",", ":")) + "\n").encode("ascii")


def append_records(
    path: Path,
    records: Iterable[dict[str, Any]],
    *,
    lock: FileLock | None = None,
    fsync: bool = True,
) -> None:
    """Append records under a lock (default: the file's own), in one write; durable on return."""
    data = b"".join(dumps(r) for r in records)
    if not data:
        return
    with lock or lock_for(path):
        append_locked(path, data, fsync=fsync)


def append_locked(path: Path, data: bytes, *, fsync: bool = True) -> tuple[int, int]:
    """Append raw lines; the caller holds the lock. Returns the sizes before and after."""
    # O_RDWR (not O_WRONLY) so pread can look at the last byte; O_APPEND still puts
    # every write at the end.
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, FILE_MODE)
    try:
        return append_fd(fd, data, path, sync=os.fsync if fsync else None)
    finally:
        os.close(fd)


def append_fd(
    fd: int, data: bytes, path: object, *, sync: Callable[[int], None] | None
) -> tuple[int, int]:
    """Append lines to an O_RDWR|O_APPEND descriptor, first ending a line torn by a crash
    (so the fragment stays one bad line), then `sync` it. Returns the sizes before and
    after."""
    size = os.fstat(fd).st_size
    if size and os.pread(fd, 1, size - 1) != b"\n":
        data = b"\n" + data
    write_all(fd, data, path)
    if sync is not None:
        sync(fd)
    return size, size + len(data)


@dataclass
class ReadResult:
    records: list[dict[str, Any]] = field(default_factory=list)
    bad_lines: list[int] = field(default_factory=list)  # 1-based line numbers (-1: unknown)


def parse_lines(lines: Iterable[bytes], first_line_no: int = 1) -> ReadResult:
    result = ReadResult()
    for i, raw in enumerate(lines, start=first_line_no):
        if not raw.strip():
            continue
        try:
            # Decoded first: json.loads on bytes sniffs each line's encoding (UTF-16? -32?),
            # a quarter of the parse; claw writes UTF-8 only.
            rec = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            result.bad_lines.append(i)
            continue
        if isinstance(rec, dict):
            result.records.append(rec)
        else:
            result.bad_lines.append(i)
    return result


def read_all(path: Path) -> ReadResult:
    """Every intact record of the file; bad lines are skipped and logged."""
    with open(path, "rb") as f:
        result = parse_lines(f)
    _report(path, result)
    return result


def iter_records(path: Path) -> Iterator[dict[str, Any]]:
    yield from read_all(path).records


def read_tail(path: Path, min_bytes: int, block: int = _BLOCK) -> tuple[ReadResult, bool]:
    """Records in (roughly) the last `min_bytes` (at least `block`) of the file, whole
    lines only.

    Returns (result, reached_start). Line numbers of bad lines are -1 (unknown) unless the
    whole file was read.
    """
    with open(path, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        result, start = read_before(f, size, max(min_bytes, block), name=path)
    return result, start == 0


def read_before(
    f: BinaryIO, end: int, nbytes: int, *, name: object = "file"
) -> tuple[ReadResult, int]:
    """Records of the whole lines among the `nbytes` before offset `end` of the open file
    `f`, and the offset where the first of them starts (0: the file's start).

    A line cut by the window's start is left out: reading on backwards from the returned
    offset gets it whole. So a reader that needs more than it read first parses only the
    bytes before, not the same tail again.
    """
    start = max(0, end - nbytes)
    f.seek(start)
    data = f.read(end - start)
    if start > 0:
        nl = data.find(b"\n")
        if nl < 0:
            return ReadResult(), end  # one line longer than the window: read further back
        start += nl + 1
        data = data[nl + 1 :]
    result = parse_lines(data.split(b"\n"))
    if start > 0:
        result.bad_lines = [-1 for _ in result.bad_lines]
    _report(name, result)
    return result, start


def _report(path: object, result: ReadResult) -> None:
    if result.bad_lines:
        where = ", ".join(str(n) for n in result.bad_lines[:5] if n > 0) or "near the end"
        log.warning("%s: skipped %d unreadable line(s) (%s)", path, len(result.bad_lines), where)
