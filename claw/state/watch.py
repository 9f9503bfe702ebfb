"""Helpers for watchfiles under trio."""

from __future__ import annotations

import trio


async def set_when_cancelled(event: trio.Event) -> None:
    """Set `event` when this task is cancelled.

    watchfiles' `awatch` waits for changes in a worker thread that only its stop event
    ends (cancelling the await does not interrupt the thread), so a task that watches
    starts this beside it with the same event: cancellation then stops the watch at once
    instead of after the thread's timeout.
    """
    try:
        await trio.sleep_forever()
    finally:
        event.set()
