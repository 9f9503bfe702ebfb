"""The daemon's part of memory: follow notes and transcripts as they change.

Two inotify watches (watchfiles): `agents/` recursively for MEMORY.md and daily notes,
and `sessions/transcripts/` for conversations. Each batch of changed paths is indexed
incrementally (`Indexer.sync_paths`: a grown transcript costs only its new lines), at most
one round every ROUND_GAP_S, by a child process (`claw.memory.writer`: off the daemon's
GIL), started again if it dies, with the round's paths kept for the next one. At start,
once the watches are live, one full incremental sync catches up with whatever changed
while the daemon was down; nothing written in between is missed.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import AsyncGenerator
from functools import partial
from pathlib import Path
from typing import Any

import trio

from claw.memory.sources import DAILY_RE, LONG_TERM
from claw.state.config import Config
from claw.state.home import Home, make_private_dir
from claw.state.watch import Changes, watch_dir

log = logging.getLogger("claw.memory")

# The shortest time between two index rounds. Each round has a fixed cost (~1.5 ms of
# CPU: the index opened, its lock, the embedder) besides ~0.2 ms per grown transcript; a
# daemon answering 100 chats a second would otherwise run 20 rounds a second of 5 each.
# A change after a quiet spell is still indexed at once (after watchfiles' 50 ms).
ROUND_GAP_S = 0.5
MAX_RETRY_S = 60.0


def _is_note(name: str) -> bool:
    return name == LONG_TERM or bool(DAILY_RE.match(name))


def _is_transcript(name: str) -> bool:
    return name.endswith(".jsonl") and not name.startswith(".")


async def follow_memory(
    home: Home, config: Config, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    """Keep the memory index current until cancelled (a no-op when memory is off)."""
    if not config.get("memory.enabled", True):
        task_status.started()
        return
    agents, transcripts = home.root / "agents", home.sessions_dir / "transcripts"
    for d in (agents, transcripts):
        make_private_dir(d)
    pending: set[Path] = set()
    wake = trio.Event()
    full = True  # the first round: everything (catch up)
    retry_s = ROUND_GAP_S  # after the writer died: doubles up to MAX_RETRY_S while it does

    async def changed(changes: Changes) -> None:
        nonlocal wake
        pending.update(Path(p) for _, p in changes)
        wake.set()

    async with trio.open_nursery() as nursery:
        writer = Writer(home, nursery)
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
            # The config goes with each round: a reload (SIGHUP) changes it in place.
            request: dict[str, Any] = {"config": config.data}
            request |= {"full": True} if round_full else {"paths": [str(p) for p in paths]}
            try:
                reply = await writer.run(request)
            except WriterGone as e:  # this round again, in a new process, after a backoff
                log.warning(
                    "memory index writer stopped (%s); starting it again in %.1fs", e, retry_s
                )
                full = full or round_full
                pending.update(paths)
                wake.set()
                await trio.sleep(retry_s)
                retry_s = min(retry_s * 2, MAX_RETRY_S)
                continue
            retry_s = ROUND_GAP_S
            if not reply.get("ok"):  # a broken file or a failing embedder
                log.warning("memory index update failed: %s", reply.get("error"))
            elif reply.get("updated") or reply.get("removed"):
                log.debug("memory: %s updated, %s removed", reply["updated"], reply["removed"])
            await trio.sleep(ROUND_GAP_S)  # changes meanwhile gather for the next round


class WriterGone(Exception):
    """The writer process exited or closed its pipes before answering."""


class Writer:
    """The `claw.memory.writer` child, started on first use and again after it dies; it
    lives in the watcher's nursery, so cancelling the watcher stops it too."""

    def __init__(
        self, home: Home, nursery: trio.Nursery, *, command: list[str] | None = None
    ) -> None:
        self.home, self.nursery = home, nursery
        self.command = command or [sys.executable, "-m", "claw.memory.writer", str(home.root)]
        self.proc: trio.Process | None = None
        self.replies: AsyncGenerator[bytes, None] | None = None  # the lines of its stdout

    async def run(self, request: dict[str, Any]) -> dict[str, Any]:
        proc = self.proc
        if proc is None or proc.returncode is not None:
            proc = self.proc = await self._start()
        assert proc.stdin is not None and self.replies is not None
        try:
            await proc.stdin.send_all(json.dumps(request, default=str).encode() + b"\n")
            reply = await anext(self.replies, None)
            if reply is None:
                raise WriterGone(f"it exited with status {await proc.wait()}")
            return json.loads(reply)
        except (WriterGone, trio.BrokenResourceError, trio.ClosedResourceError, ValueError) as e:
            self.proc = None
            if proc.returncode is None:
                proc.kill()  # whatever state it is in, a new one starts clean
            await self.replies.aclose()
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None:
                    await pipe.aclose()
            raise WriterGone(str(e) or type(e).__name__) from None

    async def _start(self) -> trio.Process:
        pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
        run = partial(trio.run_process, self.command, check=False, **pipes)
        try:
            proc: trio.Process = await self.nursery.start(run)
        except OSError as e:
            raise WriterGone(f"it could not start: {e}") from None
        assert proc.stdout is not None and proc.stderr is not None
        self.replies = _lines(proc.stdout)
        self.nursery.start_soon(_log_lines, proc.stderr)
        return proc


async def _log_lines(stream: trio.abc.ReceiveStream) -> None:
    """The writer's stderr (a warning, a crash's traceback) into the daemon's log, which
    `logs/` keeps; it ends when the writer does."""
    async with stream:
        async for line in _lines(stream):
            if line.strip():
                log.warning("memory writer: %s", line.decode(errors="replace").rstrip())


async def _lines(stream: trio.abc.ReceiveStream) -> AsyncGenerator[bytes, None]:
    """The stream's lines, without their newline; an unterminated last one too."""
    rest = b""
    async for chunk in stream:
        *lines, rest = (rest + chunk).split(b"\n")
        for line in lines:
            yield line
    if rest:
        yield rest
