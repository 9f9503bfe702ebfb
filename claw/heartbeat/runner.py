"""One heartbeat: the check chain, cheapest first, then (maybe) one turn and one message.

Every check that stops a run says why, and the outcome is saved, so `claw heartbeat status`
and the logs explain each silence. The chain: enabled → interval elapsed (the first run is
one interval after the heartbeat was armed, never at start-up) → inside active hours (in the
configured zone) → HEARTBEAT.md has something to check → no inbound message waiting →
the agent's main session idle → somewhere to send (`last` resolved). Only then is the
model called, in the agent's main session on the `heartbeat` lane. Its reply is sent only
if it is not an acknowledgement, not empty, and not a repeat of something sent inside the
dedup window.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from claw.heartbeat.content import fingerprint, has_real_content, is_silent, without_ack
from claw.heartbeat.settings import Settings, settings_for
from claw.heartbeat.state import HeartbeatState
from claw.state.config import Config
from claw.state.home import Home
from claw.state.locks import Timeout, file_lock
from claw.state.session_keys import main_key

log = logging.getLogger("claw.heartbeat")
EARLY_S = 30.0  # see _early
_NO_LAST = "target 'last': nobody has talked to this agent on a channel yet"


@dataclass
class Outcome:
    agent: str
    outcome: str  # skipped | would-run | silent | duplicate | no-target | sent | error
    step: str  # the check that stopped it, or "run"
    reason: str
    model_called: bool = False
    reply: str | None = None
    delivery_id: str | None = None
    next_due_at: float | None = None
    reminders: list[str] = field(default_factory=list)  # queue ids of task reminders sent

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def run_once(
    home: Home,
    config: Config,
    agent: str,
    *,
    force: bool = False,
    dry_run: bool = False,
    now: float | None = None,
    armed_at: float | None = None,
    busy: Callable[[str], bool] | None = None,
    inbox: Any = None,
) -> Outcome:
    """Run the chain for `agent` once. `force` skips enabled/interval/active hours (not the
    content and idle checks); `dry_run` stops before the model. `armed_at` is when the
    caller started watching (the daemon's start); `busy(session_key)` adds the caller's
    own knowledge of running turns; a long-lived caller passes its `inbox`
    (claw.delivery.inbox.Inbox), which reads only what was appended since its last look."""
    now = time.time() if now is None else now
    settings = settings_for(config, agent)
    lock = file_lock(home.locks_dir / f"heartbeat-{agent}.lock", timeout=0)
    try:
        lock.acquire()
    except Timeout:
        return Outcome(agent, "skipped", "lock", "another heartbeat run for this agent is going on")
    try:
        state = HeartbeatState.load(home, agent, armed_at if armed_at is not None else now)
        if armed_at is not None:  # the daemon (re)started: never run right at start-up
            state.armed_at = max(state.armed_at, armed_at)
        state.prune(now, settings.dedup_window_s)
        reminded = [] if dry_run else _reminders(home, config, settings, now)
        out = None if dry_run else _recover(home, state, settings)
        if out is None:
            out = _chain(
                home,
                config,
                settings,
                state,
                now,
                force=force,
                dry_run=dry_run,
                busy=busy,
                inbox=inbox,
            )
        out.reminders = reminded
        if not dry_run:  # the run's outcome is saved with it: no longer in flight
            state.pending_at = None
        state.last_check_at, state.last_outcome, state.last_reason = now, out.outcome, out.reason
        base = state.last_run_at if state.last_run_at is not None else state.armed_at
        state.next_due_at = out.next_due_at = max(base, state.armed_at) + settings.every_s
        state.save(home)
    finally:
        lock.release()
    log.info("heartbeat %s: %s (%s: %s)", agent, out.outcome, out.step, out.reason)
    return out


def _chain(
    home: Home,
    config: Config,
    settings: Settings,
    state: HeartbeatState,
    now: float,
    *,
    force: bool,
    dry_run: bool,
    busy: Callable[[str], bool] | None,
    inbox: Any,
) -> Outcome:
    agent = settings.agent

    def skip(step: str, reason: str) -> Outcome:
        return Outcome(agent, "skipped", step, reason)

    if not force:
        if not settings.enabled:
            return skip("enabled", f"disabled (agents.{agent}.heartbeat.enabled = false)")
        base = state.last_run_at if state.last_run_at is not None else state.armed_at
        due = max(base, state.armed_at) + settings.every_s
        if now < due - _early(settings):
            return skip("interval", f"not due until {_local(due, settings)}")
        if not settings.in_active_hours(datetime.fromtimestamp(now).astimezone()):
            zone = settings.zone or "the system's zone"
            return skip(
                "active_hours", f"outside active hours ({settings.start}-{settings.end}, {zone})"
            )
    checklist = _heartbeat_md(home, agent)
    from claw.heartbeat.reminders import due_summary

    tasks, task_keys = due_summary(home, config, settings, now)
    if not has_real_content(checklist) and not _tasks_news(state, settings, tasks, task_keys, now):
        why = "HEARTBEAT.md has nothing to check (only headings, comments or empty checkboxes)"
        if tasks:
            when = _local(state.tasks_seen_at or now, settings)
            why += f" and the due tasks were already looked at ({when})"
        return skip("content", why)
    if tasks:  # due and overdue tasks are something to look at, even with no checklist
        checklist = f"{checklist.rstrip()}\n\nTasks due or overdue:\n{tasks}\n"
    if _inbound_waiting(home, config, agent, inbox):
        return skip("channel_idle", f"inbound messages for {agent} are waiting to be processed")
    key = main_key(agent)
    if (busy is not None and busy(key)) or _lane_busy(home, key):
        return skip("agent_idle", "the agent is busy (a turn is running in its main session)")
    target = _target(home, settings)
    if target is None and settings.target == "last":  # the reply could go nowhere
        return Outcome(agent, "no-target", "target", _NO_LAST)
    if dry_run:
        return Outcome(
            agent, "would-run", "run", "every check passed; --dry-run stops before the model"
        )
    state.last_run_at = state.pending_at = now
    state.save(home)  # write ahead: a crash from here on is recognised by the next run
    reply, error, span = _turn(home, config, settings, checklist, now)
    if error is not None:
        return Outcome(agent, "error", "run", error, model_called=True)
    if tasks:
        state.tasks_seen, state.tasks_seen_at = sorted(task_keys), now
    silent, why = is_silent(reply, settings.ack_max_chars)
    if silent:
        _forget(home, config, agent, span, f"heartbeat: {why}")
        return Outcome(agent, "silent", "run", why, model_called=True, reply=reply)
    fp = fingerprint(reply)
    if fp in state.sent:
        _forget(home, config, agent, span, "heartbeat: a repeat")
        when = _local(state.sent[fp], settings)
        return Outcome(
            agent, "duplicate", "run", f"the same message was sent at {when}", True, reply
        )
    if target is None:  # target = "none": the turn ran for what it does, nothing is sent
        return Outcome(agent, "no-target", "run", "target is none", model_called=True, reply=reply)
    from claw.delivery.origins import enqueue_once, origin

    entry = enqueue_once(
        home,
        config,
        target,
        without_ack(reply),  # a long reply with the ack: the token never reaches the chat
        origin_=origin("heartbeat", agent, now),
        agent=agent,
        session_key=main_key(agent),
    )
    state.sent[fp] = now
    return Outcome(agent, "sent", "run", f"queued for {target}", True, reply, entry.id)


def _early(settings: Settings) -> float:
    """How early a run still counts as due: cron starts `claw heartbeat run-once` every
    `every`, each start a second or so off the last; a run 0.3 s "early" skipped would
    halve the heartbeat. Up to half a minute (less than the daemon's one-minute tick, so
    the daemon still runs on the minute it is due), at most a tenth of the interval."""
    return min(EARLY_S, settings.every_s / 10)


def _tasks_news(
    state: HeartbeatState, settings: Settings, tasks: str, keys: set[str], now: float
) -> bool:
    """Whether the due tasks are worth a model call: one came due (or was added, or moved)
    since the model last looked, or the last look is a dedup window old."""
    if not tasks:
        return False
    seen_at = state.tasks_seen_at
    if seen_at is not None and now - seen_at >= settings.dedup_window_s:
        return True
    return not keys <= set(state.tasks_seen)


def _recover(home: Home, state: HeartbeatState, settings: Settings) -> Outcome | None:
    """A run that crashed after calling the model (its `pending_at` still saved): if it
    queued its message, this run records it as sent and calls no model (the Outcome);
    if not, it is forgotten and the chain goes on (None)."""
    at = state.pending_at
    if at is None:
        return None
    from claw.delivery.origins import origin, queued
    from claw.delivery.queue import QueueStore

    state.pending_at, state.last_run_at = None, max(state.last_run_at or at, at)
    entry_id = queued(home, origin("heartbeat", settings.agent, at))
    if entry_id is None:
        return None
    entry = QueueStore(home).load(entry_id)  # still queued: remember its text for dedup
    if entry is not None:
        state.sent[fingerprint("\n".join(entry.parts))] = at
    reason = f"the run at {_local(at, settings)} queued its message before a crash"
    return Outcome(settings.agent, "sent", "recovered", reason, delivery_id=entry_id)


def _reminders(home: Home, config: Config, settings: Settings, now: float) -> list[str]:
    from claw.heartbeat.reminders import send_reminders

    try:
        return send_reminders(home, config, settings, _target(home, settings), now)
    except Exception:  # a broken task file must not stop the heartbeat
        log.exception("heartbeat %s: task reminders failed", settings.agent)
        return []


def _heartbeat_md(home: Home, agent: str) -> str:
    try:
        return (home.agent_dir(agent) / "HEARTBEAT.md").read_text(encoding="utf-8")
    except (FileNotFoundError, UnicodeDecodeError):
        return ""


def _inbound_waiting(home: Home, config: Config, agent: str, inbox: Any) -> bool:
    """Whether a received message routed to `agent` is waiting or being answered (a
    message for another agent does not keep this one from its heartbeat)."""
    from claw.errors import ClawError
    from claw.routing.inbound import to_inbound
    from claw.routing.route import route

    if inbox is None:  # a one-off run (the CLI): read the journal once
        from claw.delivery.inbox import Inbox

        inbox = Inbox(home)
    for msg in inbox.pending():
        try:
            if route(config, to_inbound(msg)).agent == agent:
                return True
        except ClawError:
            return True  # cannot tell where it goes: assume it is ours
    return False


def _lane_busy(home: Home, key: str) -> bool:
    from claw.agent.session_lane import lane_busy
    from claw.state.sessions import SessionStore

    return lane_busy(SessionStore(home), key)


def _target(home: Home, settings: Settings) -> str | None:
    if settings.target == "none":
        return None
    if settings.target != "last":
        return settings.target
    from claw.heartbeat.last_target import last_target

    return last_target(home, settings.agent)


def _forget(
    home: Home, config: Config, agent: str, span: tuple[str, str] | None, reason: str
) -> None:
    """Hide a heartbeat exchange that led to nothing from the model's future prompts:
    otherwise every idle check would make every later prompt longer."""
    if span is None:
        return
    from claw.state import transcript
    from claw.state.sessions import SessionStore

    store = SessionStore.configured(home, config)
    try:
        store.append(main_key(agent), [transcript.retraction(*span, reason)], agent=agent)
    finally:
        store.close()


def _turn(
    home: Home, config: Config, settings: Settings, checklist: str, now: float
) -> tuple[str, str | None, tuple[str, str] | None]:
    from claw.agent.events import AgentEnd, AgentStart
    from claw.agent.turn import TurnRequest, run_turn
    from claw.state.sessions import SessionStore

    text = (
        f"{settings.prompt}\n\nCurrent time: {_local(now, settings)}\n\n"
        f"--- HEARTBEAT.md ---\n{checklist.strip()}\n"
    )
    req = TurnRequest(
        text,
        settings.agent,
        main_key(settings.agent),
        settings.model,
        lane="heartbeat",
        live=False,
    )
    store = SessionStore.configured(home, config)
    result, first = None, None
    try:
        for event in run_turn(home, config, store, req):
            if isinstance(event, AgentStart):
                first = event.user_message_id
            elif isinstance(event, AgentEnd):
                result = event.result
    except Exception as e:  # a model failure is this run's outcome, not a crash
        return "", f"{type(e).__name__}: {getattr(e, 'message', e)}", None
    finally:
        store.close()
    if result is None or result.status not in ("ok", "silent"):
        return "", f"the turn ended {getattr(result, 'status', 'without a result')}", None
    span = (first, result.message_id) if first and result.message_id else None
    return result.text or "", None, span


def _local(ts: float, settings: Settings) -> str:
    zone = settings.tz()
    moment = datetime.fromtimestamp(ts, zone) if zone else datetime.fromtimestamp(ts).astimezone()
    return moment.strftime("%Y-%m-%d %H:%M %Z")
