"""The daemon's heartbeat clock: each agent's chain at its due time, re-checked each tick.

It sleeps until the earliest due time, a heartbeat's or a task reminder's (or at most a
tick, so a busy agent or quiet hours are looked at again a minute later, never queued up).
It watches config.toml, every HEARTBEAT.md and the task list with watchfiles: a config
change is reloaded (through the daemon's reload, the one SIGHUP uses) and any change is
looked at on the next tick, without a restart.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import trio

from claw.errors import ClawError
from claw.heartbeat.runner import Outcome, run_once
from claw.heartbeat.settings import settings_for
from claw.state.config import Config
from claw.state.home import Home, make_private_dir
from claw.state.watch import set_when_cancelled

log = logging.getLogger("claw.heartbeat")
TICK_S = 60.0


class Ticker:
    def __init__(
        self,
        home: Home,
        config: Config,
        *,
        busy: Callable[[str], bool] | None = None,
        reload: Callable[[], Awaitable[None]] | None = None,
        tick_s: float = TICK_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.home, self.config = home, config
        self.busy, self.reload, self.tick_s, self.clock = busy, reload, tick_s, clock
        self.armed_at = clock()
        self.inbox: Any = None  # one journal reader for every tick: it reads only what is new
        self.last: dict[str, Outcome] = {}
        self._wake = trio.Event()

    def kick(self) -> None:
        self._wake.set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._watch)
            wait = await self.tick()  # arms each agent (a first look; never a run)
            task_status.started()
            while True:
                with trio.move_on_after(wait):
                    await self._wake.wait()
                self._wake = trio.Event()
                wait = await self.tick()

    async def tick(self) -> float:
        """Run every enabled agent's chain once; seconds until the next look. A disabled
        agent's heartbeat sends no check-ins, but its due reminders still go out."""
        nearest = math.inf
        remind_at = await trio.to_thread.run_sync(self._next_reminder)
        reminders_due = remind_at is not None and remind_at <= self.clock()
        for agent in self.config.agent_ids():
            try:
                if not settings_for(self.config, agent).enabled and not reminders_due:
                    continue
                out = await trio.to_thread.run_sync(self._run, agent)
            except ClawError as e:  # a bad heartbeat section: say so, keep the others going
                log.error("heartbeat %s: %s", agent, e.message)
                continue
            self.last[agent] = out
            if out.step == "enabled":
                continue  # disabled: only its reminders were due
            if out.outcome == "skipped" and out.step == "interval" and out.next_due_at:
                nearest = min(nearest, out.next_due_at - self.clock())
            else:
                nearest = min(nearest, self.tick_s)
        if remind_at is not None:  # wake for the next reminder; one left waiting (no
            wait = remind_at - self.clock()  # target yet) is looked at again in a tick
            nearest = min(nearest, wait if wait > 0 else self.tick_s)
        return max(1.0, min(nearest, self.tick_s if nearest == math.inf else nearest))

    def _next_reminder(self) -> float | None:
        from claw.tasks.store import TaskStore

        try:
            at = TaskStore(self.home).next_reminder_at()
        except ClawError as e:  # an unreadable task file: the heartbeats go on
            log.error("heartbeat: cannot read the task list: %s", e.message)
            return None
        return None if at is None else at.timestamp()

    def _run(self, agent: str) -> Outcome:
        if self.inbox is None:
            from claw.delivery.inbox import Inbox

            self.inbox = Inbox(self.home)
        return run_once(
            self.home, self.config, agent, armed_at=self.armed_at, busy=self.busy, inbox=self.inbox
        )

    async def _watch(self) -> None:
        """config.toml (the state directory itself, not recursively: the file is replaced
        on every write), each agent's HEARTBEAT.md, and the task list (reminders)."""
        root = self.home.root
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._watch_one, root, False, lambda p: p.name == "config.toml")
            nursery.start_soon(
                self._watch_one, root / "agents", True, lambda p: p.name == "HEARTBEAT.md"
            )
            tasks = root / "tasks"  # a new or changed reminder may be due sooner
            make_private_dir(tasks)
            nursery.start_soon(self._watch_one, tasks, False, lambda p: p.name == "tasks.json")

    async def _watch_one(self, path: Path, recursive: bool, wanted: Callable[[Path], bool]) -> None:
        from watchfiles import awatch

        stop = trio.Event()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(set_when_cancelled, stop)
            async for changes in awatch(
                path,
                watch_filter=lambda change, p: wanted(Path(p)),
                debounce=200,
                step=100,
                recursive=recursive,
                stop_event=stop,
                rust_timeout=60_000,
            ):
                if any(Path(p).name == "config.toml" for _, p in changes) and self.reload:
                    await self.reload()
                self.kick()
