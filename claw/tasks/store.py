"""The task list: tasks and reminders, kept in `tasks/tasks.json`.

One file for all tasks, rewritten atomically (temp file, fsync, rename, fsync the
directory) under `locks/tasks.lock` on every change. Why not one file per task: a
personal task list holds tens to a few thousand tasks, and every read the callers make
(`claw tasks list`, the heartbeat's "what is due?", the agent's task_list) needs all of
them, sorted by due time. One file is one read and one parse (~1 ms for a thousand tasks)
and always a consistent snapshot, so readers take no lock; a change costs one small
rewrite. Directory-per-task would turn every listing into thousands of opens for nothing.

Several processes (the daemon, cron-driven `claw tasks add`, a shell loop) may change the
list at once: each change is read-modify-write under the lock, so nothing is lost.

Times: `due` is ISO 8601 with the offset of the user's zone when it was set (the instant
is what counts); `created_at`, `done_at`, `reminded_at` are UTC (`...Z`), like the rest
of the state directory.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from claw.errors import ClawError, NotFound, UsageError
from claw.state.atomic import atomic_write_text
from claw.state.home import Home, make_private_dir
from claw.state.locks import file_lock
from claw.state.names import validate_agent_id
from claw.state.transcript import now_iso

FORMAT_VERSION = 1
MAX_TITLE = 200
MAX_NOTES = 4000
ID_LEN = 8
MIN_PREFIX = 4
STATUSES = ("open", "done")
UPDATABLE = ("title", "notes", "due", "remind", "status")
_ID_RE = re.compile(r"[0-9a-f]{1,8}")


@dataclass
class Task:
    id: str
    title: str
    notes: str = ""
    due: str | None = None  # ISO 8601 with offset
    remind: bool = False
    reminded_at: str | None = None
    status: str = "open"
    created_at: str = ""
    done_at: str | None = None
    agent: str | None = None

    @property
    def due_at(self) -> datetime | None:
        return datetime.fromisoformat(self.due) if self.due else None

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_FIELDS = {f.name for f in fields(Task)}


class TaskStore:
    def __init__(self, home: Home) -> None:
        self.home = home
        self.dir = home.root / "tasks"
        self.path = self.dir / "tasks.json"
        self.lock_path = home.locks_dir / "tasks.lock"

    # -- queries (no lock: the file is only ever replaced whole) --

    def list(self, include_done: bool = False) -> list[Task]:
        """Open tasks by due time (undated last, oldest first), then done ones if asked."""
        tasks = [t for t in self._read() if include_done or t.is_open]
        return sorted(tasks, key=_order)

    def get(self, ref: str) -> Task:
        """The task whose id is `ref` or starts with it (at least 4 characters)."""
        return _find(self._read(), ref)

    def due_tasks(self, now: datetime, within: timedelta = timedelta(0)) -> list[Task]:
        """Open tasks due at or before `now + within` (overdue ones too), soonest first."""
        limit = _aware(now) + within
        due = [t for t in self._read() if t.is_open and t.due and _due(t) <= limit]
        return sorted(due, key=_due)

    def reminders_due(self, now: datetime) -> list[Task]:
        """Open tasks with a reminder whose time has come and that were not reminded yet."""
        return [t for t in self.due_tasks(now) if _armed(t)]

    def next_reminder_at(self) -> datetime | None:
        """When the earliest reminder still to send is due (past, if one is overdue): the
        daemon's heartbeat clock wakes for it."""
        return min((_due(t) for t in self._read() if _armed(t)), default=None)

    # -- changes (read-modify-write under the lock) --

    def add(
        self,
        title: str,
        *,
        due: datetime | None = None,
        remind: bool = False,
        notes: str = "",
        agent: str | None = None,
    ) -> Task:
        task = Task(
            id="",
            title=check_title(title),
            notes=check_notes(notes),
            due=_due_text(due),
            remind=bool(remind),
            created_at=now_iso(),
            agent=validate_agent_id(agent) if agent is not None else None,
        )
        _check_remind(task)
        with self._editing() as tasks:
            taken = {t.id for t in tasks}
            task.id = _new_id(taken)
            tasks.append(task)
        return task

    def update(self, ref: str, **changes: Any) -> Task:
        """Change title, notes, due (a datetime, or None to clear), remind, status.

        A new due time re-arms the reminder; clearing it turns the reminder off; done sets
        done_at, open clears it.
        """
        unknown = sorted(set(changes) - set(UPDATABLE))
        if unknown:
            raise UsageError(f"cannot change {unknown[0]!r}; changeable: {', '.join(UPDATABLE)}")
        if "title" in changes:
            changes["title"] = check_title(changes["title"])
        if "notes" in changes:
            changes["notes"] = check_notes(changes["notes"])
        if "status" in changes and changes["status"] not in STATUSES:
            raise UsageError(f"invalid status {changes['status']!r}; use open or done")
        with self._editing() as tasks:
            task = _find(tasks, ref)
            _apply(task, changes)
            _check_remind(task)
        return task

    def done(self, ref: str) -> Task:
        return self.update(ref, status="done")

    def reopen(self, ref: str) -> Task:
        return self.update(ref, status="open")

    def remove(self, ref: str) -> Task:
        with self._editing() as tasks:
            task = _find(tasks, ref)
            tasks.remove(task)
        return task

    def mark_reminded(self, ref: str, at: datetime | None = None) -> Task:
        """Record that the reminder was sent, so it is not sent again."""
        stamp = now_iso(_aware(at).timestamp()) if at is not None else now_iso()
        with self._editing() as tasks:
            task = _find(tasks, ref)
            task.reminded_at = stamp
        return task

    # -- the file --

    def _read(self) -> list[Task]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return []
        try:
            data = json.loads(raw)
            records = data["tasks"]
            return [_task_from(r) for r in records]
        except (ValueError, KeyError, TypeError) as e:
            raise ClawError(
                f"{self.path} is damaged ({type(e).__name__}: {e})",
                hint="fix it by hand, or move it aside to start an empty task list",
            ) from None

    def _write(self, tasks: list[Task]) -> None:
        body = {"version": FORMAT_VERSION, "tasks": [t.to_dict() for t in tasks]}
        atomic_write_text(self.path, json.dumps(body, ensure_ascii=False, indent=1) + "\n")

    @contextmanager
    def _editing(self) -> Iterator[list[Task]]:
        """The task list to change in place; written back unless the block raises."""
        if not self.dir.is_dir():
            make_private_dir(self.dir)
        if not self.lock_path.parent.is_dir():
            make_private_dir(self.lock_path.parent)
        with file_lock(self.lock_path):
            tasks = self._read()
            yield tasks
            self._write(tasks)


def check_title(title: Any) -> str:
    if not isinstance(title, str):
        raise UsageError("a task title must be text")
    title = title.strip()
    if not title:
        raise UsageError("a task needs a title")
    if len(title) > MAX_TITLE:
        raise UsageError(
            f"the title is {len(title)} characters; at most {MAX_TITLE}",
            hint="put the details in the notes",
        )
    if any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in title):
        raise UsageError("a task title is one line (no line breaks or control characters)")
    return title


def check_notes(notes: Any) -> str:
    if notes is None:
        return ""
    if not isinstance(notes, str):
        raise UsageError("task notes must be text")
    if len(notes) > MAX_NOTES:
        raise UsageError(f"the notes are {len(notes)} characters; at most {MAX_NOTES}")
    return notes


def _apply(task: Task, changes: dict[str, Any]) -> None:
    if "title" in changes:
        task.title = changes["title"]
    if "notes" in changes:
        task.notes = changes["notes"]
    if "due" in changes:
        due = _due_text(changes["due"])
        if due != task.due:
            task.due, task.reminded_at = due, None  # a new time re-arms the reminder
        if due is None and "remind" not in changes:
            task.remind = False  # no time, no reminder (rather than refusing the change)
    if "remind" in changes:
        remind = bool(changes["remind"])
        if remind and not task.remind:
            task.reminded_at = None
        task.remind = remind
    if "status" in changes and changes["status"] != task.status:
        task.status = changes["status"]
        task.done_at = now_iso() if task.status == "done" else None


def _check_remind(task: Task) -> None:
    if task.remind and not task.due:
        raise UsageError("a reminder needs a due time", hint="give a due time, e.g. tomorrow 9am")


def _due_text(due: datetime | None) -> str | None:
    if due is None:
        return None
    if not isinstance(due, datetime) or due.tzinfo is None:
        raise UsageError("a due time must be an aware datetime (with a zone)")
    return due.isoformat(timespec="seconds")


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("need an aware datetime (with a zone)")
    return moment


def _due(task: Task) -> datetime:
    return datetime.fromisoformat(task.due or "")


def _armed(task: Task) -> bool:
    """An open task with a due time whose reminder is still to send."""
    return task.is_open and bool(task.due) and task.remind and task.reminded_at is None


def _order(task: Task) -> tuple[Any, ...]:
    due = _due(task).timestamp() if task.due else float("inf")
    return (not task.is_open, due, task.created_at)


def _find(tasks: list[Task], ref: str) -> Task:
    key = ref.strip().lower() if isinstance(ref, str) else ""
    if not _ID_RE.fullmatch(key):
        raise UsageError(f"invalid task id {ref!r}: ids are {ID_LEN} hex characters")
    if len(key) < MIN_PREFIX:
        raise UsageError(f"give at least {MIN_PREFIX} characters of the task id (got {ref!r})")
    matches = [t for t in tasks if t.id.startswith(key)]
    exact = [t for t in matches if t.id == key]
    if exact:
        return exact[0]
    if not matches:
        raise NotFound(f"no task {ref!r}", hint="list the tasks (with done ones) to see the ids")
    if len(matches) > 1:
        ids = ", ".join(t.id for t in matches[:5])
        raise UsageError(f"task id {ref!r} is ambiguous: it matches {ids}; give more of it")
    return matches[0]


def _new_id(taken: set[str]) -> str:
    while True:
        new = _random_id()
        if new not in taken:
            return new


def _random_id() -> str:
    return os.urandom(ID_LEN // 2).hex()


def _task_from(record: Any) -> Task:
    if not isinstance(record, dict):
        raise TypeError("a task record is not an object")
    task = Task(**{k: v for k, v in record.items() if k in _FIELDS})
    if not isinstance(task.id, str) or not isinstance(task.title, str):
        raise TypeError(f"task record without a valid id or title: {record!r:.80}")
    return task
