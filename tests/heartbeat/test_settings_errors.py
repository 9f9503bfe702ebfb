"""Mistakes in a heartbeat's settings or on its command line: one clear error, never a
silent run for something that does not exist, nor a window that never opens."""

from __future__ import annotations

from datetime import UTC, datetime

from claw.heartbeat.settings import settings_for
from claw.state.config import load, set_value
from claw.state.home import Home
from tests.conftest import run_claw


def test_run_once_refuses_an_unknown_agent(cli, home: Home) -> None:
    r = cli("heartbeat", "run-once", "--agent", "nope")
    assert r.exit_code != 0 and "unknown agent 'nope'" in r.output
    assert not (home.root / "heartbeat" / "nope.json").exists()  # no state for a ghost


def test_an_unknown_zone_is_one_clear_error(home: Home) -> None:
    (home.agent_dir("main") / "HEARTBEAT.md").write_text("- check the disk\n")
    # `claw config set` refuses it now; a hand-edited file is caught when it is read.
    with home.config_file.open("a") as f:
        f.write(
            "\n[agents.main.heartbeat.active_hours]\n"
            'timezone = "Mars/Base"\nstart = "08:00"\nend = "22:00"\n'
        )
    r = run_claw("heartbeat", "run-once", "--force")
    assert r.returncode == 2, r.stderr
    assert "unknown time zone 'Mars/Base'" in r.stderr
    assert "Traceback" not in r.stderr  # not a stack trace from the reminders first


def test_midnight_to_midnight_is_all_day(home: Home) -> None:
    set_value(home.config_file, "agents.main.heartbeat.active_hours.start", "00:00")
    set_value(home.config_file, "agents.main.heartbeat.active_hours.end", "24:00")
    set_value(home.config_file, "agents.main.heartbeat.active_hours.timezone", "UTC")
    s = settings_for(load(home.config_file), "main")
    for hour in (0, 9, 23):
        assert s.in_active_hours(datetime(2026, 9, 21, hour, 30, tzinfo=UTC))
