"""Running a turn from the terminal: shared by `claw send` and `claw chat`."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import typer

from claw.agent.events import TextDelta, TurnEnd, TurnResult
from claw.commands._base import AppState

if TYPE_CHECKING:
    from claw.agent.turn import TurnRequest


def run_and_render(st: AppState, req: TurnRequest, *, stream: bool) -> TurnResult:
    """Run one turn; with `stream`, write deltas to stdout as they arrive."""
    from claw.agent.turn import run_turn  # not at import: keeps `claw --help` light

    result: TurnResult | None = None
    wrote = False
    events = run_turn(st.home(), st.config(), st.store(), req)
    try:
        for event in events:
            if isinstance(event, TextDelta) and stream:
                sys.stdout.write(event.text)
                sys.stdout.flush()
                wrote = True
            elif isinstance(event, TurnEnd):
                result = event.result
    finally:
        if wrote:
            sys.stdout.write("\n")
            sys.stdout.flush()
        events.close()
    assert result is not None  # run_turn always ends with TurnEnd or raises
    return result


def echo_result(result: TurnResult) -> None:
    typer.echo(result.text)
