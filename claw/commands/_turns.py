"""Running a turn from the terminal: shared by `claw send` and `claw chat`.

Reply text goes to stdout; everything else (reasoning, tool activity, retries) to stderr,
so `claw send … > reply.txt` captures the reply alone.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import typer

from claw.agent.events import (
    AgentEnd,
    CompactionEnd,
    CompactionStart,
    MessageDelta,
    ModeDecision,
    ReasoningDelta,
    ReasoningReset,
    Retry,
    SubagentEnd,
    SubagentStart,
    ToolEnd,
    ToolStart,
    TurnResult,
)
from claw.commands._base import AppState, styled
from claw.commands.tty import StreamFilter, echo, for_terminal
from claw.errors import ClawError

if TYPE_CHECKING:
    from claw.agent.turn import TurnRequest


class EmptyReply(ClawError):
    """The model answered nothing; its place is taken by an error text (exit 1)."""


def run_and_render(
    st: AppState, req: TurnRequest, *, stream: bool, show_events: bool = False
) -> TurnResult:
    """Run one turn; with `stream`, write deltas to stdout as they arrive."""
    from claw.supervisor.dispatch import supervise  # not at import: keeps `claw --help` light

    reasoning_mode = st.config().get("model.reasoning") or "off"
    result: TurnResult | None = None
    wrote = False
    reply, thoughts = StreamFilter(sys.stdout), StreamFilter(sys.stderr)  # untrusted text
    events = supervise(st.home(), st.config(), st.store(), req)
    try:
        for event in events:
            if isinstance(event, MessageDelta) and stream:
                reply.write(event.text)
                wrote = True
            elif isinstance(event, ReasoningDelta) and reasoning_mode == "stream":
                if piece := thoughts.feed(event.text):
                    sys.stderr.write(styled(piece, fg="bright_black", err=True))
                    sys.stderr.flush()
            elif isinstance(event, ReasoningReset) and reasoning_mode == "stream":
                note = "\n[the model call failed; the reasoning above is void, retrying]\n"
                sys.stderr.write(styled(note, fg="bright_black", err=True))
                sys.stderr.flush()
            elif isinstance(event, AgentEnd):
                result = event.result
            elif show_events:
                _note(event)
    finally:
        reply.close()
        thoughts.close()
        if wrote:
            sys.stdout.write("\n")
            sys.stdout.flush()
        events.close()
    assert result is not None  # run_turn always ends with AgentEnd or raises
    if reasoning_mode == "on" and result.reasoning:
        thought = for_terminal(result.reasoning.strip(), err=True)
        typer.echo(styled(f"[reasoning]\n{thought}", fg="bright_black", err=True), err=True)
    if result.status == "error":
        raise EmptyReply(result.text)
    return result


def _note(event: object) -> None:
    if isinstance(event, ToolStart):
        line = f"· tool {event.name} {event.arguments[:200]}"
    elif isinstance(event, ToolEnd):
        state = "error" if event.is_error else "ok"
        line = f"· tool {event.name} {state} ({event.duration_ms} ms): {event.result[:200]!r}"
    elif isinstance(event, Retry):
        line = f"· retry: {event.model} failed ({event.reason}) → {event.action}"
    elif isinstance(event, CompactionStart):
        line = f"· compacting {event.messages} messages ({event.reason})"
    elif isinstance(event, CompactionEnd):
        line = f"· compacted: summary of {event.summary_chars} chars, {event.kept_messages} kept"
    elif isinstance(event, ModeDecision | SubagentStart | SubagentEnd):
        line = supervisor_line(event)
    else:
        return
    # tool arguments and results, a subagent's task: the model's words, not claw's
    typer.echo(styled(for_terminal(line, err=True), fg="bright_black", err=True), err=True)


def supervisor_line(event: ModeDecision | SubagentStart | SubagentEnd) -> str:
    """`--verbose`'s line for a supervisor event (in-process and from the daemon alike)."""
    if isinstance(event, ModeDecision):
        extra = f" ({event.reason})" if event.reason else ""
        return (
            f"· mode={event.mode} intent={event.intent} score={event.score:.2f} "
            f"source={event.source}{extra}"
        )
    if isinstance(event, SubagentStart):
        return f"· subagent {event.subagent_id} started: {event.task[:120]}"
    return f"· subagent {event.subagent_id} {event.status} ({event.duration_ms} ms)"


def wait_for_spawned(on_report: Callable[[dict[str, Any]], None] | None = None) -> None:
    """Without a daemon, subagents the turn spawned run in this process: wait for them
    (each is bounded by its time limit) and their report-back turns before exiting."""
    spawn = sys.modules.get("claw.supervisor.spawn")  # never imported: nothing spawned
    if spawn is None or not spawn.SPAWNER.running():
        return
    ids = spawn.SPAWNER.running()
    note = f"· waiting for {len(ids)} background subagent(s): no daemon runs them"
    typer.echo(styled(note, fg="bright_black", err=True), err=True)
    if on_report is not None:
        spawn.SPAWNER.listeners.append(on_report)
    try:
        spawn.SPAWNER.wait()
    finally:
        if on_report is not None:
            spawn.SPAWNER.listeners.remove(on_report)


def finish_background(grace_s: float = 2.0) -> None:
    """Before a one-shot command exits: let spawned subagents and agent_end hooks finish
    and stop the MCP servers this process started."""
    import threading
    import time

    wait_for_spawned()
    deadline = time.monotonic() + grace_s
    for thread in threading.enumerate():
        if thread.name == "claw-hooks":
            thread.join(max(0.0, deadline - time.monotonic()))
    from claw.agent import env

    env.close_mcp()


def echo_result(result: TurnResult) -> None:
    if result.status != "silent":
        echo(result.text)
