"""The session lane: one turn at a time per session, across processes.

A `claw send` from a shell and a daemon turn on the same session take the same file lock,
so their messages never interleave in the transcript. A waiter says so after 2 s.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from claw.errors import SessionBusy
from claw.state.locks import FileLock, Timeout, file_lock
from claw.state.names import encode_component
from claw.state.sessions import SessionStore

log = logging.getLogger(__name__)

WAIT_LOG_S = 2.0


def _lane_lock(store: SessionStore, key: str, timeout: float = -1) -> FileLock:
    return file_lock(store.lock_dir / f"{encode_component(key)}.turn.lock", timeout=timeout)


def lane_busy(store: SessionStore, key: str) -> bool:
    """Is a turn running in this session right now, in any process? (It holds the lane.)"""
    lock = _lane_lock(store, key, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        return True
    lock.release()
    return False


@contextlib.contextmanager
def idle_lane(store: SessionStore, key: str) -> Iterator[None]:
    """Hold the session's lane for a clear or a delete, refusing (exit 1) when a turn runs
    on it in any process: cleared mid-turn, its user message would be archived and its
    reply would start the fresh transcript, an answer to nothing."""
    lock = _lane_lock(store, key, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise SessionBusy(
            f"a turn is running on session {key!r}", hint="try again when it has ended"
        ) from None
    try:
        yield
    finally:
        lock.release()


T = TypeVar("T")


def when_idle(store: SessionStore, key: str, action: Callable[[str], T]) -> T:
    """`action(key)` (a clear, a delete) under `idle_lane`."""
    with idle_lane(store, key):
        return action(key)


class SessionLane:
    """Held for a whole turn. With an `abort` flag, waiting for another process's turn
    to end stops (Stopped) as soon as the flag is set."""

    def __init__(self, store: SessionStore, key: str, abort: threading.Event | None = None) -> None:
        self.lock = _lane_lock(store, key)
        self.key = key
        self.abort = abort

    def _acquire(self, timeout: float | None) -> bool:
        try:
            self.lock.acquire(timeout=-1 if timeout is None else timeout)
        except Timeout:
            return False
        return True

    def __enter__(self) -> SessionLane:
        from claw.agent.lanes import wait_for

        t0 = time.monotonic()
        if not wait_for(self._acquire, WAIT_LOG_S, self.abort):
            log.warning("session %s is busy with another turn; waiting", self.key)
            wait_for(self._acquire, None, self.abort)
            log.warning("waited %.1fs for session %s", time.monotonic() - t0, self.key)
        return self

    def __exit__(self, *exc: object) -> None:
        self.lock.release()


@contextlib.contextmanager
def turn_lanes(
    store: SessionStore, key: str, lane: str, config: Any, abort: threading.Event
) -> Iterator[None]:
    """What a turn holds while it runs: its session lane, then a slot of global `lane`
    ("": the caller holds one already, as the supervisor does for its subagents). Raises
    Stopped if `abort` is set while waiting for either."""
    from claw.agent.lanes import LANES

    slot = (
        LANES.slot(lane, config.get(f"lanes.{lane}"), abort) if lane else contextlib.nullcontext()
    )
    with SessionLane(store, key, abort), slot:
        yield
