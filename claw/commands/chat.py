"""`claw chat`: an interactive conversation in the terminal."""

from __future__ import annotations

import typer

from claw.commands._base import AppState, info, session_ended, state, styled
from claw.commands._turns import finish_background, run_and_render
from claw.commands.tty import for_terminal
from claw.errors import ClawError, UsageError

HELP = "Commands: /new (start afresh), /history (recent messages), /exit. Ctrl-C stops a reply."


def chat_command(
    ctx: typer.Context,
    session: str = typer.Option(None, "--session", "-s", metavar="KEY", help="Session key."),
    agent: str = typer.Option(
        None, "--agent", "-a", metavar="ID", help="Agent that answers (default: as routed)."
    ),
    model: str = typer.Option(
        None, "--model", "-m", metavar="MODEL", help="Model for this conversation."
    ),
    mode: str = typer.Option(
        "auto",
        "--mode",
        metavar="MODE",
        help="fast, single or multi for every message; auto: the supervisor decides (default).",
    ),
) -> None:
    """Talk with the assistant interactively.

    Replies stream as they are generated. /new starts afresh, /history shows recent
    messages, /exit or Ctrl-D leaves; Ctrl-C stops the current reply, not the program.

    The terminal is a channel like the others: without --agent or --session, the
    [[bindings]] for channel "terminal" (peer: your login name) pick the agent and the
    agent's dm_scope the session. Messages queued for you on the terminal channel (a
    heartbeat, `claw notify --channel terminal`) are shown when you start and after
    each reply.
    """
    from claw.agent.selection import check_agent
    from claw.agent.session_lane import idle_lane
    from claw.agent.turn import TurnRequest
    from claw.channels.terminal import local_user
    from claw.commands.send import MODES
    from claw.heartbeat.last_target import remember
    from claw.routing.route import Inbound, build_session_key, route
    from claw.state.session_keys import agent_for

    if mode not in MODES:
        raise UsageError(f"--mode: expected one of {', '.join(MODES)}, got {mode!r}")
    st = state(ctx)
    config = st.config()
    user = local_user()
    inbound = Inbound(channel="terminal", peer=user)
    agent = agent_for(agent, session) or route(config, inbound).agent
    check_agent(config, agent)
    key = session or build_session_key(config, agent, inbound)
    remember(st.home(), agent, "terminal", user)
    store = st.store()
    info(f"claw chat · {agent} · session {key} · {HELP}")
    _show_mail(st, user)
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
                    try:
                        with idle_lane(store, key):  # not under another process's turn
                            dest = store.clear(key)
                    except ClawError as e:
                        info(styled("error:", fg="red", err=True) + f" {e}")
                        continue
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
                    TurnRequest(text=text, agent_id=agent, session_key=key, model=model, mode=mode),
                    stream=True,
                )
            except KeyboardInterrupt:
                info("(reply interrupted)")
            except ClawError as e:
                problem = for_terminal(f" {e}", err=True)  # may quote the model or a tool
                typer.echo(styled("error:", fg="red", err=True) + problem, err=True)
            _show_mail(st, user)

    finally:
        finish_background()


def _show_mail(st: AppState, user: str) -> None:
    """Print what was delivered to this user on the terminal channel since last time."""
    from claw.channels.terminal import unread

    for rec in unread(st.home(), user):
        text = for_terminal(str(rec.get("text", "")), err=True)  # a message from outside
        typer.echo(styled(f"[{rec.get('at', '')}] ", fg="yellow", err=True) + text, err=True)


def register(app: typer.Typer) -> None:
    app.command("chat")(chat_command)
