"""`claw queue flush`: deliver what is due in this process, for cron and scripts when no
daemon runs. It takes the deliverer lock without waiting, so it never races the daemon's
worker or another flush (the loser reports that someone else is delivering)."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

import trio

from claw.channels.base import DeliveryError
from claw.delivery.deliver import deliver
from claw.delivery.entry import Delivery
from claw.delivery.queue import QueueStore
from claw.delivery.worker import ChannelFactory
from claw.errors import ClawError


class QueueBusy(ClawError):
    """Another deliverer (the daemon or a flush) holds the queue."""


@dataclass
class FlushReport:
    outcomes: Counter[str] = field(default_factory=Counter)  # delivered / retry / failed / gone
    not_due: int = 0
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            **{k: self.outcomes.get(k, 0) for k in ("delivered", "retry", "failed")},
            "not_due": self.not_due,
            "errors": self.errors,
        }


async def flush(
    store: QueueStore, channel_for: ChannelFactory, *, only: set[str] | None = None
) -> FlushReport:
    """One pass over the due entries (or just the `only` ids): per destination in queue
    order, stopping at the first that is not due or must wait (FIFO); destinations run
    concurrently."""
    lock = store.deliverer_lock(timeout=0)
    try:
        lock.acquire()
    except TimeoutError:
        raise QueueBusy(
            "another process is delivering the queue (the daemon, or another flush)",
            hint="the daemon delivers on its own; `claw queue list` shows what is waiting",
        ) from None
    try:
        report = FlushReport()
        by_dest: dict[tuple[str, str, str], list[Delivery]] = {}
        for entry in await trio.to_thread.run_sync(store.recover):
            by_dest.setdefault(entry.destination, []).append(entry)
        limiter = trio.CapacityLimiter(8)

        async def one_destination(entries: list[Delivery]) -> None:
            async with limiter:
                for i, entry in enumerate(entries):
                    if entry.next_attempt_at > time.time():
                        report.not_due += len(entries) - i
                        return
                    if only is not None and entry.id not in only:
                        return  # an older entry to the same peer must go first
                    try:
                        outcome = await deliver(store, entry, channel_for(entry.channel))
                    except DeliveryError as e:
                        error = f"{e.reason}: {e.message}"
                        await trio.to_thread.run_sync(store.fail, entry, "permanent", error)
                        report.outcomes["failed"] += 1
                        report.errors.append(f"{entry.id}: {error}")
                        continue
                    report.outcomes[outcome.state] += 1
                    if outcome.error:
                        report.errors.append(f"{entry.id}: {outcome.error}")
                    if outcome.state == "retry":
                        report.not_due += len(entries) - i - 1
                        return

        async with trio.open_nursery() as nursery:
            for entries in by_dest.values():
                nursery.start_soon(one_destination, entries)
        return report
    finally:
        lock.release()
