"""`claw init` and the lazy creation of the state directory by other commands."""

from __future__ import annotations

import json
import stat
from pathlib import Path

STARTER_FILES = ("SOUL.md", "AGENTS.md", "USER.md", "HEARTBEAT.md")
EDITED = "You are Bob, a grumpy assistant.\n"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_creates_files(cli, home_path: Path) -> None:
    r = cli("init")
    assert r.exit_code == 0, r.output
    assert "Initialised" in r.stdout
    assert (home_path / "config.toml").is_file()
    token = home_path / "gateway.token"
    assert token.is_file() and len(token.read_text().strip()) >= 32
    assert mode(token) == 0o600
    assert mode(home_path) == 0o700
    for name in STARTER_FILES:
        assert (home_path / "agents" / "main" / name).is_file(), name
    for name in ("sessions", "locks", "agents"):
        assert (home_path / name).is_dir()
    # The file written is a valid config that the CLI reads back.
    r = cli("config", "get", "model.default")
    assert r.exit_code == 0 and r.stdout.strip() == "local/smollm2"


def test_second_init_keeps_edited_soul(cli, home_path: Path) -> None:
    assert cli("init").exit_code == 0
    soul = home_path / "agents" / "main" / "SOUL.md"
    soul.write_text(EDITED)
    token = (home_path / "gateway.token").read_text()
    r = cli("init")
    assert r.exit_code == 0, r.output
    assert "Already initialised" in r.stdout
    assert soul.read_text() == EDITED
    assert (home_path / "gateway.token").read_text() == token


def test_second_init_restores_a_deleted_starter_file(cli, home_path: Path) -> None:
    assert cli("init").exit_code == 0
    user = home_path / "agents" / "main" / "USER.md"
    user.unlink()
    r = cli("init")
    assert r.exit_code == 0
    assert user.is_file()
    assert "USER.md" in r.stdout


def test_force_yes_resets_soul_and_token(cli, home_path: Path) -> None:
    assert cli("init").exit_code == 0
    soul = home_path / "agents" / "main" / "SOUL.md"
    soul.write_text(EDITED)
    token = (home_path / "gateway.token").read_text()
    assert cli("config", "set", "model.default", "echo").exit_code == 0
    r = cli("init", "--force", "--yes")
    assert r.exit_code == 0, r.output
    assert soul.read_text() != EDITED
    assert "You are claw" in soul.read_text()
    assert (home_path / "gateway.token").read_text() != token
    assert cli("config", "get", "model.default").stdout.strip() == "local/smollm2"


def test_force_without_terminal_or_yes_refuses(cli, home_path: Path) -> None:
    assert cli("init").exit_code == 0
    soul = home_path / "agents" / "main" / "SOUL.md"
    soul.write_text(EDITED)
    token = (home_path / "gateway.token").read_text()
    r = cli("init", "--force")  # CliRunner's stdin is not a terminal
    assert r.exit_code == 2, r.output
    assert "--yes" in r.stderr
    assert soul.read_text() == EDITED
    assert (home_path / "gateway.token").read_text() == token


def test_init_json(cli, home_path: Path) -> None:
    r = cli("init", "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert set(data) == {"home", "created", "kept"}
    assert data["home"] == str(home_path)
    assert str(home_path / "config.toml") in data["created"]
    assert str(home_path / "agents" / "main" / "SOUL.md") in data["created"]
    assert data["kept"] == []

    again = json.loads(cli("init", "--json").stdout)
    assert again["created"] == []
    assert str(home_path / "config.toml") in again["kept"]
    assert str(home_path / "gateway.token") in again["kept"]


def test_any_command_creates_a_missing_home(cli, home_path: Path) -> None:
    assert not home_path.exists()
    r = cli("sessions", "list")
    assert r.exit_code == 0, r.output
    assert home_path.is_dir()
    assert mode(home_path) == 0o700
    assert (home_path / "config.toml").is_file()
    assert (home_path / "agents" / "main" / "SOUL.md").is_file()
    assert "no sessions yet" in r.stderr
    assert r.stdout == ""


def test_force_on_a_fresh_home_needs_no_confirmation(cli, home_path: Path) -> None:
    r = cli("init", "--force")
    assert r.exit_code == 0, r.output
    assert (home_path / "config.toml").is_file()
