"""Per destination, the queue delivers in enqueue order: a scheduled message whose
queue id is derived from an old occurrence (a catch-up cron run, an overdue reminder)
does not overtake messages queued before it, in the daemon's worker or in a flush."""

from __future__ import annotations

import time

import trio

from claw.delivery import entry as entries
from claw.delivery.flush import flush
from claw.delivery.origins import origin, queue_id
from claw.delivery.queue import QueueStore
from claw.delivery.worker import Worker
from claw.state.home import Home
from tests.delivery.fakes import FakeChannel, run_worker_until


def _late_scheduled(text: str, hours_ago: float) -> entries.Delivery:
    """A cron occurrence due hours ago, run now (catch-up): its id sorts in the past."""
    o = origin("cron", "nightly", time.time() - hours_ago * 3600)
    return entries.make("fake", "p", [text], entry_id=queue_id(o), origin=o)


def _queue_three(store: QueueStore) -> None:
    store.enqueue(entries.make("fake", "p", ["first"]))
    store.enqueue(entries.make("fake", "p", ["second"]))
    store.enqueue(_late_scheduled("catch-up", hours_ago=3))


def test_flush_keeps_enqueue_order_for_a_late_scheduled_message(home: Home) -> None:
    store = QueueStore(home)
    chan = FakeChannel()
    _queue_three(store)

    async def main() -> None:
        with trio.fail_after(10):
            await flush(store, lambda n: chan)

    trio.run(main)
    assert [m.text for m in chan.sent] == ["first", "second", "catch-up"]


def test_worker_keeps_enqueue_order_for_journaled_and_absorbed_entries(home: Home) -> None:
    store = QueueStore(home)
    chan = FakeChannel()
    _queue_three(store)
    store.absorb()  # as files (recover's path) ...
    store.enqueue(entries.make("fake", "p", ["fourth"]))
    store.enqueue(_late_scheduled("overdue reminder", hours_ago=30))  # ... and journaled

    async def main() -> None:
        with trio.fail_after(10):
            await run_worker_until(store, chan, 5)

    trio.run(main)
    texts = [m.text for m in chan.sent]
    assert texts == ["first", "second", "catch-up", "fourth", "overdue reminder"]


def test_worker_orders_a_late_entry_that_arrives_while_running(home: Home) -> None:
    """Queued by another process while the worker runs and the destination is held up
    by a slow send: the late-scheduled entry still goes after the older ones."""
    store = QueueStore(home)
    chan = FakeChannel(delay=0.2)

    async def main() -> None:
        with trio.fail_after(10):
            worker = Worker(store, lambda name: chan)
            async with trio.open_nursery() as nursery:
                await nursery.start(worker.run)
                other = QueueStore(home)
                await trio.to_thread.run_sync(other.enqueue, entries.make("fake", "p", ["one"]))
                await trio.to_thread.run_sync(other.enqueue, entries.make("fake", "p", ["two"]))
                await trio.to_thread.run_sync(other.enqueue, _late_scheduled("late", 5))
                while len(chan.sent) < 3:
                    await trio.sleep(0.02)
                nursery.cancel_scope.cancel()

    trio.run(main)
    assert [m.text for m in chan.sent] == ["one", "two", "late"]


def test_queue_listing_is_in_enqueue_order(home: Home) -> None:
    store = QueueStore(home)
    _queue_three(store)
    assert [e.parts[0] for e in store.entries()] == ["first", "second", "catch-up"]
    store.absorb()
    assert [e.parts[0] for e in store.recover()] == ["first", "second", "catch-up"]
