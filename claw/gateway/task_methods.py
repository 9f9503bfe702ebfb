"""Gateway methods of the task list: `tasks.list`, `tasks.create`, `tasks.update`,
`tasks.delete`.

Due times are ISO 8601 or phrases ("tomorrow 9am") in the user's zone (`user.timezone` of
the daemon's config, else the system's). Errors: an unreadable time or a bad title is
-32602 with `data.reason` (and `data.hint` listing the accepted forms); an unknown id is
-32004. File I/O runs in a worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import trio

from claw.gateway.methods import METHODS, Caller, Gateway
from claw.gateway.rpc_errors import invalid_params
from claw.state.names import validate_agent_id
from claw.tasks.store import STATUSES, TaskStore
from claw.tasks.when import parse_when, user_zone

_sync = trio.to_thread.run_sync


@dataclass
class TasksListParams:
    all: bool = False


@dataclass
class TasksCreateParams:
    title: str
    due: str | None = None
    remind: bool = False
    notes: str = ""
    agent_id: str | None = None


@dataclass
class TasksUpdateParams:
    id: str
    title: str | None = None
    notes: str | None = None
    due: str | None = None  # "" clears it
    remind: bool | None = None
    status: str | None = None  # open | done


@dataclass
class TasksDeleteParams:
    id: str


def _store(gw: Gateway) -> TaskStore:
    return TaskStore(gw.home)


def _when(gw: Gateway, text: str) -> datetime:
    zone = user_zone(gw.config.get("user.timezone"))
    return parse_when(text, now=datetime.now(zone), zone=zone)


@METHODS.method("tasks.list", params=TasksListParams)
async def tasks_list(gw: Gateway, caller: Caller, p: TasksListParams) -> dict[str, Any]:
    tasks = await _sync(lambda: _store(gw).list(include_done=p.all))
    return {"tasks": [t.to_dict() for t in tasks]}


@METHODS.method("tasks.create", params=TasksCreateParams)
async def tasks_create(gw: Gateway, caller: Caller, p: TasksCreateParams) -> dict[str, Any]:
    if p.remind and not p.due:
        raise invalid_params("remind", "a reminder needs a due time")
    due = _when(gw, p.due) if p.due else None
    agent = validate_agent_id(p.agent_id) if p.agent_id is not None else None

    def create() -> dict[str, Any]:
        task = _store(gw).add(p.title, due=due, remind=p.remind, notes=p.notes, agent=agent)
        return task.to_dict()

    return {"task": await _sync(create)}


@METHODS.method("tasks.update", params=TasksUpdateParams)
async def tasks_update(gw: Gateway, caller: Caller, p: TasksUpdateParams) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for name in ("title", "notes", "remind", "status"):
        if (value := getattr(p, name)) is not None:
            changes[name] = value
    if p.status is not None and p.status not in STATUSES:
        raise invalid_params("status", "must be open or done")
    if p.due is not None:
        changes["due"] = _when(gw, p.due) if p.due.strip() else None
    if not changes:
        raise invalid_params(None, "nothing to change: give title, notes, due, remind or status")
    task = await _sync(lambda: _store(gw).update(p.id, **changes))
    return {"task": task.to_dict()}


@METHODS.method("tasks.delete", params=TasksDeleteParams)
async def tasks_delete(gw: Gateway, caller: Caller, p: TasksDeleteParams) -> dict[str, Any]:
    task = await _sync(lambda: _store(gw).remove(p.id))
    return {"deleted": task.id}
