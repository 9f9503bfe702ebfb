"""Task reminders and the task list the heartbeat sees.

A task added with `--remind` is announced at its due time (within a tick of the daemon's
heartbeat clock, or at the next `claw heartbeat run-once`), once: the store records that it
was reminded. The message needs no model: "Reminder: <title> (due <local time>)", queued for
the agent's heartbeat target. It is queued under its origin (`reminder:<task>:<due>`), so a
crash between queueing it and marking the task reminded does not send it twice.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from claw.heartbeat.settings import Settings
from claw.state.config import Config
from claw.state.home import Home

log = logging.getLogger("claw.heartbeat")
_waiting: set[str] = set()  # reminders already warned about having no target (this process)


def _zone(settings: Settings, config: Config):
    from claw.tasks.when import user_zone

    return user_zone(settings.zone or config.get("user.timezone"))


def due_summary(home: Home, config: Config, settings: Settings, now: float) -> tuple[str, set[str]]:
    """Open tasks due or overdue now, one per line (empty when there are none), and a key
    per task without a reminder (its id and due time): the heartbeat calls the model for
    tasks only when a key is new since its last look. A task with a reminder does not make
    news: its reminder is the message, a model call would only repeat it."""
    from claw.tasks.store import TaskStore
    from claw.tasks.when import relative

    moment = datetime.fromtimestamp(now, UTC)
    zone = _zone(settings, config)
    lines, keys = [], set()
    mine = {settings.agent} | ({None} if _untagged_owner(config) == settings.agent else set())
    for task in TaskStore(home).due_tasks(moment):
        if task.agent not in mine:
            continue
        due = task.due_at
        when = f"{due.astimezone(zone):%a %d %b %H:%M} ({relative(due, moment)})" if due else ""
        lines.append(f"- {task.title} — due {when}".rstrip())
        if not task.remind:
            keys.add(f"{task.id}@{task.due}")
    return "\n".join(lines), keys


def _untagged_owner(config: Config) -> str | None:
    """The agent whose heartbeat looks at tasks that name none (`claw tasks add`): the
    main if its heartbeat is on, else the first (by id) whose is. One agent, not each,
    brings such a task up."""
    from claw.errors import ClawError
    from claw.heartbeat.settings import settings_for

    for agent in sorted(config.agent_ids(), key=lambda a: (a != "main", a)):
        try:
            if settings_for(config, agent).enabled:
                return agent
        except ClawError:  # a broken heartbeat section: that agent runs no heartbeat
            continue
    return None


def send_reminders(
    home: Home, config: Config, settings: Settings, target: str | None, now: float
) -> list[str]:
    """Queue the reminders that are due for this agent's tasks; their queue ids."""
    from claw.delivery.origins import enqueue_once, origin, queued
    from claw.tasks.store import TaskStore

    store = TaskStore(home)
    moment = datetime.fromtimestamp(now, UTC)
    zone = _zone(settings, config)
    sent = []
    for task in store.reminders_due(moment):
        if task.agent not in (None, settings.agent):
            continue
        due = task.due_at
        text = f"Reminder: {task.title}"
        if due is not None:
            text += f" (due {due.astimezone(zone):%a %d %b %H:%M})"
        if task.notes:
            text += f"\n{task.notes}"
        # A task's reminder is armed again by a new due time: one origin per due time.
        occurrence = origin("reminder", task.id, due.timestamp() if due else 0.0)
        if target is None:  # kept armed: it goes out once a chat gives the agent a target
            if occurrence not in _waiting:
                _waiting.add(occurrence)
                why = (
                    f"agents.{settings.agent}.heartbeat.target is none"
                    if settings.target == "none"
                    else f"nobody has talked to agent {settings.agent} on a channel yet"
                )
                log.warning("reminder for task %s is waiting for a target: %s", task.id, why)
            continue
        if queued(home, occurrence) is not None:
            log.info("reminder for task %s was queued before a crash", task.id)
        else:
            entry = enqueue_once(
                home, config, target, text, origin_=occurrence, agent=settings.agent
            )
            sent.append(entry.id)
        store.mark_reminded(task.id, moment)
    return sent
