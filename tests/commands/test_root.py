"""The root command: version, help, global options, exit codes of usage errors."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_claw

COMMANDS = ("init", "send", "chat", "config", "sessions")


def test_version(cli) -> None:
    r = cli("--version")
    assert r.exit_code == 0
    assert r.stdout.strip() == "claw 0.1.0"


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_lists_every_command_with_a_purpose(cli, flag: str) -> None:
    r = cli(flag)
    assert r.exit_code == 0
    assert "Commands:" in r.stdout
    section = r.stdout.split("Commands:", 1)[1]
    for name in COMMANDS:
        m = re.search(rf"^\s+{name}\s{{2,}}(\S.*)$", section, re.MULTILINE)
        assert m, f"{name} missing from --help:\n{r.stdout}"
        assert len(m.group(1).split()) >= 3, f"{name} has no one-line purpose"


def test_help_shows_exit_status_epilog(cli) -> None:
    r = cli("--help")
    flat = " ".join(r.stdout.split())
    assert "Exit status: 0 success, 1 runtime error" in flat
    assert "2 usage or invalid input" in flat
    assert "130 interrupted" in flat
    assert "CLAW_HOME" in flat


@pytest.mark.parametrize(
    "command", ["send", "serve", "status", "stop", "rpc", "cron add", "cron rm", "cron run"]
)
def test_daemon_side_commands_say_their_exit_status(cli, command: str) -> None:
    # Scripts branch on these: `send --daemon` with no daemon, a busy port, a stale pid,
    # a cron job that cannot be added or is not there.
    flat = " ".join(cli(*command.split(), "--help").stdout.split())
    assert "Exit status:" in flat or "exits 2" in flat, flat


@pytest.mark.parametrize("group", ["config", "sessions"])
def test_group_help_lists_subcommands(cli, group: str) -> None:
    r = cli(group, "--help")
    assert r.exit_code == 0
    expected = {
        "config": ["get", "set", "unset", "list", "path"],
        "sessions": ["list", "show", "clear", "delete", "archive", "reindex"],
    }[group]
    section = r.stdout.split("Commands:", 1)[1]
    for name in expected:
        assert re.search(rf"^\s+{name}\s{{2,}}\S", section, re.MULTILINE), name


@pytest.mark.parametrize(
    "args",
    [
        ("nosuchcommand",),
        ("sessions", "nosuch"),
        ("send", "--bogus-option", "hi"),
        ("sessions", "list", "--limit", "0"),
        ("sessions", "show"),  # KEY is required
    ],
    ids=["unknown-command", "unknown-subcommand", "unknown-option", "bad-value", "missing-option"],
)
def test_usage_errors_exit_2(cli, args: tuple[str, ...]) -> None:
    r = cli(*args)
    assert r.exit_code == 2, (r.exit_code, r.output)
    assert "internal error" not in r.output


def test_unknown_command_exit_2_in_a_real_process() -> None:
    r = run_claw("nosuchcommand", timeout=60)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "No such command" in r.stderr
    assert "internal error" not in r.stderr


def test_home_option_beats_claw_home(cli, tmp_path: Path, home_path: Path) -> None:
    other = tmp_path / "elsewhere"
    r = cli("--home", str(other), "config", "set", "model.default", "echo")
    assert r.exit_code == 0, r.output
    assert (other / "config.toml").is_file()
    assert "echo" in (other / "config.toml").read_text()
    assert (other / "agents" / "main" / "SOUL.md").is_file()
    assert not home_path.exists(), "CLAW_HOME was used although --home was given"
    r = cli("--home", str(other), "config", "path")
    assert r.stdout.strip() == str(other / "config.toml")


def test_claw_home_is_used_without_home_option(cli, home_path: Path) -> None:
    r = cli("config", "path")
    assert r.exit_code == 0
    assert r.stdout.strip() == str(home_path / "config.toml")


def test_help_does_not_import_litellm() -> None:
    code = (
        "import sys; sys.argv=['claw','--help']; from claw.cli import main\n"
        "try: main()\n"
        "except SystemExit: pass\n"
        "print('litellm' in sys.modules)"
    )
    r = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert "Commands:" in r.stdout  # the help really ran
    assert r.stdout.strip().splitlines()[-1] == "False"


@pytest.mark.parametrize("group", ["config", "sessions"])
def test_group_without_subcommand_shows_its_help(cli, group: str) -> None:
    r = cli(group)
    assert r.exit_code in (0, 2), r.output
    assert "internal error" not in r.output
    assert "Commands:" in r.output


def test_command_table_matches_the_commands() -> None:
    """`claw --help` lists commands from claw.cli.COMMANDS without importing them; each
    one-line purpose there must be what the command itself says."""
    from claw.cli import COMMANDS, load_command

    for name, entry in COMMANDS.items():
        command = load_command(name)
        assert command.name == name
        assert command.get_short_help_str(200) == entry.help, name


def test_help_imports_no_command_module() -> None:
    code = (
        "import sys; sys.argv=['claw','--help']; from claw.cli import main\n"
        "try: main()\n"
        "except SystemExit: pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('claw.commands.')))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert re.search(r"sessions +List, show, clear", r.stdout)
    # _base and the terminal filter it prints through (claw.commands.tty): helpers, no command
    assert r.stdout.strip().splitlines()[-1] == "['claw.commands._base', 'claw.commands.tty']"


def test_closed_stdout_exits_quietly(home_path: Path) -> None:
    """`claw … | head` whose reader has gone: exit 141 as a tool killed by SIGPIPE, with
    no "internal error" and no "Exception ignored" from the final flush."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "claw", "send", "--model", "echo", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "CLAW_HOME": str(home_path)},
    )
    assert proc.stdout is not None
    proc.stdout.close()  # the reader goes away before any output
    _, err = proc.communicate("x" * 100_000, timeout=120)
    assert proc.returncode == 141, err
    assert err == ""


@pytest.mark.parametrize(("value", "colour"), [(None, True), ("", True), ("1", False)])
def test_no_color_counts_only_when_non_empty(monkeypatch, value, colour) -> None:
    """no-color.org: NO_COLOR turns colour off when present *and not empty*."""
    import io

    from claw.commands._base import use_color

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    if value is not None:
        monkeypatch.setenv("NO_COLOR", value)
    assert use_color(Tty()) is colour
