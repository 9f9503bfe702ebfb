"""A model call in a thread of its own, so a turn stops waiting for it at once.

A turn notices an abort (chat.abort, the daemon's drain, Ctrl-C, its deadline) by polling
its flag. Between streamed pieces that was enough, but a model that is slow to send its
next piece, or a call that has not answered at all, kept the turn blocked inside the HTTP
read until the model spoke: a drain waited out its whole grace period and more. Here the
call (litellm's request and its stream) runs in a helper thread that hands the pieces over
a queue; the turn waits on the queue in short slices and checks its flag between them, so
it stops within `POLL_S` whatever the model does.

The abandoned call is told to stop and stops at its next piece (closing its stream frees
the connection, and the local model's run lock); one that never answers ends at its own
timeout (the turn's remaining time). Its thread is a daemon thread: it never holds up the
process's exit. Nothing it produces after the abort is used.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

POLL_S = 0.05  # how often a waiting turn looks at its flag: the abort latency bound
_END = object()


class Stopped(Exception):
    """The turn's flag was set while it waited for the model."""


def pumped(
    produce: Callable[[], Iterable[Any]], abort: threading.Event, poll_s: float = POLL_S
) -> Iterator[Any]:
    """The items of `produce()`, made in a helper thread; raises Stopped as soon as
    `abort` is set while waiting, and re-raises whatever the call raised."""
    q: queue.SimpleQueue[tuple[bool, Any]] = queue.SimpleQueue()
    stop = threading.Event()

    def run() -> None:
        source: Any = None
        try:
            source = produce()
            for item in source:
                if stop.is_set():
                    break
                q.put((True, item))
            q.put((True, _END))
        except BaseException as e:  # handed to the turn, which raises it
            q.put((False, e))
        finally:
            close = getattr(source, "close", None)
            if callable(close):
                with contextlib.suppress(Exception):
                    close()

    threading.Thread(target=run, name="claw-model-call", daemon=True).start()
    try:
        while True:
            try:
                ok, item = q.get(timeout=poll_s)
            except queue.Empty:
                if abort.is_set():
                    raise Stopped() from None
                continue
            if not ok:
                raise item
            if item is _END:
                return
            yield item
    finally:
        stop.set()
