"""EventRelay: a turn's events cross from its worker thread to the loop in order, in
batches; a sink that refuses one stops the turn; a starved loop makes the worker wait."""

from __future__ import annotations

import threading

import trio

from claw.gateway.relay import EventRelay
from tests.gateway.live import run


def _relay_from_thread(relay: EventRelay, n: int) -> None:
    for i in range(n):
        relay.put({"n": i})


def test_every_event_arrives_once_in_order_and_wake_ups_are_batched():
    got: list[int] = []
    wakes = [0]

    async def main() -> None:
        relay = EventRelay(lambda p: got.append(p["n"]), threading.Event())
        real = relay._wake

        def counted() -> None:
            wakes[0] += 1
            real()

        relay._wake = counted  # type: ignore[method-assign]
        async with trio.open_nursery() as nursery:
            nursery.start_soon(relay.run)
            await trio.to_thread.run_sync(_relay_from_thread, relay, 20_000)
            nursery.cancel_scope.cancel()
        relay.flush()

    run(main)
    assert got == list(range(20_000))
    assert wakes[0] < 20_000  # not one loop wake-up per event


def test_a_refusing_sink_aborts_the_turn_and_drops_the_rest():
    got: list[int] = []
    abort = threading.Event()

    def sink(p: dict) -> None:
        if p["n"] == 10:
            raise RuntimeError("slow reader")
        got.append(p["n"])

    async def main() -> None:
        relay = EventRelay(sink, abort)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(relay.run)
            await trio.to_thread.run_sync(_relay_from_thread, relay, 1000)
            nursery.cancel_scope.cancel()
        relay.flush()
        assert relay.failed

    run(main)
    assert abort.is_set()
    assert got == list(range(10))


def test_a_full_relay_makes_the_worker_wait_for_the_loop():
    got: list[int] = []

    async def main() -> None:
        # No delivery task runs (a starved loop): only the limit's blocking flush
        # moves events, so nothing piles up beyond `limit`.
        relay = EventRelay(lambda p: got.append(p["n"]), threading.Event(), limit=8)
        await trio.to_thread.run_sync(_relay_from_thread, relay, 100)
        assert len(got) >= 96  # all but the last partial batch, already delivered
        relay.flush()

    run(main)
    assert got == list(range(100))
