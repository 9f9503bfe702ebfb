"""Scheduled sends are exactly once across a SIGKILL (claw.delivery.origins).

Each test kills a real process (`claw serve`, `claw heartbeat run-once`) with the crash
point `CLAW_CRASH_AT=enqueued:<kind>`: the message is durably queued, the run is not yet
recorded. Then, either with the message still queued or already delivered and gone
(`claw queue flush` in between), the process runs again. Exactly one message reaches the
mock channel, and the model was called once: the retry recognises the occurrence by its
origin instead of running it again.
"""

from __future__ import annotations

import json
import signal
import time
from datetime import UTC, datetime, timedelta

import pytest

from claw.channels.mock import read_outbox
from claw.cron.jobs import JobStore
from claw.delivery.queue import QueueStore
from claw.heartbeat.state import HeartbeatState
from claw.state.config import set_value
from claw.state.faults import ENV
from claw.state.home import Home
from claw.state.session_keys import cron_key, main_key
from claw.state.sessions import SessionStore
from claw.tasks.store import TaskStore
from tests.conftest import run_claw
from tests.test_daemon import Daemons, claw, wait_for

pytestmark = pytest.mark.timeout(120)
KILLED = -signal.SIGKILL
CASES = ["still queued", "delivered before the restart"]


def model_calls(home: Home, key: str) -> int:
    """Assistant messages in the session: one per model call that answered."""
    records = SessionStore(home).read(key).messages
    return sum(1 for m in records if m.get("role") == "assistant")


def flush_if(case: str, home: Home) -> None:
    if case == CASES[1]:
        r = claw(home, "queue", "flush")
        assert r.returncode == 0, r.stderr
        assert len(read_outbox(home)) == 1 and QueueStore(home).ids() == []


def echo_home(home: Home) -> None:
    set_value(home.config_file, "model.default", "echo")
    set_value(home.config_file, "agents.main.heartbeat.target", "mock:me")


@pytest.mark.parametrize("case", CASES)
def test_a_cron_run_killed_after_queueing_is_not_run_again(
    home: Home, daemons: Daemons, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    echo_home(home)
    add = ["cron", "add", "--name", "report", "--at", "now", "--message", "status report"]
    r = claw(home, *add, "--deliver", "mock:me")
    assert r.returncode == 0, r.stderr

    monkeypatch.setenv(ENV, "enqueued:cron")
    proc = daemons.start()
    assert proc.wait(timeout=60) == KILLED, daemons.stderr(proc)
    monkeypatch.delenv(ENV)
    assert len(QueueStore(home).ids()) == 1  # queued...
    assert JobStore(home).runs("report", 10) == []  # ...and the run never recorded
    assert model_calls(home, cron_key("report")) == 1
    flush_if(case, home)

    proc = daemons.start()
    daemons.wait_ready(proc)
    wait_for(lambda: JobStore(home).runs("report", 10) != [], timeout=30)
    wait_for(lambda: QueueStore(home).ids() == [] and len(read_outbox(home)) == 1, timeout=30)
    assert claw(home, "stop").returncode == 0
    assert proc.wait(timeout=20) == 0
    [run] = JobStore(home).runs("report", 10)
    assert run["status"] == "ok" and run["recovered"] is True and run["delivery_id"]
    assert [m["text"] for m in read_outbox(home)] == ["status report"]
    assert model_calls(home, cron_key("report")) == 1
    shown = claw(home, "cron", "runs", "report")
    assert "queued before a crash" in shown.stdout, shown.stderr


def heartbeat_home(home: Home) -> None:
    echo_home(home)
    (home.agent_dir("main") / "HEARTBEAT.md").write_text("- Is the disk full?\n")


@pytest.mark.parametrize("case", CASES)
def test_a_heartbeat_killed_after_queueing_is_not_run_again(home: Home, case: str) -> None:
    heartbeat_home(home)
    r = run_claw("heartbeat", "run-once", "--force", env={ENV: "enqueued:heartbeat"})
    assert r.returncode == KILLED, r.stderr
    assert len(QueueStore(home).ids()) == 1
    assert HeartbeatState.load(home, "main", 0).pending_at is not None
    flush_if(case, home)

    r = run_claw("heartbeat", "run-once", "--force", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert (out["outcome"], out["step"], out["model_called"]) == ("sent", "recovered", False)
    r = claw(home, "queue", "flush")
    assert r.returncode == 0, r.stderr
    assert len(read_outbox(home)) == 1
    assert model_calls(home, main_key("main")) == 1
    state = HeartbeatState.load(home, "main", 0)
    assert state.pending_at is None and state.last_outcome == "sent"
    if case == CASES[0]:  # its text was still there: a repeat is recognised
        assert len(state.sent) == 1


def test_a_heartbeat_that_died_before_queueing_runs_normally(home: Home) -> None:
    """A run that died mid-turn left its `pending_at` and queued nothing: the next run
    forgets it and runs (the message is sent once, not lost)."""
    heartbeat_home(home)
    at = time.time() - 60
    HeartbeatState("main", armed_at=at, last_run_at=at, pending_at=at).save(home)
    r = run_claw("heartbeat", "run-once", "--force", "--json")
    out = json.loads(r.stdout)
    assert (out["outcome"], out["step"], out["model_called"]) == ("sent", "run", True)
    assert HeartbeatState.load(home, "main", 0).pending_at is None
    assert claw(home, "queue", "flush").returncode == 0
    assert len(read_outbox(home)) == 1


def test_the_daemons_heartbeat_killed_after_queueing_sends_once(
    home: Home, daemons: Daemons, monkeypatch: pytest.MonkeyPatch
) -> None:
    heartbeat_home(home)
    set_value(home.config_file, "agents.main.heartbeat.every", "1s")
    monkeypatch.setenv(ENV, "enqueued:heartbeat")
    proc = daemons.start()
    assert proc.wait(timeout=60) == KILLED, daemons.stderr(proc)
    monkeypatch.delenv(ENV)
    assert len(QueueStore(home).ids()) == 1

    # The restarted daemon's first heartbeat comes one interval after its start; the one
    # after that would be a new occurrence: stop before it.
    set_value(home.config_file, "agents.main.heartbeat.every", "5s")
    proc = daemons.start()
    daemons.wait_ready(proc)
    wait_for(lambda: "before a crash" in (_state(home).last_reason or ""), timeout=30)
    wait_for(lambda: len(read_outbox(home)) == 1, timeout=30)
    assert claw(home, "stop").returncode == 0
    assert proc.wait(timeout=20) == 0
    assert _state(home).pending_at is None
    assert len(read_outbox(home)) == 1 and model_calls(home, main_key("main")) == 1


def _state(home: Home) -> HeartbeatState:
    return HeartbeatState.load(home, "main", 0)


@pytest.mark.parametrize("case", CASES)
def test_a_reminder_killed_after_queueing_is_not_sent_again(home: Home, case: str) -> None:
    echo_home(home)
    due = datetime.now(UTC) - timedelta(minutes=1)
    task = TaskStore(home).add("water the plants", due=due, remind=True)
    r = run_claw("heartbeat", "run-once", env={ENV: "enqueued:reminder"})
    assert r.returncode == KILLED, r.stderr
    assert len(QueueStore(home).ids()) == 1
    assert TaskStore(home).get(task.id).reminded_at is None
    flush_if(case, home)

    r = run_claw("heartbeat", "run-once", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["reminders"] == []
    assert TaskStore(home).get(task.id).reminded_at is not None
    r = claw(home, "queue", "flush")
    assert r.returncode == 0, r.stderr
    texts = [m["text"] for m in read_outbox(home)]
    assert len(texts) == 1 and texts[0].startswith("Reminder: water the plants")
