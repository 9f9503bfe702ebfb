"""`claw init`: create the state directory (never overwriting what a user wrote)."""

from __future__ import annotations

import typer

from claw.commands._base import confirm_or_refuse, info, print_json, state
from claw.state.home import Home
from claw.state.init import initialise


def init_command(
    ctx: typer.Context,
    force: bool = typer.Option(
        False, "--force", help="Reset config.toml, the gateway token and the starter files."
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask before --force resets."),
    as_json: bool = typer.Option(False, "--json", help="Print what was done as JSON."),
) -> None:
    """Create the state directory (config, token, workspace).

    Creates config.toml, gateway.token (0600) and the main agent's workspace with starter
    SOUL.md, AGENTS.md, USER.md and HEARTBEAT.md. Safe to run again: existing files are
    kept unless --force.
    """
    st = state(ctx)
    home = Home.resolve(st.home_arg)
    if force and home.config_file.exists():
        confirm_or_refuse(
            f"Reset config.toml, gateway.token and the starter files in {home.root}?", yes
        )
    report = initialise(home, force=force)
    if as_json:
        print_json(
            {
                "home": str(report.home),
                "created": [str(p) for p in report.created],
                "kept": [str(p) for p in report.kept],
            }
        )
        return
    verb = "Initialised" if report.created else "Already initialised:"
    typer.echo(f"{verb} {report.home}")
    for p in report.created:
        typer.echo(f"  created {p.relative_to(report.home)}")
    if report.kept and report.created:
        info(f"  kept {len(report.kept)} existing file(s); --force resets them")


def register(app: typer.Typer) -> None:
    app.command("init")(init_command)
