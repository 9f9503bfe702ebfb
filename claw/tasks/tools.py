"""The agent's task tools: task_create, task_list, task_update.

Due times are phrases in the user's zone (`user.timezone`, else the system's), parsed by
`claw.tasks.when.parse_when`; results show them back as local time plus ISO 8601, so the
model can tell the user exactly what was set. A mistake (unknown id, unreadable time)
comes back as an error result with the accepted forms, for the model to correct.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from claw.agent.tools.base import Tool, ToolContext, ToolResult, object_schema
from claw.errors import ClawError
from claw.state.home import Home
from claw.tasks.store import MAX_NOTES, MAX_TITLE, Task, TaskStore
from claw.tasks.when import parse_when, relative, user_zone

_DUE_HELP = (
    "When it is due, in the user's time zone: ISO 8601 (YYYY-MM-DD HH:MM) or a phrase "
    "such as 'tomorrow 9am', 'fri 17:00', 'in 2h', 'in 3 days', '17:00'."
)
_ID = {"type": "string", "description": "The task id (or its first 4+ characters)."}
_TITLE = {"type": "string", "minLength": 1, "maxLength": MAX_TITLE, "description": "One line."}
_NOTES = {"type": "string", "maxLength": MAX_NOTES, "description": "Details (optional)."}
_REMIND = {"type": "boolean", "description": "Send the user a reminder at the due time."}


def task_tools() -> list[Tool]:
    return [TaskCreateTool(), TaskListTool(), TaskUpdateTool()]


def _store(ctx: ToolContext) -> TaskStore:
    if ctx.home_root is None:
        raise ClawError("tasks are not available here (no state directory)")
    return TaskStore(Home(ctx.home_root))


def _due(text: str, ctx: ToolContext) -> datetime:
    zone = user_zone(ctx.timezone)
    return parse_when(text, now=datetime.now(zone), zone=zone)


def describe(task: Task, ctx: ToolContext, *, notes: bool = True) -> str:
    """One line per task: id, status, title, due (local, relative, ISO), reminder, notes."""
    box = "[x]" if task.status == "done" else "[ ]"
    line = f"{task.id} {box} {task.title}"
    due = task.due_at
    if due is not None:
        zone = user_zone(ctx.timezone)
        local = due.astimezone(zone)
        when = relative(due, datetime.now(zone)) if task.is_open else "done"
        line += f" | due {local:%a %Y-%m-%d %H:%M} ({when}; {local.isoformat()})"
        if task.remind:
            line += " | reminder " + ("sent" if task.reminded_at else "on")
    if notes and task.notes:
        text = " ".join(task.notes.split())
        line += f" | notes: {text[:200]}" + ("…" if len(text) > 200 else "")
    return line


class TaskCreateTool:
    name = "task_create"
    description = (
        "Add a task to the user's task list, optionally due at a time and with a reminder "
        "(a message to the user at the due time). Returns the task's id."
    )
    parameters = object_schema(
        {
            "title": _TITLE,
            "due": {"type": "string", "description": _DUE_HELP},
            "remind": {**_REMIND, "description": _REMIND["description"] + " Needs due."},
            "notes": _NOTES,
        },
        ("title",),
    )

    def call(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        try:
            due = _due(args["due"], ctx) if args.get("due") else None
            task = _store(ctx).add(
                args["title"],
                due=due,
                remind=bool(args.get("remind")),
                notes=args.get("notes") or "",
                agent=ctx.agent_id,
            )
            return ToolResult("created " + describe(task, ctx))
        except ClawError as e:
            return ToolResult(str(e), is_error=True)


class TaskListTool:
    name = "task_list"
    description = (
        "List the user's tasks: open ones soonest due first (with how long until due or "
        "how overdue), and done ones too with include_done."
    )
    parameters = object_schema(
        {
            "include_done": {"type": "boolean", "description": "Also list done tasks."},
            "limit": {"type": "integer", "minimum": 1, "maximum": 500, "description": "Most."},
        }
    )

    def call(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        try:
            tasks = _store(ctx).list(include_done=bool(args.get("include_done")))
            limit = int(args.get("limit") or 100)
            lines = [describe(t, ctx) for t in tasks[:limit]]
        except ClawError as e:
            return ToolResult(str(e), is_error=True)
        if not lines:
            return ToolResult("no tasks" if args.get("include_done") else "no open tasks")
        if len(tasks) > limit:
            lines.append(f"[{len(tasks) - limit} more; raise limit to see them]")
        return ToolResult("\n".join(lines))


class TaskUpdateTool:
    name = "task_update"
    description = (
        "Change a task: title, notes, due (an empty string clears it), remind, or status "
        "('done' to complete it, 'open' to reopen it). Give only what changes."
    )
    parameters = object_schema(
        {
            "id": _ID,
            "title": _TITLE,
            "notes": _NOTES,
            "due": {"type": ["string", "null"], "description": _DUE_HELP + " Empty clears it."},
            "remind": _REMIND,
            "status": {"type": "string", "enum": ["open", "done"]},
        },
        ("id",),
    )

    def call(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        changes = {k: v for k, v in args.items() if k in ("title", "notes", "remind", "status")}
        try:
            if "due" in args:
                changes["due"] = _due(args["due"], ctx) if args["due"] else None
            if not changes:
                return ToolResult(
                    "nothing to change: give title, notes, due, remind or status", is_error=True
                )
            task = _store(ctx).update(args["id"], **changes)
            return ToolResult("updated " + describe(task, ctx))
        except ClawError as e:
            return ToolResult(str(e), is_error=True)
