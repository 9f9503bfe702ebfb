"""Running a turn from the terminal: shared by `claw send` and `claw chat`.

Reply text goes to stdout; everything else (reasoning, tool activity, retries) to stderr,
so `claw send … > reply.txt` captures the reply alone.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import typer

from claw.agent.events import (
    AgentEnd,
    CompactionEnd,
    CompactionStart,
    MessageDelta,
    ReasoningDelta,
    Retry,
    ToolEnd,
    ToolStart,
    TurnResult,
)
from claw.commands._base import AppState, styled
from claw.errors import ClawError

if TYPE_CHECKING:
    from claw.agent.turn import TurnRequest


class EmptyReply(ClawError):
    """The model answered nothing; its place is taken by an error text (exit 1)."""


def run_and_render(
    st: AppState, req: TurnRequest, *, stream: bool, show_events: bool = False
) -> TurnResult:
    """Run one turn; with `stream`, write deltas to stdout as they arrive."""
    from claw.agent.turn import run_turn  # not at import: keeps `claw --help` light

    reasoning_mode = st.config().get("model.reasoning") or "off"
    result: TurnResult | None = None
    wrote = False
    events = run_turn(st.home(), st.config(), st.store(), req)
    try:
        for event in events:
            if isinstance(event, MessageDelta) and stream:
                sys.stdout.write(event.text)
                sys.stdout.flush()
                wrote = True
            elif isinstance(event, ReasoningDelta) and reasoning_mode == "stream":
                sys.stderr.write(styled(event.text, fg="bright_black", err=True))
                sys.stderr.flush()
            elif isinstance(event, AgentEnd):
                result = event.result
            elif show_events:
                _note(event)
    finally:
        if wrote:
            sys.stdout.write("\n")
            sys.stdout.flush()
        events.close()
    assert result is not None  # run_turn always ends with AgentEnd or raises
    if reasoning_mode == "on" and result.reasoning:
        typer.echo(
            styled(f"[reasoning]\n{result.reasoning.strip()}", fg="bright_black", err=True),
            err=True,
        )
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
    else:
        return
    typer.echo(styled(line, fg="bright_black", err=True), err=True)


def finish_background(grace_s: float = 2.0) -> None:
    """Before a one-shot command exits: let agent_end hooks finish (briefly) and stop the
    MCP servers this process started."""
    import threading
    import time

    deadline = time.monotonic() + grace_s
    for thread in threading.enumerate():
        if thread.name == "claw-hooks":
            thread.join(max(0.0, deadline - time.monotonic()))
    from claw.agent import env

    env.close_mcp()


def echo_result(result: TurnResult) -> None:
    if result.status != "silent":
        typer.echo(result.text)
