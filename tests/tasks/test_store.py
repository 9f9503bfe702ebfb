"""TaskStore: one atomically rewritten file, ids by prefix, due and reminder queries."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from claw.errors import ClawError, InvalidName, NotFound, UsageError
from claw.state.home import Home
from claw.tasks.store import MAX_NOTES, MAX_TITLE, TaskStore

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 3, 28, 15, 0, tzinfo=PARIS)


@pytest.fixture
def store(home: Home) -> TaskStore:
    return TaskStore(home)


def test_add_get_list_round_trip(store: TaskStore, home: Home) -> None:
    a = store.add("  Buy milk  ", due=NOW + timedelta(hours=3), notes="2 litres")
    b = store.add("Call mom")
    c = store.add("Pay rent", due=NOW - timedelta(days=1), remind=True, agent="main")
    assert a.title == "Buy milk" and len(a.id) == 8 and a.status == "open"
    assert a.due == "2026-03-28T18:00:00+01:00" and a.created_at.endswith("Z")
    assert store.get(a.id) == a and store.get(a.id[:4].upper()) == a
    assert [t.id for t in store.list()] == [c.id, a.id, b.id]  # by due, undated last
    data = json.loads((home.root / "tasks" / "tasks.json").read_text())
    assert data["version"] == 1 and len(data["tasks"]) == 3
    assert (home.root / "tasks" / "tasks.json").stat().st_mode & 0o777 == 0o600
    assert not [p for p in (home.root / "tasks").iterdir() if p.name.startswith(".tmp-")]


def test_done_reopen_remove(store: TaskStore) -> None:
    a = store.add("one")
    b = store.add("two")
    done = store.done(a.id)
    assert done.status == "done" and done.done_at
    assert [t.id for t in store.list()] == [b.id]
    assert [t.id for t in store.list(include_done=True)] == [b.id, a.id]
    assert store.reopen(a.id).done_at is None
    assert store.remove(b.id).id == b.id
    with pytest.raises(NotFound):
        store.get(b.id)
    with pytest.raises(NotFound):
        store.remove(b.id)


def test_id_prefixes(store: TaskStore, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = iter(["abcd0001", "abcd0002"])
    monkeypatch.setattr("claw.tasks.store._random_id", lambda: next(ids))
    store.add("one")
    store.add("two")
    with pytest.raises(UsageError, match="ambiguous"):
        store.get("abcd")
    assert store.get("abcd0002").title == "two"
    with pytest.raises(UsageError, match="at least 4"):
        store.get("abc")
    for bad in ("../x", "zzzz", "abcd00011", ""):
        with pytest.raises(UsageError):
            store.get(bad)
    with pytest.raises(NotFound):
        store.get("1234")


def test_new_ids_never_collide(store: TaskStore, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = iter(["abcd0001"] * 3 + ["abcd0002"])
    monkeypatch.setattr("claw.tasks.store._random_id", lambda: next(ids))
    assert store.add("one").id == "abcd0001"
    assert store.add("two").id == "abcd0002"


@pytest.mark.parametrize(
    ("title", "notes", "match"),
    [
        ("", "", "needs a title"),
        ("   ", "", "needs a title"),
        ("x" * (MAX_TITLE + 1), "", "at most"),
        ("two\nlines", "", "one line"),
        ("bell\x07", "", "one line"),
        ("ok", "n" * (MAX_NOTES + 1), "at most"),
    ],
)
def test_validation(store: TaskStore, title: str, notes: str, match: str) -> None:
    with pytest.raises(UsageError, match=match):
        store.add(title, notes=notes)
    assert store.list(include_done=True) == []


def test_titles_and_notes_at_their_limits(store: TaskStore) -> None:
    t = store.add("é" * MAX_TITLE, notes="line 1\nline 2\t" + "n" * (MAX_NOTES - 14))
    assert store.get(t.id).notes.startswith("line 1\nline 2\t")


def test_remind_needs_due_and_naive_due_is_refused(store: TaskStore) -> None:
    with pytest.raises(UsageError, match="reminder needs a due"):
        store.add("x", remind=True)
    with pytest.raises(UsageError, match="aware"):
        store.add("x", due=datetime(2026, 1, 1, 9, 0))
    with pytest.raises(InvalidName):
        store.add("x", agent="../etc")
    assert store.list() == []


def test_update(store: TaskStore) -> None:
    t = store.add("draft", due=NOW, remind=True)
    store.mark_reminded(t.id)
    u = store.update(t.id, title="final", notes="n")
    assert (u.title, u.notes, u.reminded_at is not None) == ("final", "n", True)
    moved = store.update(t.id, due=NOW + timedelta(days=1))
    assert moved.reminded_at is None and moved.remind  # a new time re-arms the reminder
    same = store.mark_reminded(t.id)
    assert store.update(t.id, due=NOW + timedelta(days=1)).reminded_at == same.reminded_at
    cleared = store.update(t.id, due=None)
    assert cleared.due is None and cleared.remind is False  # no time, no reminder
    with pytest.raises(UsageError, match="reminder needs a due"):
        store.update(t.id, remind=True)
    with pytest.raises(UsageError, match="cannot change"):
        store.update(t.id, id="00000000")
    with pytest.raises(UsageError, match="status"):
        store.update(t.id, status="later")
    with pytest.raises(UsageError):
        store.update(t.id, title="")
    assert store.get(t.id).title == "final"  # failed updates change nothing


def test_due_tasks_and_reminders(store: TaskStore) -> None:
    overdue = store.add("overdue", due=NOW - timedelta(hours=2), remind=True)
    due_now = store.add("due now", due=NOW)
    soon = store.add("soon", due=NOW + timedelta(minutes=30), remind=True)
    store.add("undated")
    finished = store.add("finished", due=NOW - timedelta(days=1), remind=True)
    store.done(finished.id)
    assert [t.id for t in store.due_tasks(NOW)] == [overdue.id, due_now.id]
    assert [t.id for t in store.due_tasks(NOW, within=timedelta(hours=1))] == [
        overdue.id,
        due_now.id,
        soon.id,
    ]
    assert [t.id for t in store.due_tasks(NOW.astimezone(UTC))] == [overdue.id, due_now.id]
    assert [t.id for t in store.reminders_due(NOW)] == [overdue.id]
    store.mark_reminded(overdue.id, at=NOW)
    assert store.get(overdue.id).reminded_at == "2026-03-28T14:00:00.000Z"
    assert store.reminders_due(NOW) == []
    later = NOW + timedelta(hours=1)
    assert [t.id for t in store.reminders_due(later)] == [soon.id]
    with pytest.raises(ValueError):
        store.due_tasks(datetime(2026, 1, 1))


def test_due_times_keep_their_instant_across_zones(store: TaskStore) -> None:
    ny = datetime(2026, 3, 28, 10, 0, tzinfo=ZoneInfo("America/New_York"))  # 15:00 Paris
    a = store.add("ny", due=ny)
    b = store.add("paris", due=NOW - timedelta(minutes=1))
    assert [t.id for t in store.list()] == [b.id, a.id]
    assert [t.id for t in store.due_tasks(NOW)] == [b.id, a.id]


def test_a_damaged_file_is_reported_not_overwritten(store: TaskStore, home: Home) -> None:
    store.add("keep me")
    path = home.root / "tasks" / "tasks.json"
    path.write_text('{"version": 1, "tasks": [', encoding="utf-8")
    with pytest.raises(ClawError, match="damaged") as info:
        store.list()
    assert info.value.hint
    with pytest.raises(ClawError, match="damaged"):
        store.add("another")
    assert path.read_text(encoding="utf-8") == '{"version": 1, "tasks": ['


def test_unknown_fields_are_tolerated(store: TaskStore, home: Home) -> None:
    path = home.root / "tasks" / "tasks.json"
    record = {"id": "0123abcd", "title": "from the future", "colour": "red"}
    path.write_text(json.dumps({"version": 2, "tasks": [record]}), encoding="utf-8")
    assert store.get("0123").title == "from the future"


def test_missing_dirs_are_created(tmp_path) -> None:
    store = TaskStore(Home(tmp_path / "fresh"))
    assert store.list() == []
    (tmp_path / "fresh").mkdir()
    assert store.add("x").title == "x"
    assert (tmp_path / "fresh" / "tasks").stat().st_mode & 0o777 == 0o700


_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from claw.state.home import Home
    from claw.tasks.store import TaskStore

    store = TaskStore(Home(Path(sys.argv[1])))
    for i in range(int(sys.argv[3])):
        t = store.add(f"{sys.argv[2]}-{i}")
        if i % 5 == 0:
            store.done(t.id)
    """
)


def test_concurrent_writers_lose_nothing(store: TaskStore, home: Home) -> None:
    n = 40
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(home.root), name, str(n)])
        for name in ("a", "b", "c")
    ]
    for i in range(n):  # this process writes too
        store.add(f"main-{i}")
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    tasks = store.list(include_done=True)
    titles = {t.title for t in tasks}
    assert len(tasks) == 4 * n and len({t.id for t in tasks}) == 4 * n
    assert titles == {f"{w}-{i}" for w in ("a", "b", "c", "main") for i in range(n)}
    assert sum(t.status == "done" for t in tasks) == 3 * (n // 5)
