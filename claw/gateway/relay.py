"""A turn's worker thread and the event loop: its events out, a cancellation in.

A turn runs in a worker thread. Handing each delta to the event loop with
`trio.from_thread.run_sync` made the worker wait for the loop on every token: under load,
a streamed 100-word reply spent about as much CPU on those handoffs as on the WebSocket
frames themselves. The relay queues events and wakes the loop once per batch; a task in
the turn's nursery hands them to the client's sink, in order. A sink that refuses an
event (the client left, or reads too slowly) stops the turn through its abort flag, as
before, and the events after it are dropped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import trio

Sink = Callable[[dict[str, Any]], None]  # sync, on the trio thread: enqueue or raise


class EventRelay:
    def __init__(self, sink: Sink, abort: threading.Event, *, limit: int = 1024) -> None:
        self._sink, self._abort, self._limit = sink, abort, limit
        self._token = trio.lowlevel.current_trio_token()
        self._lock = threading.Lock()
        self._items: list[dict[str, Any]] = []
        self._scheduled = False  # a wake-up is on its way to the loop
        self._ready = trio.Event()
        self.failed = False

    # -- the worker thread -----------------------------------------------------------
    def put(self, params: dict[str, Any]) -> None:
        """Queue one event; wake the loop if no wake-up is pending. Never waits, unless
        `limit` events are queued (the loop is starved): then it waits for them to go."""
        if self.failed:
            return
        with self._lock:
            self._items.append(params)
            wake, self._scheduled = not self._scheduled, True
            full = len(self._items) >= self._limit
        try:
            if full:
                trio.from_thread.run_sync(self.flush, trio_token=self._token)
            elif wake:
                self._token.run_sync_soon(self._wake)
        except trio.RunFinishedError:  # the daemon is gone: nobody to stream to
            self._fail()

    # -- the trio thread -------------------------------------------------------------
    def _wake(self) -> None:
        self._ready.set()

    async def run(self) -> None:
        """Deliver batches as they come; runs until its nursery is cancelled."""
        while True:
            await self._ready.wait()
            self._ready = trio.Event()
            self.flush()

    def flush(self) -> None:
        """Hand every queued event to the sink, in order (also called once at the end)."""
        with self._lock:
            items, self._items, self._scheduled = self._items, [], False
        for params in items:
            if self.failed:
                return
            try:
                self._sink(params)
            except BaseException:  # the client is gone or too slow: stop the turn
                self._fail()

    def _fail(self) -> None:
        self.failed = True
        self._abort.set()


async def abort_on_cancel(abort: threading.Event) -> None:
    """The worker thread cannot be cancelled; a cancelled caller stops it via the flag."""
    try:
        await trio.sleep_forever()
    finally:
        abort.set()
