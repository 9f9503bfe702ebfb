"""The daemon's cron scheduler: a timer heap of next runs, one sleep until the earliest.

Nothing is scanned periodically. At start `cron/jobs.json` is read once; after that the
scheduler learns of changes (`claw cron add`/`rm`/`enable` from any shell) through the
filesystem (watchfiles: inotify on Linux) and otherwise sleeps until the next due job.
Due jobs run in worker threads, several jobs at once but never two runs of one job.

Catch-up: a run found more than `MISSED_AFTER_S` late (the daemon was down, or the machine
asleep) is a missed run. With `catch_up = "once"` (the default) it runs once, however many
times it was missed; with `"skip"` it does not run and the job moves on to its next time.
Either way the next run is computed from now, so a backlog never builds up.
"""

from __future__ import annotations

import heapq
import logging
import math
import threading
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, TypeVar

import trio

from claw.cron.jobs import Job, JobStore
from claw.cron.runner import OnDisabled, RunOutcome, run_job, skip_missed
from claw.cron.schedule import format_instant
from claw.errors import ClawError
from claw.state.config import Config
from claw.state.home import Home, make_private_dir
from claw.state.watch import Changes, watch_dir

log = logging.getLogger("claw.cron")
T = TypeVar("T")
Offload = Callable[[Callable[[], T]], Awaitable[T]]
MISSED_AFTER_S = 60.0  # later than this, a run counts as missed (catch-up policy applies)
# trio sleeps on the monotonic clock, which stops while the machine is suspended, and the
# wall clock can be stepped: re-read the wall clock at least this often (one comparison).
WALL_CHECK_S = 300.0
JOBS_FILE = "jobs.json"


class Scheduler:
    def __init__(
        self,
        home: Home,
        config: Config | Callable[[], Config],
        *,
        clock: Callable[[], float] = time.time,
        on_disabled: OnDisabled | None = None,
        threads: int = 4,
        watch: bool = True,
        offload: Offload[Any] | None = None,
    ) -> None:
        """`config` is the daemon's live Config (updated in place on reload) or a function
        returning the current one. `clock` is the wall clock (epoch seconds); tests pass a
        fake aligned with trio's MockClock, `watch=False` and an inline `offload`."""
        self.home = home
        self._config = config
        self.clock = clock
        self.on_disabled = on_disabled
        self.store = JobStore(home)
        self.limiter = trio.CapacityLimiter(threads)
        self.watch = watch
        self._offload = offload
        self.jobs: dict[str, Job] = {}
        self.heap: list[tuple[float, str]] = []
        self.due: dict[str, float] = {}  # the live heap item of each scheduled job
        self.fired: dict[str, float] = {}  # the due time of each job's latest run
        self.running: set[str] = set()
        self.ran = 0
        self.active = False
        self._wake = trio.Event()
        self._reloading = trio.Lock()  # reads applied in the order they were made

    def config(self) -> Config:
        return self._config if isinstance(self._config, Config) else self._config()

    # -- lifecycle -------------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Schedule until cancelled (a run in flight is asked to stop and then recorded)."""
        await trio.to_thread.run_sync(make_private_dir, self.store.dir)
        async with trio.open_nursery() as nursery:
            if self.watch:
                # Watch first, then read: a change made in between is seen, never missed.
                await nursery.start(self._watch)
            await self.reload()
            self.active = True
            log.info("cron scheduler: %d job(s), %d scheduled", len(self.jobs), len(self.due))
            task_status.started()
            try:
                await self._loop(nursery)
            finally:
                self.active = False

    def status(self) -> dict[str, Any]:
        nxt = min(self.due.items(), key=lambda kv: kv[1], default=None)
        return {
            "running": self.active,
            "jobs": len(self.jobs),
            "scheduled": len(self.due),
            "in_flight": sorted(self.running),
            "next_job": nxt[0] if nxt else None,
            "next_run_in_s": round(nxt[1] - self.clock(), 3) if nxt else None,
            "runs": self.ran,
        }

    # -- the schedule ----------------------------------------------------------------
    async def reload(self) -> None:
        """Re-read jobs.json and reschedule what changed (a broken file keeps the old set)."""
        async with self._reloading:
            try:
                jobs = await trio.to_thread.run_sync(self.store.load)
            except ClawError as e:
                log.error("cron: %s; keeping the jobs already loaded", e.message)
                return
            self._replace(jobs)

    def _replace(self, jobs: dict[str, Job]) -> None:
        self.jobs = jobs
        for name in list(self.due):
            if name not in jobs:
                del self.due[name]
        for job in jobs.values():
            if job.name in self.running:
                continue  # rescheduled from its own outcome when the run ends
            self._apply(job)
        self._wake.set()

    def _apply(self, job: Job) -> None:
        due = job.next_run_at
        if not job.enabled or due is None:
            self.due.pop(job.name, None)
            return
        if due <= self.fired.get(job.name, -math.inf):
            return  # read before its last run was recorded: stale
        if self.due.get(job.name) != due:
            self.due[job.name] = due
            heapq.heappush(self.heap, (due, job.name))

    async def _loop(self, nursery: trio.Nursery) -> None:
        while True:
            now = self.clock()
            while self.heap and self.heap[0][0] <= now:
                due, name = heapq.heappop(self.heap)
                job = self.jobs.get(name)
                if self.due.get(name) != due or job is None or name in self.running:
                    continue  # stale: the job moved on, went away, or is running
                del self.due[name]
                self.fired[name] = due
                self.running.add(name)
                nursery.start_soon(self._fire, job, due)
            wait = self.heap[0][0] - now if self.heap else math.inf
            with trio.move_on_after(min(max(wait, 0.0), WALL_CHECK_S)):
                await self._wake.wait()
            self._wake = trio.Event()

    async def _fire(self, job: Job, due: float) -> None:
        outcome: RunOutcome | None = None
        try:
            outcome = await self._attempt(job, due)
        except Exception:
            log.exception("cron job %s: could not run", job.name)
        finally:
            self.running.discard(job.name)
        if outcome is None:  # the state on disk is unchanged: try again at the next time
            job.next_run_at = job.schedule.next_after(max(due, self.clock()))
        elif outcome.finished.job is None:  # deleted (--delete-after-run, or rm meanwhile)
            self.jobs.pop(job.name, None)
            return
        else:
            job = outcome.finished.job
        self.jobs[job.name] = job
        self._apply(job)
        self._wake.set()

    async def _attempt(self, job: Job, due: float) -> RunOutcome:
        config = self.config()
        now = self.clock()
        missed = now - due > MISSED_AFTER_S
        if missed and (job.catch_up or config.get("cron.catch_up") or "once") == "skip":
            return await self._run(partial(skip_missed, self.home, config, job, due, now=now))
        if missed:
            log.info("cron job %s: catching up a run missed at %s", job.name, format_instant(due))
        abort = threading.Event()
        work = partial(
            run_job,
            self.home,
            config,
            job,
            trigger="catch-up" if missed else "schedule",
            due=due,
            clock=self.clock,
            abort=abort,
            on_disabled=self._disabled,
        )
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_abort_when_cancelled, abort)  # a cancelled run is asked to stop
            outcome = await self._run(work)
            nursery.cancel_scope.cancel()
        self.ran += 1
        return outcome

    async def _run(self, work: Callable[[], RunOutcome]) -> RunOutcome:
        if self._offload is not None:
            return await self._offload(work)
        return await trio.to_thread.run_sync(work, limiter=self.limiter)

    def _disabled(self, job: Job, record: dict[str, Any]) -> None:
        """Called in the worker thread; the callback runs in trio (it may broadcast)."""
        if self.on_disabled is None:
            return
        callback = self.on_disabled
        try:
            trio.from_thread.run_sync(callback, job, record)
        except RuntimeError:  # not in a trio worker thread (an inline offload)
            callback(job, record)

    # -- other processes' changes ----------------------------------------------------
    async def _watch(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        async def changed(changes: Changes) -> None:
            await self.reload()

        await watch_dir(
            self.store.dir, lambda name: name == JOBS_FILE, changed, task_status=task_status
        )


def disabled_event(job: Job, record: dict[str, Any]) -> dict[str, Any]:
    """The `cron.disabled` gateway event's params: which job, after how many failures, why."""
    return {
        "type": "cron.disabled",
        "job": job.name,
        "failures": job.failures,
        "error": record.get("error"),
        "reason": job.disabled_reason,
    }


async def _abort_when_cancelled(abort: threading.Event) -> None:
    """The worker thread cannot be cancelled; a cancelled scheduler stops the turn by flag."""
    try:
        await trio.sleep_forever()
    finally:
        abort.set()
