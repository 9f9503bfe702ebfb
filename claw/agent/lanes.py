"""Global lanes: caps on how many turns of each kind run at once in this process.

A turn first takes its session lane (a cross-process file lock: turns on one session never
interleave, whoever runs them), then a slot in its global lane (`main` for people,
`cron`, `heartbeat`, `subagent` for the supervisor's subagents), so a burst of cron jobs
cannot starve conversations.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator

from claw.agent.events import AgentEnd, TurnResult
from claw.agent.pump import POLL_S, Stopped
from claw.errors import TimedOut

log = logging.getLogger(__name__)

DEFAULT_SIZES = {"main": 4, "cron": 1, "heartbeat": 1, "subagent": 3}
WAIT_LOG_S = 2.0  # a wait longer than this is worth a log line...
LOG_EVERY_S = 10.0  # ...but at most one per lane this often: an overloaded daemon would
# otherwise write two lines for every turn it runs, adding to its own load.


class Lanes:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sems: dict[str, tuple[int, threading.BoundedSemaphore]] = {}
        self.active: dict[str, int] = {}
        self._waits: dict[str, tuple[float, int, float]] = {}  # lane: (logged at, n, max s)

    def _sem(self, lane: str, size: int) -> threading.BoundedSemaphore:
        with self._lock:
            current = self._sems.get(lane)
            if current is None or current[0] != size:
                # A resize (config reload) applies to turns that start from now on.
                current = (size, threading.BoundedSemaphore(size))
                self._sems[lane] = current
            return current[1]

    def _note_wait(self, lane: str, waited: float) -> None:
        """Log a long wait for a slot, folding the waits of the last LOG_EVERY_S into one."""
        now = time.monotonic()
        with self._lock:
            logged, n, longest = self._waits.get(lane, (-LOG_EVERY_S, 0, 0.0))
            n, longest = n + 1, max(longest, waited)
            due = now - logged >= LOG_EVERY_S
            self._waits[lane] = (now, 0, 0.0) if due else (logged, n, longest)
        if due:
            log.warning(
                "lane %s is full: %d turn(s) waited for a slot, up to %.1fs "
                "(raise [lanes] %s if this persists)",
                lane, n, longest, lane,
            )  # fmt: skip

    @contextlib.contextmanager
    def slot(
        self, lane: str, size: int | None = None, abort: threading.Event | None = None
    ) -> Iterator[None]:
        """Hold a slot of `lane`; raises Stopped if `abort` is set while waiting for one
        (a turn queued behind a full lane can be aborted or drained at once)."""
        sem = self._sem(lane, size or DEFAULT_SIZES.get(lane, 1))
        t0 = time.monotonic()
        if not wait_for(sem.acquire, WAIT_LOG_S, abort):
            wait_for(sem.acquire, None, abort)
            self._note_wait(lane, time.monotonic() - t0)
        with self._lock:
            self.active[lane] = self.active.get(lane, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                self.active[lane] -= 1
            sem.release()


LANES = Lanes()


def wait_for(
    acquire: Callable[..., bool], limit_s: float | None, abort: threading.Event | None
) -> bool:
    """`acquire(timeout=...)` for up to `limit_s` (None: no limit), in slices of POLL_S
    when there is an `abort` flag to watch: raises Stopped as soon as it is set."""
    if abort is None:
        return acquire(timeout=limit_s)
    deadline = None if limit_s is None else time.monotonic() + limit_s
    while True:
        if abort.is_set():
            raise Stopped()
        left = POLL_S if deadline is None else min(POLL_S, deadline - time.monotonic())
        if left <= 0:
            return False
        if acquire(timeout=left):
            return True


class TurnTimeout(TimedOut):
    """The turn ran past its time limit; partial text is kept as interrupted."""


class TurnSignal(threading.Event):
    """A turn's stop flag: set by an abort (the caller's event, Ctrl-C, chat.abort), and
    found set once the deadline has passed whenever anyone polls it.

    Every waiter in the loop polls (`is_set()` between stream chunks, while a tool runs),
    so the deadline needs no timer thread per turn; blocking waits are bounded by the
    remaining time passed to them (`remaining()`).
    """

    def __init__(self, timeout_s: float, external: threading.Event | None = None) -> None:
        super().__init__()
        self.deadline = time.monotonic() + timeout_s
        self.external = external
        self.timed_out = False

    def is_set(self) -> bool:
        if super().is_set():
            return True
        if self.external is not None and self.external.is_set():
            self.set()
            return True
        if time.monotonic() >= self.deadline:
            self.timed_out = True
            self.set()
            return True
        return False

    def remaining(self) -> float:
        return max(0.001, self.deadline - time.monotonic())


def stopped_waiting(key: str, model: str, signal: TurnSignal, timeout: float) -> AgentEnd:
    """The end of a turn aborted (or out of time) while it waited for its session or a
    lane slot: it had not begun, so nothing was recorded and no hook ran."""
    if signal.timed_out:
        raise TurnTimeout(
            f"the turn waited longer than {timeout:g}s for its session or a lane slot",
            hint="raise model.timeout_s or [lanes] sizes, or retry when the daemon is less busy",
        )
    return AgentEnd(TurnResult(key, "", "", model, status="interrupted"), "interrupted")
