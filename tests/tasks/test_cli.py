"""`claw tasks ...` through the real CLI, as a user would run it."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from claw.state.home import Home
from claw.tasks.store import TaskStore

HELP = "Tasks and reminders: add, list, done, rm."
PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture(autouse=True)
def _setup(monkeypatch: pytest.MonkeyPatch) -> None:
    from claw import cli

    if "tasks" not in cli.COMMANDS:  # until claw.cli registers the group
        monkeypatch.setitem(cli.COMMANDS, "tasks", cli.Entry("tasks", HELP))
    monkeypatch.setenv("CLAW_USER__TIMEZONE", "Europe/Paris")


def add(cli, *args: str) -> str:
    r = cli("tasks", "add", *args)
    assert r.exit_code == 0, r.output
    return r.stdout.strip()


def test_add_list_show_done_rm(cli, home: Home) -> None:
    milk = add(cli, "Buy milk", "--due", "in 2h", "--remind", "--notes", "2 litres")
    assert len(milk) == 8
    mom = add(cli, "Call mom")
    r = cli("tasks", "list")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0].startswith(milk) and "remind" in lines[0] and "Buy milk" in lines[0]
    assert "in 1h59m" in lines[0] or "in 2h" in lines[0]
    assert lines[1].startswith(mom) and lines[1].rstrip().endswith("Call mom")

    data = json.loads(cli("tasks", "list", "--json").stdout)
    assert [t["id"] for t in data] == [milk, mom]
    due = datetime.fromisoformat(data[0]["due"])
    expected = datetime.now(PARIS) + timedelta(hours=2)
    assert abs((due - expected).total_seconds()) < 60
    assert due.utcoffset() == datetime.now(PARIS).utcoffset()  # shown in the user's zone
    assert data[0]["remind"] is True and data[0]["notes"] == "2 litres"

    # The shortest unique prefix of at least 4 (ids are random: two may share 4 characters).
    n = next(n for n in range(4, 9) if milk[:n] != mom[:n])
    r = cli("tasks", "show", milk[:n])
    assert r.exit_code == 0, r.output
    assert "title:    Buy milk" in r.stdout and "reminder: on" in r.stdout
    assert "2 litres" in r.stdout
    assert json.loads(cli("tasks", "show", milk, "--json").stdout)["id"] == milk

    r = cli("tasks", "done", milk)
    assert r.exit_code == 0 and r.stdout.startswith(f"done {milk}")
    assert [t["id"] for t in json.loads(cli("tasks", "list", "--json").stdout)] == [mom]
    r = cli("tasks", "list", "--all")
    assert "[x]" in r.stdout and "done" in r.stdout
    r = cli("tasks", "reopen", milk)
    assert r.exit_code == 0 and TaskStore(home).get(milk).status == "open"

    r = cli("tasks", "rm", mom)
    assert r.exit_code == 0 and r.stdout.startswith(f"removed {mom}")
    r = cli("tasks", "show", mom)
    assert r.exit_code == 1 and "no task" in r.stderr


def test_add_json_and_an_empty_list(cli) -> None:
    r = cli("tasks", "list")
    assert r.exit_code == 0 and r.stdout == "" and "no open tasks" in r.stderr
    r = cli("tasks", "add", "Pay rent", "--due", "2030-01-05 10:00", "--json")
    assert r.exit_code == 0, r.output
    task = json.loads(r.stdout)
    assert task["due"] == "2030-01-05T10:00:00+01:00" and task["status"] == "open"
    assert cli("tasks", "list", "--json").stdout.count(task["id"]) == 1


def test_usage_errors(cli, home: Home) -> None:
    r = cli("tasks", "add", "x", "--remind")
    assert r.exit_code == 2 and "--remind needs --due" in r.stderr
    r = cli("tasks", "add", "x", "--due", "someday")
    assert r.exit_code == 2 and "someday" in r.stderr and "tomorrow 9am" in r.stderr
    r = cli("tasks", "add", "")
    assert r.exit_code == 2 and "title" in r.stderr
    r = cli("tasks", "add", "a\nb")
    assert r.exit_code == 2
    assert cli("tasks", "show", "ab").exit_code == 2  # too short to be an id prefix
    assert cli("tasks", "show", "../../etc").exit_code == 2
    assert cli("tasks", "done", "0000aaaa").exit_code == 1
    assert TaskStore(home).list(include_done=True) == []


def test_past_due_is_accepted_with_a_note(cli) -> None:
    r = cli("tasks", "add", "late", "--due", "2020-01-01 09:00")
    assert r.exit_code == 0 and "already past" in r.stderr
    assert "overdue" in cli("tasks", "list").stdout


def test_done_and_rm_are_all_or_nothing(cli, home: Home) -> None:
    a, b = add(cli, "a"), add(cli, "b")
    r = cli("tasks", "done", a, "ffff0000", b)
    assert r.exit_code == 1 and "ffff0000" in r.stderr
    assert [t.status for t in TaskStore(home).list()] == ["open", "open"]
    r = cli("tasks", "done", a, b)
    assert r.exit_code == 0 and len(r.stdout.splitlines()) == 2
    assert cli("tasks", "rm", a, b).exit_code == 0
    assert TaskStore(home).list(include_done=True) == []


def test_edit(cli, home: Home) -> None:
    t = add(cli, "draft", "--due", "tomorrow 9am", "--remind")
    r = cli("tasks", "edit", t, "--title", "final", "--due", "2030-06-01 08:30")
    assert r.exit_code == 0, r.output
    task = TaskStore(home).get(t)
    assert task.title == "final" and task.due == "2030-06-01T08:30:00+02:00" and task.remind
    r = cli("tasks", "edit", t, "--no-due")
    assert r.exit_code == 0 and TaskStore(home).get(t).remind is False
    r = cli("tasks", "edit", t, "--remind")
    assert r.exit_code == 2 and "reminder needs a due" in r.stderr
    assert cli("tasks", "edit", t, "--due", "fri 17:00", "--remind").exit_code == 0
    assert TaskStore(home).get(t).due_at.weekday() == 4
    assert cli("tasks", "edit", t).exit_code == 2
    assert cli("tasks", "edit", t, "--due", "noon", "--no-due").exit_code == 2
    assert cli("tasks", "edit", t, "--notes", "more").exit_code == 0
    assert TaskStore(home).get(t).notes == "more"


def test_times_follow_user_timezone(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAW_USER__TIMEZONE", "America/New_York")
    t = json.loads(cli("tasks", "add", "x", "--due", "2030-01-05 10:00", "--json").stdout)
    assert t["due"] == "2030-01-05T10:00:00-05:00"
    monkeypatch.setenv("CLAW_USER__TIMEZONE", "Asia/Tokyo")
    assert "Sun 2030-01-06 00:00" in cli("tasks", "list").stdout  # shown in the zone of now
    monkeypatch.setenv("CLAW_USER__TIMEZONE", "Mars/Base")
    r = cli("tasks", "list")
    assert r.exit_code == 2 and "Mars/Base" in r.stderr


def test_group_help(cli) -> None:
    r = cli("tasks", "--help")
    assert r.exit_code == 0
    for sub in ("add", "list", "show", "edit", "done", "reopen", "rm"):
        assert sub in r.stdout
    assert "tomorrow 9am" in cli("tasks", "add", "--help").stdout


def test_edit_done_reopen_rm_print_json(cli, home: Home) -> None:
    """Each changing command prints what it changed as JSON (a list for the ID... ones)."""
    milk, mom = add(cli, "Buy milk"), add(cli, "Call mom")
    r = cli("tasks", "edit", milk, "--title", "Buy oat milk", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["title"] == "Buy oat milk"
    r = cli("tasks", "done", milk, mom, "--json")
    done = json.loads(r.stdout)
    assert [t["id"] for t in done] == [milk, mom] and all(t["done_at"] for t in done)
    reopened = json.loads(cli("tasks", "reopen", mom, "--json").stdout)
    assert [t["id"] for t in reopened] == [mom] and reopened[0]["done_at"] is None
    removed = json.loads(cli("tasks", "rm", milk, mom, "--json").stdout)
    assert [t["title"] for t in removed] == ["Buy oat milk", "Call mom"]
    assert TaskStore(home).list(include_done=True) == []
    r = cli("tasks", "rm", milk, "--json")
    assert r.exit_code == 1 and r.stdout == ""
