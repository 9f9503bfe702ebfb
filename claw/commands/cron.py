"""`claw cron`: scheduled jobs, run by the daemon (`claw serve`)."""

from __future__ import annotations

from typing import Any

import typer

from claw.commands._base import AppState, info, print_json, print_table, state, sub_app
from claw.commands.tty import echo
from claw.errors import ClawError

app = sub_app("Scheduled jobs: add, list, rm, run, runs, enable, disable.")

NAME_ARG = typer.Argument(..., metavar="NAME", help="The job's name (its id).")
JSON_JOB = typer.Option(False, "--json", help="Print the job as JSON.")


def _local_zone(st: AppState) -> str:
    from claw.cron.schedule import default_zone_name

    return default_zone_name(st.config().get("user.timezone"))


def _daemon_note(st: AppState) -> None:
    from claw.daemon import read_gateway_info

    if read_gateway_info(st.home()) is None:
        info("note: no daemon is running; jobs run on schedule only under `claw serve`")


@app.command("add")
def add(
    ctx: typer.Context,
    name: str = typer.Option(..., "--name", metavar="NAME", help="A name for the job (its id)."),
    at: str = typer.Option(
        None, "--at", metavar="WHEN", help="Run once: 'tomorrow 9am', 'in 2h', 'fri 17:00', ISO."
    ),
    every: str = typer.Option(
        None, "--every", metavar="DURATION", help="Run at this interval, e.g. 30m, 2h, 1d."
    ),
    cron: str = typer.Option(
        None, "--cron", metavar="EXPR", help="Run on a cron expression, e.g. '0 9 * * 1-5'."
    ),
    tz: str = typer.Option(
        None,
        "--tz",
        metavar="ZONE",
        help="Time zone of --at and --cron (default: user.timezone, else the system's).",
    ),
    message: str = typer.Option(
        None, "--message", "-m", metavar="TEXT", help="Ask the agent this (session cron:NAME)."
    ),
    agent: str = typer.Option(
        None, "--agent", metavar="ID", help="The agent --message goes to (default: main)."
    ),
    notify: str = typer.Option(
        None, "--notify", metavar="TEXT", help="Send this text as it is (needs --deliver)."
    ),
    deliver: str = typer.Option(
        None, "--deliver", metavar="CH:PEER", help="Where the reply or text goes, e.g. mock:me."
    ),
    delete_after_run: bool = typer.Option(
        False, "--delete-after-run", help="With --at: delete the job once it has run fine."
    ),
    catch_up: str = typer.Option(
        None,
        "--catch-up",
        metavar="once|skip",
        help="A run missed while the daemon was down: run it once, or skip it "
        "(default: cron.catch_up, once).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the job as JSON."),
) -> None:
    """Add a job: one schedule (--at, --every or --cron), one action (--message or --notify).

    Exit status: 0 added; 2 a bad schedule, action or name, or the name is taken (nothing
    is added).
    """
    from claw.cron.manage import JobSpec, add_job
    from claw.cron.schedule import format_local

    st = state(ctx)
    spec = JobSpec(
        name=name,
        at=at,
        every=every,
        cron=cron,
        tz=tz,
        message=message,
        agent=agent,
        notify=notify,
        deliver=deliver,
        delete_after_run=delete_after_run,
        catch_up=catch_up,
    )
    job = add_job(st.home(), st.config(), spec)
    if as_json:
        print_json(job.to_dict())
    else:
        nxt = format_local(job.next_run_at, _local_zone(st))
        typer.echo(f"added {job.name}: {job.schedule.describe()}; next run {nxt}")
    _daemon_note(st)


@app.command("list")
def list_(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List jobs: schedule, next run (local time), last status, enabled."""
    from claw.cron.jobs import JobStore
    from claw.cron.schedule import format_local

    st = state(ctx)
    jobs = list(JobStore(st.home()).load().values())
    if as_json:
        print_json([j.to_dict() for j in jobs])
        return
    if not jobs:
        info("no cron jobs (add one with `claw cron add`)")
        return
    zone = _local_zone(st)
    rows = [("NAME", "SCHEDULE", "NEXT RUN", "LAST", "ENABLED")]
    for j in jobs:
        last = j.last_status or "-"
        if j.failures:
            last += f" ({j.failures} in a row)"
        nxt = format_local(j.next_run_at, zone) if j.enabled else "-"
        enabled = "yes" if j.enabled else f"no: {j.disabled_reason or 'disabled'}"
        rows.append((j.name, j.schedule.describe(), nxt, last, enabled))
    print_table(rows)


@app.command("rm")
def rm(ctx: typer.Context, name: str = NAME_ARG, as_json: bool = JSON_JOB) -> None:
    """Delete a job and its run log.

    Exit status: 0 deleted; 1 no such job.
    """
    from claw.cron.manage import remove_job

    job = remove_job(state(ctx).home(), name)
    if as_json:
        print_json(job.to_dict())
        return
    info(f"removed {name}")


@app.command("enable")
def enable(ctx: typer.Context, name: str = NAME_ARG, as_json: bool = JSON_JOB) -> None:
    """Turn a job back on (after failures, or `disable`); its next run counts from now."""
    from claw.cron.manage import set_enabled
    from claw.cron.schedule import format_local

    st = state(ctx)
    job = set_enabled(st.home(), name, True)
    if as_json:
        print_json(job.to_dict())
        return
    info(f"enabled {name}; next run {format_local(job.next_run_at, _local_zone(st))}")


@app.command("disable")
def disable(ctx: typer.Context, name: str = NAME_ARG, as_json: bool = JSON_JOB) -> None:
    """Stop a job from running on schedule (it stays listed; `enable` resumes it)."""
    from claw.cron.manage import set_enabled

    job = set_enabled(state(ctx).home(), name, False)
    if as_json:
        print_json(job.to_dict())
        return
    info(f"disabled {name}")


@app.command("run")
def run(
    ctx: typer.Context,
    name: str = NAME_ARG,
    as_json: bool = typer.Option(False, "--json", help="Print the run record as JSON."),
) -> None:
    """Run a job now, in this process (its schedule is unchanged).

    Exit status: 0 it ran fine; 1 it failed, or no such job.
    """
    from claw.cron.jobs import JobStore
    from claw.cron.runner import run_job

    st = state(ctx)
    home = st.home()
    job = JobStore(home).get(name)
    record = run_job(home, st.config(), job, trigger="manual", lock_timeout=0).record
    if as_json:
        print_json(record.to_dict() | {"reply": record.reply})
    else:
        if record.reply and record.status == "ok":
            echo(record.reply)
        if record.delivery_id:
            info(f"queued for {job.deliver}: {record.delivery_id}")
    if record.status == "error":
        if as_json:
            raise typer.Exit(1)
        raise ClawError(f"cron job {name} failed: {record.error}")


@app.command("runs")
def runs(
    ctx: typer.Context,
    name: str = NAME_ARG,
    limit: int = typer.Option(20, "--limit", min=1, metavar="N", help="The last N runs."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show a job's run log, oldest first."""
    from claw.cron.jobs import JobStore
    from claw.cron.schedule import format_local

    st = state(ctx)
    store = JobStore(st.home())
    records = store.runs(name, limit)
    if not records:
        store.get(name)  # an unknown job is an error; a known one simply has not run
    if as_json:
        print_json(records)
        return
    if not records:
        info(f"{name} has not run yet")
        return
    zone = _local_zone(st)
    for r in records:
        echo(_run_line(r, zone, format_local))


def _run_line(r: dict[str, Any], zone: str, format_local: Any) -> str:
    took = max(0.0, float(r.get("finished_at", 0)) - float(r.get("started_at", 0)))
    parts = [format_local(r.get("started_at"), zone), f"{r.get('status', '?'):<7}"]
    parts.append(f"{r.get('trigger', '?'):<8}")
    parts.append(f"{took:.1f}s")
    if r.get("delivery_id"):
        parts.append(f"queued {r['delivery_id']}")
    if r.get("recovered"):
        parts.append("(queued before a crash: not run again)")
    if r.get("error"):
        parts.append(r["error"])
    if r.get("disabled"):
        parts.append("(job disabled)")
    return "  ".join(parts)
