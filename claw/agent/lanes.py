"""Global lanes: caps on how many turns of each kind run at once in this process.

A turn first takes its session lane (a cross-process file lock: turns on one session never
interleave, whoever runs them), then a slot in its global lane (`main` for people,
`cron`, `heartbeat`), so a burst of cron jobs cannot starve conversations.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator

log = logging.getLogger(__name__)

DEFAULT_SIZES = {"main": 4, "cron": 1, "heartbeat": 1}
WAIT_LOG_S = 2.0


class Lanes:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sems: dict[str, tuple[int, threading.BoundedSemaphore]] = {}
        self.active: dict[str, int] = {}

    def _sem(self, lane: str, size: int) -> threading.BoundedSemaphore:
        with self._lock:
            current = self._sems.get(lane)
            if current is None or current[0] != size:
                # A resize (config reload) applies to turns that start from now on.
                current = (size, threading.BoundedSemaphore(size))
                self._sems[lane] = current
            return current[1]

    @contextlib.contextmanager
    def slot(self, lane: str, size: int | None = None) -> Iterator[None]:
        sem = self._sem(lane, size or DEFAULT_SIZES.get(lane, 1))
        t0 = time.monotonic()
        if not sem.acquire(timeout=WAIT_LOG_S):
            log.warning("lane %s is full; waiting for a slot", lane)
            sem.acquire()
            log.warning("waited %.1fs for a %s lane slot", time.monotonic() - t0, lane)
        with self._lock:
            self.active[lane] = self.active.get(lane, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                self.active[lane] -= 1
            sem.release()


LANES = Lanes()
