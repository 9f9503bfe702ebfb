"""`claw tasks`: the task list and its reminders (add, list, show, edit, done, rm)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING

import typer

from claw.commands._base import info, print_json, state, sub_app
from claw.commands.tty import echo
from claw.errors import UsageError

if TYPE_CHECKING:
    from claw.tasks.store import Task, TaskStore

app = sub_app("Tasks and reminders: add, list, done, rm.")

WHEN_HELP = (
    "When it is due, in your zone (user.timezone): ISO (YYYY-MM-DD HH:MM) or a phrase: "
    "'tomorrow 9am', 'fri 17:00', 'in 2h', 'in 3 days', '17:00', 'noon'."
)
_ID_HELP = "A task id, or its first 4+ characters (from `claw tasks list`)."
_JSON_TASKS = typer.Option(False, "--json", help="Print the changed tasks as a JSON list.")


def _setup(ctx: typer.Context) -> tuple[TaskStore, tzinfo]:
    from claw.tasks.store import TaskStore
    from claw.tasks.when import user_zone

    st = state(ctx)
    return TaskStore(st.home()), user_zone(st.config().get("user.timezone"))


def _parse(text: str, zone: tzinfo) -> datetime:
    from claw.tasks.when import parse_when

    return parse_when(text, now=datetime.now(zone), zone=zone)


def _due_cell(task: Task, zone: tzinfo) -> tuple[str, str]:
    """(local due time, how far: "in 3h", "overdue 2h", "done") for the list."""
    from claw.tasks.when import relative

    due = task.due_at
    if due is None:
        return "-", "done" if task.status == "done" else ""
    local = due.astimezone(zone)
    rel = "done" if task.status == "done" else relative(due, datetime.now(zone))
    return f"{local:%a %Y-%m-%d %H:%M}", rel


def _summary(task: Task, zone: tzinfo) -> str:
    due, rel = _due_cell(task, zone)
    parts = [task.title]
    if task.due:
        parts.append(f"due {due} ({rel})")
    if task.remind:
        parts.append("reminder " + ("sent" if task.reminded_at else "on"))
    return ", ".join(parts)


@app.command("add")
def add(
    ctx: typer.Context,
    title: str = typer.Argument(..., metavar="TITLE", help="What to do (one line)."),
    due: str = typer.Option(None, "--due", metavar="WHEN", help=WHEN_HELP),
    remind: bool = typer.Option(False, "--remind", help="Send a reminder at the due time."),
    notes: str = typer.Option("", "--notes", metavar="TEXT", help="Details."),
    as_json: bool = typer.Option(False, "--json", help="Print the new task as JSON."),
) -> None:
    """Add a task and print its id."""
    if remind and not due:
        raise UsageError("--remind needs --due (when should the reminder come?)")
    store, zone = _setup(ctx)
    when = _parse(due, zone) if due else None
    task = store.add(title, due=when, remind=remind, notes=notes)
    if as_json:
        print_json(task.to_dict())
        return
    echo(task.id)
    info(f"added: {_summary(task, zone)}")
    if when is not None and when.timestamp() < datetime.now(zone).timestamp():
        info("note: that time is already past, so the task is overdue")


@app.command("list")
def list_(
    ctx: typer.Context,
    all_: bool = typer.Option(False, "--all", "-a", help="Include done tasks."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List open tasks, soonest due first (undated ones last)."""
    store, zone = _setup(ctx)
    tasks = store.list(include_done=all_)
    if as_json:
        print_json([t.to_dict() for t in tasks])
        return
    if not tasks:
        info("no tasks" if all_ else "no open tasks (add one with `claw tasks add TITLE`)")
        return
    for t in tasks:
        due, rel = _due_cell(t, zone)
        box = "[x]" if t.status == "done" else "[ ]"
        mark = "remind" if t.remind else ""
        echo(f"{t.id}  {box}  {due:<20}  {rel:<12}  {mark:<6}  {t.title}".rstrip())


@app.command("show")
def show(
    ctx: typer.Context,
    task_id: str = typer.Argument(..., metavar="ID", help=_ID_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show one task in full."""
    store, zone = _setup(ctx)
    t = store.get(task_id)
    if as_json:
        print_json(t.to_dict())
        return
    due, rel = _due_cell(t, zone)
    rows = [
        ("id", t.id),
        ("title", t.title),
        ("status", t.status),
        ("due", f"{due} ({rel}; {t.due})" if t.due else "-"),
        ("reminder", _reminder(t)),
        ("created", t.created_at),
    ]
    if t.done_at:
        rows.append(("done", t.done_at))
    if t.agent:
        rows.append(("agent", t.agent))
    for name, value in rows:
        echo(f"{name + ':':<10}{value}")
    if t.notes:
        echo("notes:")
        echo(t.notes)


def _reminder(t: Task) -> str:
    if not t.remind:
        return "off"
    return f"sent {t.reminded_at}" if t.reminded_at else "on"


@app.command("edit")
def edit(
    ctx: typer.Context,
    task_id: str = typer.Argument(..., metavar="ID", help=_ID_HELP),
    title: str = typer.Option(None, "--title", metavar="TITLE", help="A new title."),
    due: str = typer.Option(None, "--due", metavar="WHEN", help=WHEN_HELP),
    no_due: bool = typer.Option(False, "--no-due", help="Remove the due time."),
    remind: bool = typer.Option(
        None, "--remind/--no-remind", help="Turn the reminder on or off.", show_default=False
    ),
    notes: str = typer.Option(None, "--notes", metavar="TEXT", help="New notes ('' clears)."),
    as_json: bool = typer.Option(False, "--json", help="Print the changed task as JSON."),
) -> None:
    """Change a task's title, due time, reminder or notes. A new due time re-arms the reminder."""
    if due is not None and no_due:
        raise UsageError("give --due or --no-due, not both")
    store, zone = _setup(ctx)
    changes: dict[str, object] = {}
    if title is not None:
        changes["title"] = title
    if notes is not None:
        changes["notes"] = notes
    if due is not None:
        changes["due"] = _parse(due, zone)
    if no_due:
        changes["due"] = None  # turns the reminder off too, unless --remind insists
    if remind is not None:
        changes["remind"] = remind
    if not changes:
        raise UsageError("nothing to change: give --title, --due, --no-due, --remind or --notes")
    task = store.update(task_id, **changes)
    if as_json:
        print_json(task.to_dict())
        return
    echo(f"{task.id}  {_summary(task, zone)}")


@app.command("done")
def done(
    ctx: typer.Context,
    task_ids: list[str] = typer.Argument(..., metavar="ID", help=_ID_HELP),
    as_json: bool = _JSON_TASKS,
) -> None:
    """Mark tasks done."""
    store, _ = _setup(ctx)
    _each(store.done, _resolve(store, task_ids), "done", as_json)


@app.command("reopen")
def reopen(
    ctx: typer.Context,
    task_ids: list[str] = typer.Argument(..., metavar="ID", help=_ID_HELP),
    as_json: bool = _JSON_TASKS,
) -> None:
    """Mark done tasks open again."""
    store, _ = _setup(ctx)
    _each(store.reopen, _resolve(store, task_ids), "reopened", as_json)


@app.command("rm")
def rm(
    ctx: typer.Context,
    task_ids: list[str] = typer.Argument(..., metavar="ID", help=_ID_HELP),
    as_json: bool = _JSON_TASKS,
) -> None:
    """Delete tasks for good (to keep one as finished, use `done`)."""
    store, _ = _setup(ctx)
    _each(store.remove, _resolve(store, task_ids), "removed", as_json)


def _each(change: Callable[[str], Task], ids: list[str], word: str, as_json: bool) -> None:
    """Apply `change` to every task; say so as each is changed, or print them all as one
    JSON list once every change is made."""
    tasks = []
    for task_id in ids:
        task = change(task_id)
        tasks.append(task)
        if not as_json:
            echo(f"{word} {task.id}  {task.title}")
    if as_json:
        print_json([t.to_dict() for t in tasks])


def _resolve(store: TaskStore, refs: list[str]) -> list[str]:
    """Full ids for every ref, checked before anything changes (all or nothing)."""
    return [store.get(ref).id for ref in refs]
