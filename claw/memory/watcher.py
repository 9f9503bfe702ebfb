"""The daemon's part of memory: follow notes and transcripts as they change.

Two inotify watches (watchfiles): `agents/` recursively for MEMORY.md and daily notes,
and `sessions/transcripts/` for conversations. Each batch of changed paths is indexed
incrementally in a worker thread (`Indexer.sync_paths`: a grown transcript costs only its
new lines). At start, once the watches are live, one full incremental sync catches up
with whatever changed while the daemon was down; nothing written in between is missed.
"""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path

import trio

from claw.memory.sources import DAILY_RE, LONG_TERM
from claw.state.config import Config
from claw.state.home import Home, make_private_dir
from claw.state.watch import Changes, watch_dir

log = logging.getLogger("claw.memory")


def _is_note(name: str) -> bool:
    return name == LONG_TERM or bool(DAILY_RE.match(name))


def _is_transcript(name: str) -> bool:
    return name.endswith(".jsonl") and not name.startswith(".")


async def follow_memory(
    home: Home, config: Config, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    """Keep the memory index current until cancelled (a no-op when memory is off)."""
    from claw.memory.sync import Indexer

    if not config.get("memory.enabled", True):
        task_status.started()
        return
    agents, transcripts = home.root / "agents", home.sessions_dir / "transcripts"
    for d in (agents, transcripts):
        make_private_dir(d)
    pending: set[Path] = set()
    wake = trio.Event()
    full = True  # the first round: everything (catch up)

    async def changed(changes: Changes) -> None:
        nonlocal wake
        pending.update(Path(p) for _, p in changes)
        wake.set()

    async with trio.open_nursery() as nursery:
        watch = partial(watch_dir, on_changes=changed)
        await nursery.start(partial(watch, agents, _is_note, recursive=True))
        await nursery.start(partial(watch, transcripts, _is_transcript))
        task_status.started()
        while True:
            if not full:
                await wake.wait()
            wake = trio.Event()
            paths, round_full = list(pending), full
            pending.clear()
            full = False
            indexer = Indexer(home, config, lock_wait=-1)  # config may have been reloaded
            try:
                if round_full:
                    report = await trio.to_thread.run_sync(indexer.sync)
                else:
                    report = await trio.to_thread.run_sync(indexer.sync_paths, paths)
            except Exception as e:  # a broken file or a failing embedder: retry on next change
                log.warning("memory index update failed: %s", e)
                continue
            if report.updated or report.removed:
                log.debug(
                    "memory: %d updated, %d removed", len(report.updated), len(report.removed)
                )
