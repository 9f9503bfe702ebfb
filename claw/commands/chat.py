"""`claw chat`: an interactive conversation in the terminal."""

from __future__ import annotations

import typer

from claw.commands._base import info, session_ended, state, styled
from claw.commands._turns import finish_background, run_and_render
from claw.errors import ClawError
from claw.state.session_keys import main_key

HELP = "Commands: /new (start afresh), /history (recent messages), /exit. Ctrl-C stops a reply."


def chat_command(
    ctx: typer.Context,
    session: str = typer.Option(None, "--session", "-s", metavar="KEY", help="Session key."),
    agent: str = typer.Option("main", "--agent", "-a", metavar="ID", help="Agent that answers."),
    model: str = typer.Option(
        None, "--model", "-m", metavar="MODEL", help="Model for this conversation."
    ),
) -> None:
    """Talk with the assistant interactively.

    Replies stream as they are generated. /new starts afresh, /history shows recent
    messages, /exit or Ctrl-D leaves; Ctrl-C stops the current reply, not the program.
    """
    from claw.agent.selection import check_agent
    from claw.agent.turn import TurnRequest

    st = state(ctx)
    check_agent(st.config(), agent)
    key = session or main_key(agent)
    store = st.store()
    info(f"claw chat · session {key} · {HELP}")
    try:
        while True:
            try:
                line = input(styled("you> ", fg="cyan", bold=True))
            except EOFError:
                info("")
                return
            except KeyboardInterrupt:
                info("")
                continue
            text = line.strip()
            if not text:
                continue
            if text in ("/exit", "/quit"):
                return
            if text == "/new":
                if store.exists(key):
                    dest = store.clear(key)
                    session_ended(st, key)
                    info(f"(started afresh; old transcript archived as {dest.name})")
                continue
            if text == "/history":
                if store.exists(key):
                    for rec in store.tail(key, 10).messages:
                        info(f"{rec.get('role')}: {rec.get('content') or rec.get('error', '')}")
                continue
            if text.startswith("/"):
                info(f"unknown command {text.split()[0]}. {HELP}")
                continue
            typer.echo(styled("claw> ", fg="green", bold=True), nl=False)
            try:
                run_and_render(
                    st,
                    TurnRequest(text=text, agent_id=agent, session_key=key, model=model),
                    stream=True,
                )
            except KeyboardInterrupt:
                info("(reply interrupted)")
            except ClawError as e:
                info(styled("error:", fg="red", err=True) + f" {e}")

    finally:
        finish_background()


def register(app: typer.Typer) -> None:
    app.command("chat")(chat_command)
