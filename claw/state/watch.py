"""Watching a state directory from trio, with watchfiles (inotify on Linux: an idle watch
sleeps in the kernel, nothing polls the directory)."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import trio

PROBE = ".tmp-watch-probe"  # a temp name: recovery code treats a leftover one as an orphan
Changes = set[tuple[Any, str]]  # (watchfiles.Change, path)


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


async def watch_dir(
    directory: Path,
    wanted: Callable[[str], bool],
    on_changes: Callable[[Changes], Awaitable[None]],
    *,
    recursive: bool = False,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Call `on_changes` with each batch of changes to files in `directory` (and, with
    `recursive`, its subdirectories) whose name is `wanted`, until cancelled.

    `task_status.started()` comes only once the watch is known to be live: awatch creates
    its watch lazily, on its first iteration, so a probe file is touched until the watch
    reports it. A caller that reads the directory after `nursery.start(watch_dir, ...)`
    returns can therefore miss nothing written in between.
    """
    from watchfiles import awatch

    stop, live = trio.Event(), trio.Event()
    watcher = awatch(
        directory,
        watch_filter=lambda change, path: (name := Path(path).name) == PROBE or wanted(name),
        debounce=50,
        step=50,  # how often its thread wakes to check the stop event
        recursive=recursive,
        stop_event=stop,
        rust_timeout=60_000,
    )
    async with trio.open_nursery() as nursery:
        nursery.start_soon(set_when_cancelled, stop)
        nursery.start_soon(_probe, directory / PROBE, live)
        async for changes in watcher:
            mine = {c for c in changes if Path(c[1]).name != PROBE}
            if len(mine) < len(changes) and not live.is_set():
                live.set()
                task_status.started()
            if mine:
                await on_changes(mine)
        nursery.cancel_scope.cancel()


async def _probe(path: Path, live: trio.Event) -> None:
    while not live.is_set():
        await trio.to_thread.run_sync(path.touch)
        with trio.move_on_after(0.05):
            await live.wait()
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
