"""`claw cron …` through the real CLI (ClawGroup: errors, exit codes, lazy loading)."""

from __future__ import annotations

import json

import pytest

from claw.channels.mock import read_outbox
from claw.cron.jobs import JobStore
from claw.delivery.service import run_flush
from claw.state import config as cfg
from claw.state.home import Home
from tests import scripted

HELP = "Scheduled jobs: add, list, rm, run, runs, enable, disable."


@pytest.fixture(autouse=True)
def _registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """`cron` in claw.cli's COMMANDS (a no-op once claw/cli.py registers it)."""
    from claw import cli

    if "cron" not in cli.COMMANDS:
        monkeypatch.setitem(cli.COMMANDS, "cron", cli.Entry("cron", HELP))


def test_help(cli) -> None:
    r = cli("cron", "--help")
    assert r.exit_code == 0
    for sub in ("add", "list", "rm", "run", "runs", "enable", "disable"):
        assert sub in r.output
    r = cli("cron", "add", "--help")
    for flag in ("--at", "--every", "--cron", "--tz", "--message", "--agent", "--notify"):
        assert flag in r.output
    assert "--deliver" in r.output and "--delete-after-run" in r.output


def test_add_list_rm(cli, home: Home) -> None:
    r = cli(
        "cron", "add", "--name", "brief", "--cron", "0 9 * * 1-5", "--tz", "Europe/Paris",
        "--message", "brief me", "--deliver", "mock:me",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "added brief: cron 0 9 * * 1-5 (Europe/Paris); next run" in r.stdout
    assert "no daemon is running" in r.stderr
    r = cli("cron", "add", "--name", "ping", "--every", "30m", "--notify", "ping",
            "--deliver", "mock:me", "--json")  # fmt: skip
    assert r.exit_code == 0, r.output
    job = json.loads(r.stdout)
    assert job["name"] == "ping" and job["kind"] == "every" and job["value"] == "30m"
    r = cli("cron", "list")
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["NAME", "SCHEDULE", "NEXT", "RUN", "LAST", "ENABLED"]
    assert lines[1].startswith("brief") and "yes" in lines[1]
    assert lines[2].startswith("ping") and "every 30m" in lines[2]
    listed = json.loads(cli("cron", "list", "--json").stdout)
    assert [j["name"] for j in listed] == ["brief", "ping"]
    assert cli("cron", "rm", "brief").exit_code == 0
    assert [j["name"] for j in json.loads(cli("cron", "list", "--json").stdout)] == ["ping"]
    r = cli("cron", "rm", "brief")
    assert r.exit_code == 1 and "no cron job named 'brief'" in r.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--message", "m"], "exactly one schedule"),
        (["--at", "in 1h", "--every", "1h", "--message", "m"], "--at and --every"),
        (["--every", "1h"], "exactly one action"),
        (["--every", "1h", "--message", "m", "--notify", "n"], "exactly one action"),
        (["--every", "1h", "--notify", "n"], "needs --deliver"),
        (["--every", "1h", "--message", "m", "--deliver", "nowhere"], "CHANNEL:PEER"),
        (["--cron", "0 25 * * *", "--message", "m"], "invalid expression"),
        (["--cron", "0 9 * * *", "--tz", "Nowhere/Land", "--message", "m"], "unknown time zone"),
        (["--at", "2001-01-01 10:00", "--message", "m"], "in the past"),
        (["--at", "when pigs fly", "--message", "m"], "--at: cannot understand"),
        (["--every", "1h", "--message", "m", "--delete-after-run"], "only goes with --at"),
        (["--every", "1h", "--message", "m", "--agent", "ghost"], "--agent: unknown agent"),
    ],
)
def test_add_usage_errors(cli, home: Home, args: list[str], message: str) -> None:
    r = cli("cron", "add", "--name", "j", *args)
    assert r.exit_code == 2, r.output
    assert message in r.stderr
    assert JobStore(home).load() == {}


def test_bad_name(cli, home: Home) -> None:
    r = cli("cron", "add", "--name", "../etc", "--every", "1h", "--message", "m")
    assert r.exit_code == 2 and "invalid job name" in r.stderr
    assert cli("cron", "runs", "../etc").exit_code == 2


def test_run_and_runs(cli, home: Home) -> None:
    cfg.set_value(home.config_file, "model.default", "scripted/test")
    scripted.install(["Here is your brief."])
    cli("cron", "add", "--name", "brief", "--every", "1d", "--message", "brief me",
        "--deliver", "mock:me")  # fmt: skip
    assert "has not run yet" in cli("cron", "runs", "brief").stderr
    before = JobStore(home).get("brief").next_run_at
    r = cli("cron", "run", "brief")
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == "Here is your brief."
    assert "queued for mock:me" in r.stderr
    assert JobStore(home).get("brief").next_run_at == before
    run_flush(home, cfg.load(home.config_file))
    assert [m["text"] for m in read_outbox(home)] == ["Here is your brief."]
    r = cli("cron", "runs", "brief")
    assert r.exit_code == 0 and " ok " in r.stdout and "manual" in r.stdout
    records = json.loads(cli("cron", "runs", "brief", "--json").stdout)
    assert records[0]["session_key"] == "cron:brief" and records[0]["status"] == "ok"
    assert cli("cron", "runs", "nope").exit_code == 1


def test_a_failing_run_exits_1_and_enable_resets(cli, home: Home) -> None:
    cfg.set_value(home.config_file, "model.default", "scripted/test")
    scripted.install([""] * 5)
    cli("cron", "add", "--name", "j", "--every", "1h", "--message", "hi")
    for _ in range(5):
        r = cli("cron", "run", "j")
        assert r.exit_code == 1 and "cron job j failed" in r.stderr
    r = cli("cron", "list")
    assert "no: 5 failures in a row" in r.stdout and "error (5 in a row)" in r.stdout
    r = cli("cron", "runs", "j", "--limit", "2")
    assert len(r.stdout.splitlines()) == 2 and "(job disabled)" in r.stdout
    assert cli("cron", "enable", "j").exit_code == 0
    job = JobStore(home).get("j")
    assert job.enabled and job.failures == 0
    assert cli("cron", "disable", "j").exit_code == 0
    assert not JobStore(home).get("j").enabled
    assert "no: disabled by hand" in cli("cron", "list").stdout


def test_empty_list(cli, home: Home) -> None:
    r = cli("cron", "list")
    assert r.exit_code == 0 and r.stdout == "" and "no cron jobs" in r.stderr
    assert cli("cron", "list", "--json").stdout.strip() == "[]"


def test_short_help_matches_the_command_table() -> None:
    from claw.cli import COMMANDS, load_command

    assert load_command("cron").get_short_help_str(200) == HELP == COMMANDS["cron"].help


def test_at_now_is_due_at_once(cli, home: Home) -> None:
    r = cli(
        "cron", "add", "--name", "asap", "--at", "now", "--notify", "hi", "--deliver", "mock:me"
    )
    assert r.exit_code == 0, r.output
    assert "next run -" not in r.stdout
    assert JobStore(home).get("asap").next_run_at is not None


def test_rm_enable_disable_print_the_job_with_json(cli, home: Home) -> None:
    """Scripts can act on a job and read what it now is, without parsing prose."""
    assert cli("cron", "add", "--name", "brief", "--every", "1h", "-m", "hi").exit_code == 0
    r = cli("cron", "disable", "brief", "--json")
    assert r.exit_code == 0, r.output
    job = json.loads(r.stdout)
    assert job["name"] == "brief" and job["enabled"] is False
    assert job["disabled_reason"] == "disabled by hand"
    job = json.loads(cli("cron", "enable", "brief", "--json").stdout)
    assert job["enabled"] is True and job["next_run_at"] and job["disabled_reason"] is None
    r = cli("cron", "rm", "brief", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["name"] == "brief"
    assert not JobStore(home).load()
    r = cli("cron", "rm", "brief", "--json")
    assert r.exit_code == 1 and r.stdout == ""
