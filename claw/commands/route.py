"""`claw route`: which agent and session a message would get, and why."""

from __future__ import annotations

import typer

from claw.commands._base import print_json, state


def route_command(
    ctx: typer.Context,
    channel: str = typer.Option(..., "--channel", "-c", metavar="CHANNEL", help="e.g. telegram."),
    peer: str = typer.Option(..., "--peer", "-p", metavar="ID", help="The sender's id."),
    account: str = typer.Option(
        "default", "--account", metavar="ID", help="The channel account it came in on."
    ),
    group: str = typer.Option(
        None, "--group", "-g", metavar="ID", help="The message is in this group."
    ),
    guild: str = typer.Option(None, "--guild", metavar="ID", help="The guild (server) it is in."),
    thread: str = typer.Option(None, "--thread", metavar="ID", help="The thread it is in."),
    as_json: bool = typer.Option(
        False, "--json", help="Print {agent, session_key, binding, tier, why} as JSON."
    ),
) -> None:
    """Print which agent and session key a message would get, and why.

    Precedence: exact peer > parent peer (thread) > guild > account > channel > the
    default agent (main); within a tier the first binding in config.toml wins.
    """
    from claw.routing.route import Inbound, route

    msg = Inbound(
        channel=channel, peer=peer, account=account, group=group, guild=guild, thread=thread
    )
    r = route(state(ctx).config(), msg)
    if as_json:
        print_json(r.to_dict())
        return
    typer.echo(f"agent        {r.agent}")
    typer.echo(f"session key  {r.session_key}")
    typer.echo(f"why          {r.why}")


def register(app: typer.Typer) -> None:
    app.command("route")(route_command)
