"""Run one job, whoever asks (the daemon's scheduler, `claw cron run`), and record the run.

A `--message` job is an agent turn in the session `cron:<name>` on the `cron` lane; its
reply is queued for `--deliver` unless it is silent (NO_REPLY) or empty, which is never
delivered (an empty reply counts as a failure). A `--notify` job queues its text as it is.
Every run is appended to the job's run log and folded into its state; the run that makes
`cron.max_failures` (default 5) failures in a row disables the job, logs a warning and
calls `on_disabled`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from claw.cron.jobs import Finished, Job, JobStore
from claw.cron.schedule import format_instant
from claw.delivery import origins
from claw.errors import ClawError
from claw.state.config import Config
from claw.state.home import Home
from claw.state.session_keys import cron_key

log = logging.getLogger("claw.cron")
DEFAULT_MAX_FAILURES = 5
TRIGGERS = ("schedule", "catch-up", "manual")
REPLY_PREVIEW = 500
OnDisabled = Callable[[Job, dict[str, Any]], None]


@dataclass
class RunRecord:
    job: str
    trigger: str  # schedule | catch-up | manual
    started_at: float
    finished_at: float = 0.0
    status: str = "ok"  # ok | error | skipped
    error: str | None = None
    scheduled_for: float | None = None
    session_key: str | None = None
    message_id: str | None = None
    reply_status: str | None = None  # the turn's: ok | silent | error | …
    reply: str | None = None  # the reply (the run log keeps its start; the session, all)
    delivery_id: str | None = None
    recovered: bool = False  # queued by an earlier attempt that crashed before this record
    disabled: bool = False

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if v is not None and v is not False}
        if self.reply and len(self.reply) > REPLY_PREVIEW:
            out["reply"] = self.reply[:REPLY_PREVIEW] + "…"
        return out


@dataclass
class RunOutcome:
    record: RunRecord
    finished: Finished


def max_failures(config: Config) -> int:
    return int(config.get("cron.max_failures") or DEFAULT_MAX_FAILURES)


def run_job(
    home: Home,
    config: Config,
    job: Job,
    *,
    trigger: str = "manual",
    due: float | None = None,
    clock: Callable[[], float] = time.time,
    abort: threading.Event | None = None,
    on_disabled: OnDisabled | None = None,
    lock_timeout: float = -1,
) -> RunOutcome:
    """Run `job` now and record it. A scheduled run (`schedule`, `catch-up`) also moves
    the job to its next run after `due`; a manual one leaves the schedule alone.
    Raises ClawError only when the job is already running elsewhere (`lock_timeout`)."""
    store = JobStore(home)
    lock = store.run_lock(job.name, timeout=lock_timeout)
    try:
        lock.acquire()
    except TimeoutError:
        raise ClawError(
            f"cron job {job.name!r} is running right now (in the daemon or another shell)",
            hint="wait for it to finish; `claw cron runs` shows its outcome",
        ) from None
    try:
        record = RunRecord(job.name, trigger, clock(), scheduled_for=due)
        # A scheduled run names its occurrence: if a crash came between queueing its
        # message and this record, the retry finds it queued and runs nothing again.
        origin = None if due is None else origins.origin("cron", job.name, due)
        try:
            if origin is not None and (queued := origins.queued(home, origin)):
                record.delivery_id, record.recovered = queued, True
                log.info("cron job %s: the run due %s was queued before a crash", job.name, due)
            else:
                _execute(home, config, job, record, abort, origin)
        except ClawError as e:
            record.status, record.error = "error", e.message
        except Exception as e:  # a bug, or a library's error: this run failed, not the daemon
            log.exception("cron job %s: unexpected error", job.name)
            record.status, record.error = "error", f"{type(e).__name__}: {e}"
        record.finished_at = clock()
        return _record(store, config, job, record, on_disabled)
    finally:
        lock.release()


def skip_missed(home: Home, config: Config, job: Job, due: float, *, now: float) -> RunOutcome:
    """A run missed while nobody was scheduling (catch_up = "skip"): log it, run nothing,
    move the job to its next time after `now`."""
    record = RunRecord(
        job.name,
        "catch-up",
        now,
        now,
        status="skipped",
        error="missed while the scheduler was not running (catch_up = skip)",
        scheduled_for=due,
    )
    log.info("cron job %s: skipping the run missed at %s", job.name, format_instant(due))
    return _record(JobStore(home), config, job, record, None)


def _record(
    store: JobStore,
    config: Config,
    job: Job,
    record: RunRecord,
    on_disabled: OnDisabled | None,
) -> RunOutcome:
    scheduled = record.trigger != "manual"
    after = max(record.scheduled_for or record.started_at, record.finished_at)
    next_run = job.schedule.next_after(after) if scheduled else None
    finished = store.finish(
        job.name,
        record.to_dict(),
        max_failures=max_failures(config),
        next_run_at=next_run,
        reschedule=scheduled,
    )
    record.disabled = finished.disabled
    store.append_run(job.name, record.to_dict())
    if record.status == "error":
        log.warning("cron job %s failed: %s", job.name, record.error)
    if finished.disabled and finished.job is not None:
        log.warning(
            "cron job %s disabled after %d failures in a row (last: %s); "
            "`claw cron enable %s` turns it back on",
            job.name,
            finished.job.failures,
            record.error,
            job.name,
        )
        if on_disabled is not None:
            try:
                on_disabled(finished.job, record.to_dict())
            except Exception:
                log.exception("cron job %s: the on_disabled callback failed", job.name)
    return RunOutcome(record, finished)


def _execute(
    home: Home,
    config: Config,
    job: Job,
    record: RunRecord,
    abort: threading.Event | None,
    origin: str | None,
) -> None:
    if job.notify is not None:
        if not job.deliver:
            raise ClawError("a --notify job needs --deliver CHANNEL:PEER")
        record.delivery_id = _deliver(home, config, job, job.notify, None, origin)
        return
    if not job.message:
        raise ClawError("the job has neither a message nor a notify text")
    text, reply_status, key, message_id = _turn(home, config, job, abort)
    record.session_key, record.message_id, record.reply_status = key, message_id, reply_status
    record.reply = text or None
    if reply_status == "silent":
        return  # NO_REPLY on purpose: nothing to deliver, and not a failure
    if reply_status != "ok":
        raise ClawError(f"the turn ended {reply_status}: {text or 'no reply'}")
    if job.deliver and text.strip():
        record.delivery_id = _deliver(home, config, job, text, key, origin)


def _turn(
    home: Home, config: Config, job: Job, abort: threading.Event | None
) -> tuple[str, str, str, str | None]:
    from claw.agent.events import AgentEnd
    from claw.agent.turn import TurnRequest, run_turn
    from claw.state.sessions import SessionStore

    key = cron_key(job.name)
    req = TurnRequest(
        job.message or "", job.agent, key, lane="cron", channel="cron", abort=abort, live=False
    )
    store = SessionStore.configured(home, config)
    result = None
    try:
        events = run_turn(home, config, store, req)
        try:
            for event in events:
                if isinstance(event, AgentEnd):
                    result = event.result
        finally:
            events.close()
    finally:
        store.close()
    if result is None:
        return "", "error", key, None
    return result.text or "", result.status, key, result.message_id or None


def _deliver(
    home: Home, config: Config, job: Job, text: str, key: str | None, origin: str | None
) -> str:
    """Queue the run's message; a scheduled run's under its origin (exactly once)."""
    from claw.delivery.service import enqueue_reply

    target, meta = job.deliver or "", {"agent": job.agent, "session_key": key}
    if origin is None:  # a manual run: nothing retries it, each one is its own message
        return enqueue_reply(home, config, target, text, **meta).id
    return origins.enqueue_once(home, config, target, text, origin_=origin, **meta).id
