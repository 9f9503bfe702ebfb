"""Durations in config: what is stored is what was meant."""

from __future__ import annotations

import pytest

from claw.state.config import load


@pytest.mark.parametrize("raw", ["0.5s", "1.5s", "90.25s"])
def test_a_duration_that_is_not_whole_seconds_is_refused(cli, home, raw: str) -> None:
    # "0.5s" was stored as "0s" (and "1.5s" as "1s"): silently another value.
    before = home.config_file.read_text()
    r = cli("config", "set", "sessions.archive_after", raw)
    assert r.exit_code == 2, r.output
    assert "whole seconds" in r.output
    assert home.config_file.read_text() == before


def test_fractions_of_larger_units_are_kept(cli, home) -> None:
    r = cli("config", "set", "sessions.archive_after", "1.5h")
    assert r.exit_code == 0, r.output
    assert load(home.config_file).get("sessions.archive_after") == "90m"


@pytest.mark.parametrize("raw", ["0", "0s", "0m"])
def test_a_heartbeat_every_zero_is_refused(cli, home, raw: str) -> None:
    # every = 0 made every check of the ticker due: a model call after another.
    r = cli("config", "set", "agents.main.heartbeat.every", raw)
    assert r.exit_code == 2, r.output
    assert "at least" in r.output


def test_a_heartbeat_every_zero_in_the_file_is_refused(cli, home) -> None:
    home.config_file.write_text('[agents.main.heartbeat]\nevery = "0s"\n')
    r = cli("config", "get", "agents.main.heartbeat.every")
    assert r.exit_code == 2, r.output
    assert "at least" in r.output
