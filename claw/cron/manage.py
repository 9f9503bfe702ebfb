"""Adding, removing, enabling and disabling jobs: the checks every entry point shares.

The CLI (and any future gateway method) call these; each raises UsageError naming the
flag at fault, so a mistake is caught when the job is added, not at 9 o'clock tomorrow.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from datetime import datetime

from claw.cron.jobs import CATCH_UP, Job, JobStore
from claw.cron.schedule import default_zone_name, make_schedule, zone
from claw.errors import NotFound, UsageError
from claw.state.config import Config
from claw.state.home import Home
from claw.state.names import validate_simple_name


@dataclass
class JobSpec:
    name: str
    at: str | None = None  # WHEN, as claw.tasks.when.parse_when reads it
    every: str | None = None
    cron: str | None = None
    tz: str | None = None
    message: str | None = None
    agent: str | None = None
    notify: str | None = None
    deliver: str | None = None
    delete_after_run: bool = False
    catch_up: str | None = None


def add_job(home: Home, config: Config, spec: JobSpec, *, now: float | None = None) -> Job:
    """Validate `spec`, compute the first run and store the job."""
    now = time.time() if now is None else now
    name = validate_simple_name(spec.name, "job name")
    tz = spec.tz or default_zone_name(config.get("user.timezone"))
    at = _parse_at(spec.at, tz, now) if spec.at else None
    schedule = make_schedule(at=at, every=spec.every, cron=spec.cron, tz=tz, now=now)
    _check_action(config, spec)
    if spec.delete_after_run and schedule.kind != "at":
        raise UsageError("--delete-after-run only goes with --at (a one-shot job)")
    if spec.catch_up is not None and spec.catch_up not in CATCH_UP:
        raise UsageError(f"--catch-up: expected one of {', '.join(CATCH_UP)}")
    job = Job(
        name=name,
        kind=schedule.kind,
        value=schedule.value,
        tz=schedule.tz,
        anchor=schedule.anchor,
        message=spec.message,
        agent=spec.agent or "main",
        notify=spec.notify,
        deliver=spec.deliver,
        delete_after_run=spec.delete_after_run,
        catch_up=spec.catch_up,
        created_at=now,
        next_run_at=schedule.next_after(now),
    )
    return JobStore(home).add(job)


def _parse_at(text: str, tz: str, now: float) -> datetime:
    from claw.tasks.when import parse_when

    zone_ = zone(tz)
    try:
        return parse_when(text, now=datetime.fromtimestamp(now, zone_), zone=zone_)
    except UsageError as e:
        raise UsageError(f"--at: {e.message}", hint=e.hint) from None


def _check_action(config: Config, spec: JobSpec) -> None:
    if (spec.message is None) == (spec.notify is None):
        raise UsageError(
            "give exactly one action: --message TEXT (an agent turn) or --notify TEXT "
            "(a message sent as it is)"
        )
    if spec.message is not None:
        if not spec.message.strip():
            raise UsageError("--message: the message is empty")
        from claw.agent.selection import check_agent

        try:
            check_agent(config, spec.agent or "main")
        except NotFound as e:  # a flag's value: a usage error when the job is added
            raise UsageError(f"--agent: {e.message}") from None
    else:
        if spec.agent is not None:
            raise UsageError("--agent goes with --message (a --notify job runs no agent)")
        if not (spec.notify or "").strip():
            raise UsageError("--notify: the text is empty")
        if not spec.deliver:
            raise UsageError("--notify needs --deliver CHANNEL:PEER (where to send it)")
    if spec.deliver:
        from claw.channels.registry import known_channels
        from claw.delivery.service import parse_target

        channel, _ = parse_target(spec.deliver)
        if channel not in known_channels():
            raise UsageError(
                f"--deliver: unknown channel {channel!r}",
                hint="channels: " + ", ".join(known_channels()),
            )


def remove_job(home: Home, name: str) -> Job:
    """Delete the job and its run log."""
    store = JobStore(home)
    job = store.remove(name)
    with contextlib.suppress(FileNotFoundError):
        store.runs_file(name).unlink()
    return job


def set_enabled(home: Home, name: str, enabled: bool, *, now: float | None = None) -> Job:
    """Turn a job on (failure count reset, next run from now) or off."""
    now = time.time() if now is None else now

    def change(job: Job) -> None:
        if enabled and not job.enabled:
            job.failures, job.disabled_reason = 0, None
            job.next_run_at = job.schedule.next_after(now)
        elif not enabled and job.enabled:
            job.disabled_reason = "disabled by hand"
        job.enabled = enabled

    return JobStore(home).update(validate_simple_name(name, "job name"), change)
