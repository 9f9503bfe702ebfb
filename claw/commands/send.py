"""`claw send`: one agent turn from the command line or a script."""

from __future__ import annotations

import sys

import typer

from claw.commands._base import print_json, state
from claw.commands._turns import echo_result, finish_background, run_and_render
from claw.errors import UsageError

THINKING = ("off", "low", "medium", "high")


def read_text(text: str | None) -> str:
    if text == "-" or (text is None and not sys.stdin.isatty()):
        return sys.stdin.read().rstrip("\r\n")
    if text is None:
        raise UsageError("nothing to send: give TEXT, or '-' to read it from standard input")
    return text


def send_command(
    ctx: typer.Context,
    text: str = typer.Argument(
        None, help="The message. '-' (or piping into claw) reads it from standard input."
    ),
    session: str = typer.Option(
        None, "--session", "-s", metavar="KEY", help="Session key (default: agent:<agent>:main)."
    ),
    agent: str = typer.Option("main", "--agent", "-a", metavar="ID", help="Agent that answers."),
    model: str = typer.Option(
        None,
        "--model",
        "-m",
        metavar="MODEL",
        help="Model for this turn (default: from config), e.g. echo.",
    ),
    thinking: str = typer.Option(
        None,
        "--thinking",
        metavar="LEVEL",
        help="Reasoning level: off, low, medium, high (default: model.thinking).",
    ),
    timeout: float = typer.Option(
        None,
        "--timeout",
        metavar="SECONDS",
        min=0.001,
        help="Stop the turn after this long (default: model.timeout_s).",
    ),
    verbose: bool = typer.Option(
        False,
        "--verbose",
        help="Show tool calls and retries on stderr; list tools used.",
    ),
    as_json: bool = typer.Option(
        False,
        "--json",
        help="Print {session_key, message_id, text, model, usage, duration_ms} as JSON.",
    ),
) -> None:
    """Send a message and print the reply.

    The reply is streamed on a terminal and printed whole when piped. The exchange is
    stored in the session's transcript before this returns.
    """
    from claw.agent.turn import TurnRequest

    st = state(ctx)
    if thinking is not None and thinking not in THINKING:
        raise UsageError(f"--thinking: expected one of {', '.join(THINKING)}, got {thinking!r}")
    req = TurnRequest(
        text=read_text(text),
        agent_id=agent,
        session_key=session,
        model=model,
        thinking=thinking,
        timeout_s=timeout,
        verbose=verbose,
    )
    stream = not as_json and sys.stdout.isatty()
    try:
        result = run_and_render(st, req, stream=stream, show_events=verbose)
    finally:
        finish_background()
    if as_json:
        data = result.to_dict()
        for extra in ("status", "tools", "reasoning"):
            data.pop(extra, None)
        print_json(data)
    elif not stream:
        echo_result(result)


def register(app: typer.Typer) -> None:
    app.command("send")(send_command)
