"""The outbound queue: storage, retry policy, delivering one entry, the worker, flush."""

from __future__ import annotations

import os
import random
import time

import pytest
import trio

from claw.delivery import entry as entries
from claw.delivery import policy
from claw.delivery.deliver import deliver
from claw.delivery.flush import QueueBusy, flush
from claw.delivery.queue import QueueStore
from claw.delivery.worker import Worker
from claw.errors import InvalidName, NotFound, UsageError
from claw.state.home import Home
from tests.delivery.fakes import FakeChannel, run_worker_until


def run(fn, *args, timeout: float = 10):
    async def main():
        with trio.fail_after(timeout):
            return await fn(*args)

    return trio.run(main)


class Mid(random.Random):
    def uniform(self, a: float, b: float) -> float:
        return (a + b) / 2


def test_backoff_schedule_then_failed() -> None:
    delays = []
    for attempt in range(1, 5):
        d = policy.after_failure(attempt, 1000.0, permanent=False, rng=Mid())
        delays.append(d.retry_at - 1000.0)
    assert delays == [5.0, 25.0, 120.0, 600.0]
    assert policy.after_failure(5, 0, permanent=False).reason == "exhausted"
    assert policy.after_failure(1, 0, permanent=True) == policy.Decision(None, "permanent")
    rng = random.Random(7)
    spread = [policy.after_failure(1, 0, permanent=False, rng=rng).retry_at for _ in range(500)]
    assert 4.0 <= min(spread) < 4.2 and 5.8 < max(spread) <= 6.0  # ±20 %
    assert policy.after_failure(1, 0, permanent=False, retry_after=90).retry_at == 90


def test_make_validates_and_refuses_empty() -> None:
    with pytest.raises(InvalidName):
        entries.make("../x", "p", ["hi"])
    with pytest.raises(InvalidName):
        entries.make("webhook", "a peer", ["hi"])
    with pytest.raises(UsageError):
        entries.make("webhook", "ops", ["  ", ""])
    a, b = entries.make("w", "p", ["1"]), entries.make("w", "p", ["2"])
    assert a.id < b.id  # ids sort in queue order


def test_store_enqueue_fail_retry_and_recover(home: Home) -> None:
    store = QueueStore(home)
    e = store.enqueue(entries.make("fake", "p", ["hello"]))
    path = store.path(e.id)
    assert not path.exists() and store.exists(e.id)  # journaled: pending, not yet a file
    assert store.journal.path.stat().st_mode & 0o777 == 0o600
    assert store.get(e.id).parts == ["hello"] and store.ids() == [e.id]
    assert [x.id for x in store.absorb()] == [e.id] and store.journal.is_empty()
    assert path.exists() and path.stat().st_mode & 0o777 == 0o600
    assert store.get(e.id).parts == ["hello"]
    store.fail(e, "permanent", "http_404: chat not found")
    assert not path.exists() and store.path(e.id, failed=True).exists()
    assert store.stats().failures_by_reason == {"permanent: http_404": 1}
    back = store.retry(e.id)
    assert back.attempts == 0 and back.state == "pending" and store.exists(e.id)
    with pytest.raises(NotFound):
        store.retry(e.id)
    # A crash can leave a temp file (never delivered) and a pending copy of a failed entry.
    orphan, young = store.dir / ".tmp-x.json.123", store.dir / ".tmp-y.json.456"
    orphan.write_text("{half")
    os.utime(orphan, (time.time() - 3600, time.time() - 3600))
    young.write_text("{being written")  # another process's enqueue, mid-write: left alone
    dup = store.enqueue(entries.make("fake", "p", ["dup"]))
    (store.failed_dir / f"{dup.id}.json").write_bytes(dup.to_json())
    (store.dir / f"{entries.new_id()}.json").write_text("not json")
    left = store.recover()
    assert [x.id for x in left] == [e.id]
    assert not orphan.exists() and young.exists()
    assert any(n.endswith(".corrupt") for n in os.listdir(store.failed_dir))


def test_parts_in_order_and_resume_after_a_transient_failure(home: Home) -> None:
    store = QueueStore(home)
    chan = FakeChannel()
    e = store.enqueue(entries.make("fake", "p", ["one", "two", "three"]))
    chan.script["p"] = ["ok", "transient"]
    out = run(deliver, store, e, chan)
    assert out.state == "retry" and [m.text for m in chan.sent] == ["one"]
    saved = store.get(e.id)
    assert saved.parts_sent == 1 and saved.attempts == 1 and saved.state == "pending"
    assert saved.last_error == "http_500: server error" and saved.next_attempt_at > time.time()
    out = run(deliver, store, saved, chan)
    assert out.state == "delivered" and not store.exists(e.id)
    assert [m.text for m in chan.sent] == ["one", "two", "three"]  # "one" not sent twice
    assert [m.idempotency_key for m in chan.sent] == [f"{e.id}:{n}" for n in range(3)]


def test_permanent_error_fails_at_once(home: Home) -> None:
    store = QueueStore(home)
    chan = FakeChannel(script={"gone": ["permanent"]})
    e = store.enqueue(entries.make("fake", "gone", ["x"]))
    out = run(deliver, store, e, chan)
    assert out.state == "failed" and store.get(e.id).failed_reason == "permanent"


def _fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(policy, "BACKOFF_S", (0.3, 0.3, 0.3, 0.3))


def test_worker_keeps_fifo_per_destination_under_backoff(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fast_backoff(monkeypatch)
    store = QueueStore(home)
    chan = FakeChannel(script={"a": ["transient", "transient"]})
    first = store.enqueue(entries.make("fake", "a", ["a1"]))
    store.enqueue(entries.make("fake", "a", ["a2"]))
    store.enqueue(entries.make("fake", "b", ["b1"]))

    run(run_worker_until, store, chan, 3)
    texts = [m.text for m in chan.sent]
    assert texts[0] == "b1"  # b is not held up by a's backoff…
    assert texts[1:] == ["a1", "a2"]  # …and a2 never overtakes a1
    assert store.ids() == [] and first.id not in store.ids(failed=True)


def test_worker_picks_up_entries_written_by_others(home: Home) -> None:
    store = QueueStore(home)
    chan = FakeChannel()
    seen: list[float] = []
    chan.on_send = lambda m: seen.append(time.monotonic())

    async def main() -> None:
        worker = Worker(store, lambda name: chan)
        async with trio.open_nursery() as nursery:
            await nursery.start(worker.run)
            await trio.sleep(0.2)
            written = time.monotonic()
            other = QueueStore(home)  # as another process would
            await trio.to_thread.run_sync(other.enqueue, entries.make("fake", "p", ["late"]))
            while not seen:
                await trio.sleep(0.01)
            assert seen[0] - written < 0.5
            nursery.cancel_scope.cancel()

    run(main)


def test_worker_reports_permanent_failures(home: Home) -> None:
    store = QueueStore(home)
    chan = FakeChannel(script={"x": ["permanent"]})
    failed: list[tuple[str, str]] = []
    e = store.enqueue(entries.make("fake", "x", ["nope"]))

    async def main() -> None:
        worker = Worker(store, lambda n: chan, on_failed=lambda d, err: failed.append((d.id, err)))
        async with trio.open_nursery() as nursery:
            await nursery.start(worker.run)
            while not failed:
                await trio.sleep(0.02)
            nursery.cancel_scope.cancel()

    run(main)
    assert failed == [(e.id, "http_404: chat not found")]


def test_flush_delivers_due_entries_and_holds_the_lock(home: Home) -> None:
    store = QueueStore(home)
    chan = FakeChannel(script={"slow": ["transient"]})
    store.enqueue(entries.make("fake", "p", ["now"]))
    store.enqueue(entries.make("fake", "slow", ["s1"]))
    store.enqueue(entries.make("fake", "slow", ["s2"]))
    later = entries.make("fake", "q", ["later"])
    later.next_attempt_at = time.time() + 3600
    store.enqueue(later)
    report = run(flush, store, lambda n: chan)
    assert report.to_dict() | {"errors": []} == {
        "delivered": 1,
        "retry": 1,
        "failed": 0,
        "not_due": 2,
        "errors": [],
    }
    assert [m.text for m in chan.sent] == ["now"]
    lock = store.deliverer_lock()
    lock.acquire()
    try:
        with pytest.raises(QueueBusy):
            run(flush, store, lambda n: chan)
    finally:
        lock.release()
