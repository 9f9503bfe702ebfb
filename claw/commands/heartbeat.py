"""`claw heartbeat`: run the heartbeat's check chain once (for cron), or see its state."""

from __future__ import annotations

import time
from datetime import datetime, tzinfo

import typer

from claw.commands._base import print_json, state, sub_app
from claw.commands.tty import echo

app = sub_app("Run or inspect the heartbeat (periodic HEARTBEAT.md checks).")


def _when(ts: float | None, zone: tzinfo | None) -> str:
    """In the heartbeat's zone (active_hours.timezone, else user.timezone), like the
    reasons the runner writes, and only then the system's."""
    if ts is None:
        return "-"
    moment = datetime.fromtimestamp(ts, zone) if zone else datetime.fromtimestamp(ts).astimezone()
    return moment.strftime("%Y-%m-%d %H:%M %Z")


def _due(ts: float | None, zone: tzinfo | None) -> str:
    """ "next due" text: a time already past means the run is due and held back (by the
    reason shown with the last check: quiet hours, nothing to check, no target yet)."""
    if ts is not None and ts <= time.time():
        return f"now (due since {_when(ts, zone)}; held back by the last check's reason)"
    return _when(ts, zone)


@app.command("run-once")
def run_once(
    ctx: typer.Context,
    agent: str = typer.Option("main", "--agent", "-a", metavar="ID", help="Whose heartbeat."),
    force: bool = typer.Option(
        False, "--force", help="Run even if disabled, not due or outside active hours."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Check everything, but do not call the model."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON."),
) -> None:
    """Run the full check chain once and say what happened and why.

    For cron when no daemon runs: it takes the same lock as the daemon, so the two never
    run one agent's heartbeat at once. Exit status 0 whatever the outcome (skipped, silent
    or sent); 1 if the model failed or the agent is unknown; 2 if its settings are invalid.
    """
    from claw.agent.selection import check_agent
    from claw.heartbeat.runner import run_once as run
    from claw.heartbeat.settings import settings_for

    st = state(ctx)
    config = st.config()
    out = run(st.home(), config, check_agent(config, agent), force=force, dry_run=dry_run)
    if as_json:
        print_json(out.to_dict())
    else:
        echo(f"{out.agent}: {out.outcome} ({out.step}): {out.reason}")
        if out.outcome == "sent" and out.delivery_id:
            echo(f"  queued as {out.delivery_id}")
        if out.reminders:
            n = len(out.reminders)
            echo(f"  {n} reminder{'s' if n > 1 else ''} queued: {', '.join(out.reminders)}")
        echo(f"  next due {_due(out.next_due_at, settings_for(config, out.agent).tz())}")
    if out.outcome == "error":
        raise typer.Exit(1)


@app.command("status")
def status(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Each agent's last heartbeat: when, the outcome and why, and when it is next due."""
    from claw.heartbeat.settings import settings_for
    from claw.heartbeat.state import HeartbeatState

    st = state(ctx)
    home, config = st.home(), st.config()
    rows = []
    for agent in config.agent_ids():
        s = HeartbeatState.load(home, agent, time.time())
        settings = settings_for(config, agent)
        rows.append(
            {
                "agent": agent,
                "enabled": settings.enabled,
                "every_s": settings.every_s,
                "last_check_at": s.last_check_at,
                "last_run_at": s.last_run_at,
                "last_outcome": s.last_outcome,
                "last_reason": s.last_reason,
                "next_due_at": s.next_due_at,
            }
        )
    if as_json:
        print_json(rows)
        return
    for r in rows:
        zone = settings_for(config, r["agent"]).tz()
        state_ = "enabled" if r["enabled"] else "disabled"
        echo(f"{r['agent']} ({state_}, every {r['every_s']:.0f}s)")
        echo(f"  last check {_when(r['last_check_at'], zone)}: {r['last_outcome'] or '-'}")
        if r["last_reason"]:
            echo(f"    {r['last_reason']}")
        last, due = _when(r["last_run_at"], zone), _due(r["next_due_at"], zone)
        echo(f"  last model run {last}, next due {due}")
