"""Cross-process locks (filelock), one lock file per protected resource.

Locks are created with `thread_local=False` so a lock taken in one thread can be released
from another (the daemon acquires from trio worker threads).
"""

from __future__ import annotations

from pathlib import Path

from filelock import FileLock, Timeout


def file_lock(path: Path, timeout: float = -1) -> FileLock:
    """A lock on `path` (created 0600); `timeout` < 0 waits forever."""
    return FileLock(str(path), timeout=timeout, thread_local=False, mode=0o600)


def lock_for(target: Path) -> FileLock:
    """The lock guarding `target`: a hidden `.NAME.lock` beside it."""
    return file_lock(target.parent / f".{target.name}.lock")


__all__ = ["FileLock", "Timeout", "file_lock", "lock_for"]
