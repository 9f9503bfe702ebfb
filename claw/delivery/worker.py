"""The daemon's delivery worker: a timer heap of due times, FIFO per destination.

Nothing is scanned periodically. At start the queue is read once (`recover`); after that
the worker learns of new entries from the filesystem (watchfiles: inotify on Linux, so
an idle worker sleeps in the kernel) and otherwise sleeps until the earliest due time.
Only the oldest entry of each destination (channel, account, peer), by enqueue order
(`Delivery.order`, not id: a catch-up cron message's id lies in the past), is ever
scheduled, so a later message never overtakes one that is backing off; different
destinations are delivered concurrently, up to a cap.
"""

from __future__ import annotations

import bisect
import heapq
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio

from claw.channels.base import Channel, DeliveryError
from claw.delivery.deliver import Outcome, deliver
from claw.delivery.entry import ID_RE, Delivery
from claw.delivery.queue import JOURNAL_NAME, SUFFIX, QueueStore
from claw.state.watch import Changes, watch_dir

log = logging.getLogger("claw.delivery")
Dest = tuple[str, str, str]
ChannelFactory = Callable[[str], Channel]
OnFailed = Callable[[Delivery, str], None]
LOCK_POLL_S = 0.2


class Worker:
    def __init__(
        self,
        store: QueueStore,
        channel_for: ChannelFactory,
        *,
        concurrency: int = 8,
        on_failed: OnFailed | None = None,
    ) -> None:
        self.store = store
        self.channel_for = channel_for
        self.limiter = trio.CapacityLimiter(concurrency)
        self.on_failed = on_failed
        self.entries: dict[str, Delivery] = {}
        self.queues: dict[Dest, list[str]] = {}  # ids in enqueue order, per destination
        self.heap: list[tuple[float, str]] = []
        self.scheduled: dict[Dest, tuple[float, str]] = {}  # the live heap item per dest
        self.busy: set[Dest] = set()
        self.delivered = 0
        self.locked = False  # False while another deliverer (a flush) holds the queue
        self._wake = trio.Event()

    # -- lifecycle -------------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Deliver until cancelled. Holds the deliverer lock the whole time (waiting for a
        running `claw queue flush` to finish first)."""
        lock = self.store.deliverer_lock(timeout=0)
        while True:
            try:
                lock.acquire()
                break
            except TimeoutError:
                await trio.sleep(LOCK_POLL_S)
        self.locked = True
        try:
            async with trio.open_nursery() as nursery:
                # Watch first, then read the directory: an entry written in between is
                # seen twice (and added once), never missed.
                await nursery.start(self._watch)
                for entry in await trio.to_thread.run_sync(self.store.recover):
                    self._add(entry)
                log.info("delivery worker: %d entries pending", len(self.entries))
                task_status.started()
                await self._loop(nursery)
        finally:
            self.locked = False
            lock.release()

    def kick(self) -> None:
        self._wake.set()

    def add(self, entry: Delivery) -> None:
        """Schedule an entry this process just queued, without waiting for the watch to
        report its file (~0.1 s): the daemon's own replies go out at once. The watch
        seeing it later adds nothing (entries are keyed by id)."""
        self._add(entry)

    def status(self) -> dict[str, Any]:
        return {
            "running": self.locked,
            "pending": len(self.entries),
            "in_flight": len(self.busy),
            "next_due_in_s": round(self.heap[0][0] - time.time(), 3) if self.heap else None,
            "delivered": self.delivered,
        }

    # -- the schedule ----------------------------------------------------------------
    def _add(self, entry: Delivery) -> None:
        if entry.id in self.entries:
            return
        self.entries[entry.id] = entry
        ids = self.queues.setdefault(entry.destination, [])
        bisect.insort(ids, entry.id, key=lambda i: self.entries[i].order)
        self._schedule(entry.destination)

    def _drop(self, entry_id: str) -> None:
        entry = self.entries.pop(entry_id, None)
        if entry is None:
            return
        ids = self.queues.get(entry.destination, [])
        if entry_id in ids:
            ids.remove(entry_id)
        if not ids:
            self.queues.pop(entry.destination, None)
        self._schedule(entry.destination)

    def _schedule(self, dest: Dest) -> None:
        """(Re)schedule the head of `dest`; stale heap items are skipped when popped."""
        ids = self.queues.get(dest)
        if not ids or dest in self.busy:
            self.scheduled.pop(dest, None)
            return
        head = self.entries[ids[0]]
        item = (head.next_attempt_at, head.id)
        if self.scheduled.get(dest) != item:
            self.scheduled[dest] = item
            heapq.heappush(self.heap, item)
        self._wake.set()

    async def _loop(self, nursery: trio.Nursery) -> None:
        while True:
            now = time.time()
            while self.heap and self.heap[0][0] <= now:
                item = heapq.heappop(self.heap)
                entry = self.entries.get(item[1])
                if entry is None or self.scheduled.get(entry.destination) != item:
                    continue  # stale: the entry moved on, or its destination did
                del self.scheduled[entry.destination]
                self.busy.add(entry.destination)
                nursery.start_soon(self._deliver, entry)
            wait = self.heap[0][0] - now if self.heap else math.inf
            with trio.move_on_after(max(wait, 0.0)):
                await self._wake.wait()
            self._wake = trio.Event()

    async def _deliver(self, entry: Delivery) -> None:
        async with self.limiter:
            try:
                outcome = await deliver(self.store, entry, self.channel_for(entry.channel))
            except DeliveryError as e:  # the channel cannot be built (unknown, misconfigured)
                outcome = await self._fail_now(entry, f"{e.reason}: {e.message}")
            except Exception as e:  # a bug in a channel: keep the entry, try again later
                log.exception("delivery %s: unexpected error", entry.id)
                entry.state, entry.next_attempt_at = "pending", time.time() + 30
                entry.last_error = f"error: {type(e).__name__}: {e}"
                await trio.to_thread.run_sync(self.store.save, entry)
                outcome = Outcome("retry", entry.last_error, entry.next_attempt_at)
        self.busy.discard(entry.destination)
        if outcome.state == "retry":
            self._schedule(entry.destination)
            return
        if outcome.state == "delivered":
            self.delivered += 1
        elif outcome.state == "failed" and self.on_failed is not None:
            self.on_failed(entry, outcome.error or "")
        self._drop(entry.id)

    async def _fail_now(self, entry: Delivery, error: str) -> Outcome:
        await trio.to_thread.run_sync(self.store.fail, entry, "permanent", error)
        log.warning("delivery %s failed: %s", entry.id, error)
        return Outcome("failed", error)

    # -- other processes' entries ------------------------------------------------------
    async def _watch(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """New entries (journaled by `claw notify`, another `claw send --deliver`, this
        process; files back from failed/) join the schedule within ~0.1 s; removed ones
        (purge) leave it."""

        def wanted(name: str) -> bool:
            if name == JOURNAL_NAME:
                return True
            return name.endswith(SUFFIX) and ID_RE.fullmatch(name[: -len(SUFFIX)]) is not None

        await watch_dir(self.store.dir, wanted, self._changed, task_status=task_status)

    async def _changed(self, changes: Changes) -> None:
        from watchfiles import Change

        new: list[str] = []
        for change, path in changes:
            name = Path(path).name
            if name == JOURNAL_NAME:
                for entry in await trio.to_thread.run_sync(self.store.absorb):
                    self._add(entry)
                continue
            entry_id = name[: -len(SUFFIX)]
            known = self.entries.get(entry_id)
            if change == Change.deleted:
                if known is not None and known.destination not in self.busy:
                    self._drop(entry_id)  # purged by `claw queue purge`
            elif known is None:
                new.append(entry_id)
        if new:
            # One batch comes as an unordered set: load it all, then add it all with no
            # checkpoint in between, so per-destination order is settled before the loop
            # can start any of them.
            loaded = await trio.to_thread.run_sync(self._load_many, sorted(new))
            for entry in loaded:
                self._add(entry)

    def _load_many(self, ids: list[str]) -> list[Delivery]:
        return [e for e in (self.store.load(i) for i in ids) if e is not None]
