"""Scheduled jobs on disk: `cron/jobs.json` (the jobs and their state) and a run log per job.

jobs.json is small and rewritten whole, atomically, under `locks/cron.lock`, with every
change a read-modify-write inside the lock: `claw cron add` in one shell and the daemon
recording a run never lose each other's update. Each run is appended to
`cron/runs/<job>.jsonl` (append-only, torn-line tolerant), so the log of one job costs
nothing to the others.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from claw.cron.schedule import Schedule
from claw.errors import ClawError, NotFound, UsageError
from claw.state import jsonl
from claw.state.atomic import atomic_write_text
from claw.state.home import Home, make_private_dir
from claw.state.locks import FileLock, file_lock
from claw.state.names import validate_simple_name

FORMAT_VERSION = 1
CATCH_UP = ("once", "skip")


@dataclass
class Job:
    name: str
    kind: str  # at | every | cron
    value: str  # see claw.cron.schedule.Schedule
    tz: str
    anchor: float = 0.0
    message: str | None = None  # an agent turn in session cron:<name> …
    agent: str = "main"
    notify: str | None = None  # … or this text, queued as it is
    deliver: str | None = None  # CHANNEL:PEER
    delete_after_run: bool = False
    catch_up: str | None = None  # once | skip (None: config cron.catch_up)
    enabled: bool = True
    created_at: float = 0.0
    next_run_at: float | None = None  # epoch seconds (UTC); None: nothing left to run
    last_run_at: float | None = None
    last_status: str | None = None  # ok | error
    last_error: str | None = None
    last_delivery_id: str | None = None
    failures: int = 0  # consecutive
    runs: int = 0
    disabled_reason: str | None = None

    @property
    def schedule(self) -> Schedule:
        return Schedule(self.kind, self.value, self.tz, self.anchor)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Job:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})


@dataclass
class Finished:
    """What recording a run did to its job."""

    job: Job | None  # the job now (None: it was deleted, by --delete-after-run or by rm)
    disabled: bool = False  # this run's failure disabled it
    deleted: bool = False


class JobStore:
    def __init__(self, home: Home) -> None:
        self.home = home
        self.dir = home.root / "cron"
        self.path = self.dir / "jobs.json"
        self.runs_dir = self.dir / "runs"

    def lock(self) -> FileLock:
        make_private_dir(self.home.locks_dir)
        return file_lock(self.home.locks_dir / "cron.lock")

    def run_lock(self, name: str, timeout: float = -1) -> FileLock:
        """Held while a job runs: one run of a job at a time, across processes."""
        make_private_dir(self.home.locks_dir)
        path = self.home.locks_dir / f"cron-{validate_simple_name(name, 'job name')}.run.lock"
        return file_lock(path, timeout=timeout)

    # -- jobs.json ------------------------------------------------------------------
    def load(self) -> dict[str, Job]:
        """Every job, in the order they were added ({} before the first)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        try:
            raw = json.loads(text)
            jobs = [Job.from_dict(j) for j in raw["jobs"]]
        except (ValueError, KeyError, TypeError) as e:
            raise ClawError(
                f"{self.path}: unreadable ({e})",
                hint="fix or remove the file; the run logs in cron/runs/ are kept",
            ) from None
        return {j.name: j for j in jobs}

    def _write(self, jobs: dict[str, Job]) -> None:
        make_private_dir(self.dir)
        data = {"version": FORMAT_VERSION, "jobs": [j.to_dict() for j in jobs.values()]}
        atomic_write_text(self.path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")

    def get(self, name: str) -> Job:
        job = self.load().get(validate_simple_name(name, "job name"))
        if job is None:
            raise NotFound(f"no cron job named {name!r}", hint="`claw cron list` shows them")
        return job

    def add(self, job: Job) -> Job:
        validate_simple_name(job.name, "job name")
        with self.lock():
            jobs = self.load()
            if job.name in jobs:
                raise UsageError(
                    f"a cron job named {job.name!r} already exists",
                    hint=f"pick another --name, or `claw cron rm {job.name}` first",
                )
            jobs[job.name] = job
            self._write(jobs)
        return job

    def remove(self, name: str) -> Job:
        with self.lock():
            jobs = self.load()
            job = jobs.pop(validate_simple_name(name, "job name"), None)
            if job is None:
                raise NotFound(f"no cron job named {name!r}", hint="`claw cron list` shows them")
            self._write(jobs)
        return job

    def update(self, name: str, change: Callable[[Job], None]) -> Job:
        """Apply `change` to the job as it is on disk now, and write it back."""
        with self.lock():
            jobs = self.load()
            job = jobs.get(name)
            if job is None:
                raise NotFound(f"no cron job named {name!r}", hint="`claw cron list` shows them")
            change(job)
            self._write(jobs)
        return job

    def finish(
        self,
        name: str,
        record: dict[str, Any],
        *,
        max_failures: int,
        next_run_at: float | None = None,
        reschedule: bool = False,
    ) -> Finished:
        """Record a run's outcome in the job's state: counts, last status, consecutive
        failures (disabling the job at `max_failures`), and its next run when the run was
        the scheduled one (`reschedule`). A one-shot job with --delete-after-run that ran
        fine is deleted."""
        with self.lock():
            jobs = self.load()
            job = jobs.get(name)
            if job is None:
                return Finished(None)
            status = record["status"]
            out = Finished(job)
            if status != "skipped":  # a skipped run leaves the last real one on show
                job.runs += 1
                job.last_run_at = record["started_at"]
                job.last_delivery_id = record.get("delivery_id")
                job.last_status, job.last_error = status, record.get("error")
                job.failures = job.failures + 1 if status == "error" else 0
            if status == "error" and job.failures >= max_failures and job.enabled:
                job.enabled = False
                job.disabled_reason = f"{job.failures} failures in a row; last: {job.last_error}"
                out.disabled = True
            if reschedule:
                job.next_run_at = next_run_at
                if next_run_at is None and job.delete_after_run and status == "ok":
                    del jobs[name]
                    out.job, out.deleted = None, True
                elif next_run_at is None and status == "skipped" and job.enabled:
                    # A one-shot job whose only run was skipped will never run: say so,
                    # rather than list it as enabled with nothing ahead, like a done one.
                    job.enabled = False
                    job.disabled_reason = "its one run was missed (catch_up = skip)"
            self._write(jobs)
        return out

    # -- run log --------------------------------------------------------------------
    def runs_file(self, name: str) -> Path:
        return self.runs_dir / f"{validate_simple_name(name, 'job name')}.jsonl"

    def append_run(self, name: str, record: dict[str, Any]) -> None:
        make_private_dir(self.runs_dir)
        jsonl.append_records(self.runs_file(name), [record])

    def runs(self, name: str, limit: int = 20) -> list[dict[str, Any]]:
        """The last `limit` runs of a job, oldest first."""
        path = self.runs_file(name)
        if not path.exists():
            return []
        result, _ = jsonl.read_tail(path, min_bytes=limit * 600)
        if len(result.records) < limit:
            result = jsonl.read_all(path)
        return result.records[-limit:]
