"""Heartbeat promises a demanding user relies on: the ack token never reaches a chat, a
cron-driven `run-once` at the heartbeat's own interval is not skipped for a second of
start-up jitter, and an overdue task does not buy a model call (and a nag) every interval."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from claw.channels.mock import read_outbox
from claw.delivery.service import run_flush
from claw.heartbeat.runner import run_once
from claw.state.home import Home
from tests import scripted
from tests.heartbeat.test_heartbeat import EVERY, T0, setup


def test_a_long_reply_with_the_ack_is_sent_without_the_token(home: Home) -> None:
    alert = "The backup failed three nights in a row. " * 10  # over ack_max_chars
    scripted.install([f"HEARTBEAT_OK\n\n{alert}", f"{alert}\nHEARTBEAT_OK"])
    config = setup(home)
    assert run_once(home, config, "main", force=True, now=T0).outcome == "sent"
    run_flush(home, config)
    texts = [m["text"] for m in read_outbox(home)]
    assert texts == [alert.strip()]
    # The same alert with the token at the other end is the same message: not sent again.
    assert run_once(home, config, "main", force=True, now=T0 + 60).outcome == "duplicate"


def test_run_once_from_cron_at_the_same_interval_runs_every_time(home: Home) -> None:
    """cron starts `claw heartbeat run-once` every 30 minutes; each start lands a little
    earlier or later than the last. A run a fraction of a second "early" is still due."""
    script = scripted.install([f"Alert {i}" for i in range(4)])
    config = setup(home)
    assert run_once(home, config, "main", now=T0).step == "interval"  # arms
    jitter = [0.9, 0.2, 1.5, 0.4]  # seconds after each cron start
    for i, late in enumerate(jitter, start=1):
        out = run_once(home, config, "main", now=T0 + i * EVERY + late)
        assert out.outcome == "sent", (i, out)
    assert len(script.calls) == 4


def test_an_overdue_task_is_looked_at_once_not_every_interval(home: Home) -> None:
    from claw.tasks.store import TaskStore

    script = scripted.install(["Buy milk is overdue.", "HEARTBEAT_OK", "Still: buy milk."])
    config = setup(home, "# nothing in the checklist\n")
    TaskStore(home).add("Buy milk", due=datetime.fromtimestamp(T0, UTC))
    assert run_once(home, config, "main", now=T0 + EVERY, armed_at=T0).outcome == "sent"
    # The same overdue task, nothing else new: no model call, every interval of the day.
    for i in range(2, 40):
        out = run_once(home, config, "main", now=T0 + i * EVERY)
        assert out.step == "content" and "already" in out.reason, out
    assert len(script.calls) == 1
    # A task that comes due is news: the model looks again, and sees both.
    TaskStore(home).add("Call Ana", due=datetime.fromtimestamp(T0 + 40 * EVERY, UTC))
    out = run_once(home, config, "main", now=T0 + 41 * EVERY)
    assert out.outcome == "silent" and len(script.calls) == 2
    prompt = script.calls[-1][-1]["content"]
    assert "Buy milk" in prompt and "Call Ana" in prompt
    # A day after the last look, a task still overdue is worth one more look.
    day = T0 + 41 * EVERY + timedelta(days=1).total_seconds()
    assert run_once(home, config, "main", now=day - EVERY).step == "content"
    assert run_once(home, config, "main", now=day).outcome == "sent"
    assert len(script.calls) == 3


def test_without_ack_keeps_the_text_next_to_the_token() -> None:
    from claw.heartbeat.content import without_ack

    assert without_ack("**HEARTBEAT_OK**\n\n**Disk full**") == "**Disk full**"
    assert without_ack("Disk full. HEARTBEAT_OK.") == "Disk full."
    assert without_ack("Disk full; HEARTBEAT_OK is wrong") == "Disk full; HEARTBEAT_OK is wrong"


def test_cli_shows_times_in_the_users_zone_and_the_reminders_it_queued(cli, home: Home) -> None:
    from claw.state.config import set_value
    from claw.tasks.store import TaskStore

    setup(home)
    set_value(home.config_file, "user.timezone", "Asia/Tokyo")
    TaskStore(home).add("Pay rent", due=datetime.now(UTC) - timedelta(seconds=1), remind=True)
    r = cli("heartbeat", "run-once")
    assert r.exit_code == 0, r.output
    assert "next due" in r.stdout and "JST" in r.stdout and "UTC" not in r.stdout
    assert "1 reminder queued" in r.stdout
    r = cli("heartbeat", "status")
    assert r.exit_code == 0 and "JST" in r.stdout and "UTC" not in r.stdout


def test_a_task_added_from_the_cli_is_brought_up_by_one_agent_not_each(home: Home) -> None:
    """Two agents with heartbeats: a due task that names no agent (`claw tasks add`) is
    looked at by the first agent whose heartbeat is on, not by both (two messages)."""
    from claw.state.config import load, set_value
    from claw.tasks.store import TaskStore

    script = scripted.install(["Buy milk is overdue.", "Buy milk is overdue!"])
    setup(home, "# nothing in the checklist\n")
    set_value(home.config_file, "agents.work.model", "scripted/test")
    set_value(home.config_file, "agents.work.heartbeat.target", "mock:work")
    config = load(home.config_file)
    TaskStore(home).add("Buy milk", due=datetime.fromtimestamp(T0, UTC))
    outs = [run_once(home, config, a, now=T0 + EVERY, armed_at=T0) for a in ("main", "work")]
    assert [o.outcome for o in outs] == ["sent", "skipped"] and len(script.calls) == 1
    # With main's heartbeat off, the work agent brings it up instead.
    set_value(home.config_file, "agents.main.heartbeat.enabled", "false")
    config = load(home.config_file)
    assert run_once(home, config, "work", now=T0 + 2 * EVERY).outcome == "sent"


def test_no_model_call_while_last_has_no_target(home: Home) -> None:
    """`target = "last"` before anyone has talked to the agent: the reply could go nowhere,
    so the model is not called (it was, every interval, and the reply dropped); the first
    tick after someone talks runs it."""
    from claw.heartbeat.last_target import remember

    script = scripted.install(["The disk is full."])
    config = setup(home, target="last")
    for i in range(1, 6):
        out = run_once(home, config, "main", now=T0 + i * EVERY, armed_at=T0)
        assert (out.outcome, out.model_called) == ("no-target", False), out
        assert "nobody has talked" in out.reason
    assert script.calls == []
    remember(home, "main", "mock", "me")
    assert run_once(home, config, "main", now=T0 + 5 * EVERY + 60).outcome == "sent"
    run_flush(home, config)
    assert [m["text"] for m in read_outbox(home)] == ["The disk is full."]


def test_status_says_a_run_held_back_is_due_now_not_a_time_in_the_past(cli, home: Home) -> None:
    """Past its interval but held back (here: nobody to send to yet), the heartbeat is due
    now; a bare "next due <a past time>" read as a stale or broken schedule."""
    import time

    from claw.heartbeat.state import HeartbeatState
    from claw.state.config import set_value

    setup(home)
    set_value(home.config_file, "agents.main.heartbeat.target", "last")  # no one yet
    state = HeartbeatState.load(home, "main", time.time() - 2 * EVERY)
    state.save(home)  # armed two intervals ago: due since one interval ago
    r = cli("heartbeat", "run-once")
    assert r.exit_code == 0, r.output
    assert "no-target" in r.stdout and "next due now (due since" in r.stdout, r.stdout
    r = cli("heartbeat", "status")
    assert "next due now (due since" in r.stdout, r.stdout
