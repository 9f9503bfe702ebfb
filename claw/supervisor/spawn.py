"""The `spawn` tool: a background subagent that reports back into its parent session.

The tool records the subagent (claw.supervisor.registry) and starts it in a thread of
this process; the turn that spawned it goes on at once. When the subagent ends, the
parent session is woken: a turn runs there with the result as its input, so the agent
tells the user what came back. Its reply is stored in the parent transcript, delivered
to the channel the parent session belongs to (when its key names one), and announced
to gateway clients subscribed to `subagent.report`.

In the daemon this all happens in the background. A one-shot `claw send --local` (no
daemon) waits for the subagents it spawned before it exits (each is bounded by its time
limit) and prints the report-back replies. If a process dies first, the record stays
open and the daemon finishes the work - and the report - at its next start (`recover`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from claw.agent.tools.base import ToolContext, ToolResult, object_schema
from claw.state.config import Config
from claw.state.home import Home
from claw.supervisor import registry
from claw.supervisor.registry import SubagentRecord

log = logging.getLogger(__name__)
MAX_TASK = 4000
REPORT_PROMPT = (
    "[subagent {id} {status}] A background subagent you started has finished.\n"
    "Task: {task}\nResult:\n{text}\n\n"
    "Tell the user what it found (or why it did not finish), briefly."
)

Report = dict[str, Any]


class Spawner:
    """This process's background subagents (threads) and who hears their reports."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._threads: dict[str, threading.Thread] = {}
        self.listeners: list[Callable[[Report], None]] = []  # the gateway's broadcast

    def start(self, home: Home, config: Config, rec: SubagentRecord) -> None:
        thread = threading.Thread(
            target=self._run, args=(home, config, rec), name=f"claw-spawn-{rec.id}", daemon=True
        )
        with self._lock:
            self._threads[rec.id] = thread
        thread.start()

    def running(self) -> list[str]:
        with self._lock:
            return [i for i, t in self._threads.items() if t.is_alive()]

    def wait(self, timeout: float | None = None) -> list[str]:
        """Wait for every background subagent of this process (and its report); the ids
        still running when `timeout` passes."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads.values())
        for t in threads:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            t.join(left)
        return self.running()

    def _run(self, home: Home, config: Config, rec: SubagentRecord) -> None:
        from claw.agent.lanes import LANES
        from claw.supervisor.subagents import run_one

        try:
            if rec.status in registry.OPEN:
                with LANES.slot("subagent", config.get("lanes.subagent")):
                    registry.mark(home, rec, "running")
                    status, text = run_one(home, config, rec)
                registry.mark(home, rec, status, text)
            if not rec.reported:
                report = report_back(home, config, rec)
                for listener in list(self.listeners):
                    listener(report)
        except Exception:
            log.exception("subagent %s (%s) failed to finish or report", rec.id, rec.parent)
        finally:
            with self._lock:
                self._threads.pop(rec.id, None)


SPAWNER = Spawner()


def report_back(home: Home, config: Config, rec: SubagentRecord) -> Report:
    """Wake the parent session with the result; deliver the reply where it belongs."""
    from claw.agent.events import AgentEnd
    from claw.agent.turn import TurnRequest, run_turn
    from claw.state.sessions import SessionStore

    text = REPORT_PROMPT.format(id=rec.id, status=rec.status, task=rec.task, text=rec.text)
    req = TurnRequest(
        text,
        agent_id=rec.agent,
        session_key=rec.parent,
        live=False,
        mode="single",
        deny_tools=("spawn",),  # a report does not start the next subagent by itself
        record={"subagent_report": rec.id},
    )
    store = SessionStore.configured(home, config)
    result = None
    try:
        for event in run_turn(home, config, store, req):
            if isinstance(event, AgentEnd):
                result = event.result
    finally:
        store.close()
    rec.reported = True
    rec.report_message_id = result.message_id if result else None
    registry.save(home, rec)
    reply = result.text if result is not None and result.status == "ok" else ""
    delivered = _deliver(home, config, rec, reply) if reply.strip() else None
    return {
        "type": "subagent.report",
        "subagent_id": rec.id,
        "session_key": rec.parent,
        "status": rec.status,
        "text": reply,
        "message_id": rec.report_message_id,
        "delivery": delivered,
    }


def channel_target(key: str) -> str | None:
    """CHANNEL:PEER for a session key that names one (per-channel sessions, groups)."""
    parts = key.split(":")
    if len(parts) < 5 or parts[0] != "agent":
        return None
    rest = parts[2:]
    if rest[1] in ("direct", "group") and len(rest) == 3:
        return f"{rest[0]}:{rest[2]}"
    if len(rest) == 4 and rest[2] == "direct":
        return f"{rest[0]}:{rest[3]}"
    return None


def _deliver(home: Home, config: Config, rec: SubagentRecord, text: str) -> str | None:
    target = channel_target(rec.parent)
    if target is None:
        return None
    from claw.delivery.service import enqueue_reply

    parts = rec.parent.split(":")
    account = {"account": parts[3]} if len(parts) == 6 else {}  # else the channel's default
    entry = enqueue_reply(
        home, config, target, text, agent=rec.agent, session_key=rec.parent, **account
    )
    return entry.id


def recover(home: Home, config: Config) -> int:
    """At daemon start: finish spawned subagents whose process died, send reports that
    were never sent, and close multi-mode parts whose parent turn is gone."""
    from claw.daemon import pid_alive

    count = 0
    for rec in registry.open_records(home):
        orphan = rec.status == "queued" or (
            rec.status == "running" and (rec.pid != os.getpid() and not pid_alive(rec.pid or 0))
        )
        if rec.origin == "multi":
            if orphan:
                registry.mark(home, rec, "interrupted", "its parent turn ended first")
            continue
        if orphan:
            rec.status = "queued"
        if orphan or (rec.status not in registry.OPEN and not rec.reported):
            SPAWNER.start(home, config, rec)
            count += 1
    return count


class SpawnTool:
    name = "spawn"
    description = (
        "Start a background subagent on a self-contained task (research, a long write-up, "
        "anything the user need not wait for). It works in its own session with the same "
        "tools (except spawn and messaging) and reports back into this conversation when "
        "done; you get its result then, so do not wait for it now. Give the task every "
        "detail it needs: the subagent does not see this conversation."
    )
    parameters = object_schema(
        {
            "task": {"type": "string", "minLength": 1, "maxLength": MAX_TASK},
            "timeout_s": {
                "type": "integer",
                "minimum": 5,
                "maximum": 86_400,
                "description": "Time limit (default: supervisor.subagent_timeout_s).",
            },
        },
        ("task",),
    )

    def __init__(self, config: Config) -> None:
        self.config = config  # the live one: in the daemon, reloads reach the subagent

    def call(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        if ctx.home_root is None:
            return ToolResult("spawn is not available here (no state directory)", is_error=True)
        if registry.id_of_key(ctx.session_key) is not None:
            return ToolResult("a subagent cannot spawn subagents", is_error=True)
        home = Home(ctx.home_root)
        default = self.config.get("supervisor.subagent_timeout_s", 120)
        timeout = float(args.get("timeout_s") or default)
        rec = registry.create(home, ctx.agent_id, ctx.session_key, args["task"], "spawn", timeout)
        SPAWNER.start(home, self.config, rec)
        return ToolResult(
            f"started subagent {rec.id} (session {rec.key}); it reports back into this "
            "conversation when done"
        )


def spawn_tools(config: Config) -> list[Any]:
    return [SpawnTool(config)] if config.get("supervisor.spawn", True) else []
