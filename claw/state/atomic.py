"""Atomic file replacement: readers see the old file or the new one, never half of either.

The recipe is the only one that survives a power cut on Linux: write a temp file in the
same directory, flush and fsync it, rename it over the target, then fsync the directory so
the rename itself is durable.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import sys
from pathlib import Path
from typing import Any

TMP_PREFIX = ".tmp-"


def fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in `path` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes, path: object) -> None:
    """One write of `data`; a short write (a full disk) is an error, never half a record."""
    if os.write(fd, data) != len(data):
        raise OSError(errno.ENOSPC, "short write (disk full?)", str(path))


def sync_filesystem(path: Path) -> bool:
    """syncfs(2) on the file system holding `path`: everything written to it so far is
    durable on return, data and names alike. One call is much cheaper than an fsync per
    file when many files were just written (a batch). False where there is no syncfs
    (not Linux): the caller then fsyncs each file."""
    syncfs = _syncfs()
    if syncfs is None:
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        if syncfs(fd) != 0:
            import ctypes

            err = ctypes.get_errno()
            raise OSError(err, f"syncfs {path}: {os.strerror(err)}")
    finally:
        os.close(fd)
    return True


def has_syncfs() -> bool:
    return _syncfs() is not None


@functools.cache
def _syncfs() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    import ctypes  # here, not at the top: most commands never need it (~3 ms)

    return getattr(ctypes.CDLL(None, use_errno=True), "syncfs", None)


def atomic_write_bytes(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Replace `path` with `data` atomically and durably; the file gets `mode`."""
    path = Path(path)
    directory = path.parent
    fd, tmp = _mkstemp(directory, path.name, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(directory)


def atomic_write_text(path: Path, text: str, *, mode: int = 0o600) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), mode=mode)


def _mkstemp(directory: Path, name: str, mode: int) -> tuple[int, str]:
    # os.open with O_EXCL and an explicit mode: the temp file never exists with looser
    # permissions than the target, even for a moment.
    for _ in range(100):
        tmp = directory / f"{TMP_PREFIX}{name}.{os.urandom(6).hex()}"
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), str(tmp)
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file in {directory}")
