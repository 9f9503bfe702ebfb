"""`claw config set` refuses values that would only fail later, at use: unknown time
zones and clock times that are not HH:MM. Exit 2, a clear message, the file untouched."""

from __future__ import annotations

from pathlib import Path

import pytest

ZONE_KEYS = ["user.timezone", "agents.main.heartbeat.active_hours.timezone"]
CLOCK_KEYS = ["agents.main.heartbeat.active_hours.start", "agents.main.heartbeat.active_hours.end"]


def _file(home_path: Path) -> str:
    path = home_path / "config.toml"
    return path.read_text() if path.exists() else ""


@pytest.mark.parametrize("key", ZONE_KEYS)
@pytest.mark.parametrize("zone", ["Mars/Olympus", "europe/paris ", "../../etc/passwd", ""])
def test_unknown_zone_is_refused(cli, home, home_path: Path, key: str, zone: str) -> None:
    before = _file(home_path)
    r = cli("config", "set", key, zone)
    assert r.exit_code == 2, r.output
    assert "time zone" in r.stderr and "Europe/Paris" in r.stderr  # says what would do
    assert "internal error" not in r.stderr
    assert _file(home_path) == before


@pytest.mark.parametrize("key", ZONE_KEYS)
def test_known_zone_is_stored(cli, key: str) -> None:
    r = cli("config", "set", key, "America/New_York")
    assert r.exit_code == 0, r.output
    assert cli("config", "get", key).stdout == "America/New_York\n"
    assert cli("config", "set", key, "UTC").exit_code == 0


@pytest.mark.parametrize("key", CLOCK_KEYS)
@pytest.mark.parametrize("clock", ["25:00", "9am", "12:60", "7", "24:01", "1:2:3"])
def test_bad_clock_time_is_refused(cli, home, home_path: Path, key: str, clock: str) -> None:
    before = _file(home_path)
    r = cli("config", "set", key, clock)
    assert r.exit_code == 2, r.output
    assert "HH:MM" in r.stderr
    assert _file(home_path) == before


@pytest.mark.parametrize("clock", ["07:30", "7:30", "00:00", "24:00", "23:59"])
def test_good_clock_time_is_stored(cli, clock: str) -> None:
    r = cli("config", "set", CLOCK_KEYS[0], clock)
    assert r.exit_code == 0, r.output


def test_bad_zone_written_by_hand_is_reported_at_load(cli, home) -> None:
    with home.config_file.open("a") as f:
        f.write('\n[user]\ntimezone = "Mars/Olympus"\n')
    r = cli("config", "list")
    assert r.exit_code == 2
    assert "user.timezone" in r.stderr and "Mars/Olympus" in r.stderr
    assert "config.toml" in r.stderr


def test_config_set_and_unset_repair_a_file_other_commands_refuse(cli, home) -> None:
    """A bad value written by hand stops every command that reads the file; `config set`
    and `unset` are how a user fixes it, so they must work on it, one key at a time."""
    text = home.config_file.read_text().replace("port = 18789", "port = 99999")
    home.config_file.write_text(text + '\n[user]\ntimezone = "Mars/Olympus"\n')
    assert cli("config", "get", "user.timezone").exit_code == 2
    r = cli("config", "set", "user.timezone", "Europe/Paris")  # gateway.port still bad
    assert r.exit_code == 0, r.output
    assert "gateway.port" in r.stderr  # said, not hidden
    assert cli("config", "set", "user.timezone", "Mars/X").exit_code == 2  # new faults: no
    assert cli("config", "unset", "gateway.port").exit_code == 0
    r = cli("config", "get", "user.timezone")
    assert r.exit_code == 0 and r.stdout.strip() == "Europe/Paris"


def test_bad_zone_from_the_environment_names_the_variable(cli, monkeypatch) -> None:
    monkeypatch.setenv("CLAW_USER__TIMEZONE", "Mars/Olympus")
    r = cli("config", "get", "user.timezone")
    assert r.exit_code == 2
    assert "CLAW_USER__TIMEZONE" in r.stderr


@pytest.mark.parametrize("target", ["telegram", ":123", "telegram:", "nobody"])
def test_bad_heartbeat_target_is_refused(cli, home, home_path: Path, target: str) -> None:
    before = _file(home_path)
    r = cli("config", "set", "agents.main.heartbeat.target", target)
    assert r.exit_code == 2, r.output
    assert "CHANNEL:PEER" in r.stderr
    assert _file(home_path) == before


@pytest.mark.parametrize("target", ["last", "none", "telegram:12345", "webhook:ops"])
def test_good_heartbeat_target_is_stored(cli, target: str) -> None:
    r = cli("config", "set", "agents.main.heartbeat.target", target)
    assert r.exit_code == 0, r.output


def test_set_takes_a_value_that_starts_with_a_dash(cli, home) -> None:
    """Telegram group ids are negative; `config set K -100123` must not read as an option."""
    import json

    r = cli("config", "set", "channels.telegram.allow_groups", "-100123,-100456")
    assert r.exit_code == 0, r.output
    r = cli("config", "set", "channels.telegram.allow_groups", "-100123", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == {"key": "channels.telegram.allow_groups", "value": ["-100123"]}
    r = cli("config", "set", "gateway.port", "-5")
    assert r.exit_code == 2 and "at least 0" in r.stderr  # the value's check, not click's
