"""Creating a state directory: layout, config, token, workspace; re-runs and --force."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from claw.state import config as cfg
from claw.state.home import SUBDIRS, Home
from claw.state.init import ensure_initialised, initialise
from claw.state.workspace import STARTERS


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


WORKSPACE_FILES = ("SOUL.md", "AGENTS.md", "USER.md", "HEARTBEAT.md")


def test_initialise_creates_everything_private(home_path: Path) -> None:
    home = Home(home_path)
    report = initialise(home)

    assert home.config_file.is_file()
    assert _mode(home.config_file) == 0o600
    c = cfg.load(home.config_file, environ={})
    assert c.get("model.default") == "local/smollm2"
    assert c.get("agents.main.dm_scope") == "main"
    assert c.source("gateway.port") == "file"

    token = home.token_file.read_text().strip()
    assert _mode(home.token_file) == 0o600
    assert len(token) >= 40 and len(set(token)) > 15  # 32 random bytes, urlsafe

    agent = home.agent_dir("main")
    for name in WORKSPACE_FILES:
        assert (agent / name).read_text() == STARTERS[name]
        assert _mode(agent / name) == 0o600
    assert (agent / "skills").is_dir()

    for d in (home.root, *(home.root / s for s in SUBDIRS), agent, agent / "skills"):
        assert d.is_dir() and _mode(d) == 0o700, d

    assert set(report.created) >= {
        home.config_file,
        home.token_file,
        *(agent / n for n in WORKSPACE_FILES),
    }
    assert report.kept == []


def test_tokens_differ_between_homes(tmp_path: Path) -> None:
    tokens = set()
    for i in range(3):
        h = Home(tmp_path / f"h{i}")
        initialise(h)
        tokens.add(h.token_file.read_text())
    assert len(tokens) == 3


def test_rerun_keeps_user_edits(home: Home) -> None:
    soul = home.agent_dir("main") / "SOUL.md"
    soul.write_text("You are a pirate.\n")
    token = home.token_file.read_text()
    cfg.set_value(home.config_file, "model.default", "echo")
    (home.agent_dir("main") / "USER.md").unlink()

    report = initialise(home)

    assert soul.read_text() == "You are a pirate.\n"
    assert home.token_file.read_text() == token
    assert cfg.load(home.config_file, environ={}).get("model.default") == "echo"
    # A deleted starter file is recreated; nothing else is written.
    assert report.created == [home.agent_dir("main") / "USER.md"]
    starters = {home.agent_dir("main") / n for n in ("SOUL.md", "AGENTS.md", "HEARTBEAT.md")}
    assert set(report.kept) == {home.config_file, home.token_file} | starters


def test_force_resets_config_token_and_starters(home: Home) -> None:
    soul = home.agent_dir("main") / "SOUL.md"
    soul.write_text("You are a pirate.\n")
    token = home.token_file.read_text()
    cfg.set_value(home.config_file, "model.default", "echo")

    initialise(home, force=True)

    assert soul.read_text() == STARTERS["SOUL.md"]
    assert home.token_file.read_text() != token
    assert _mode(home.token_file) == 0o600
    assert cfg.load(home.config_file, environ={}).get("model.default") == "local/smollm2"


def test_initialise_tightens_loose_permissions(home: Home) -> None:
    home.root.chmod(0o755)
    (home.root / "sessions").chmod(0o777)
    initialise(home)
    assert _mode(home.root) == 0o700
    assert _mode(home.root / "sessions") == 0o700


def test_ensure_initialised(home_path: Path) -> None:
    home = Home(home_path)
    assert not home.exists()
    ensure_initialised(home)
    assert home.config_file.exists() and home.token_file.exists()
    token = home.token_file.read_text()
    ensure_initialised(home)
    assert home.token_file.read_text() == token
    home.token_file.unlink()
    ensure_initialised(home)
    assert home.token_file.read_text() != token


def test_home_resolve(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CLAW_HOME", str(tmp_path / "env-home"))
    assert Home.resolve().root == tmp_path / "env-home"
    assert Home.resolve(tmp_path / "flag").root == tmp_path / "flag"
    monkeypatch.delenv("CLAW_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert Home.resolve().root == tmp_path / "user" / ".claw"
    monkeypatch.chdir(tmp_path)
    assert Home.resolve("rel").root == tmp_path / "rel"
    assert Home.resolve("rel").root.is_absolute()


def test_initialise_with_restrictive_umask_still_readable(home_path: Path) -> None:
    old = os.umask(0o077)
    try:
        home = Home(home_path)
        initialise(home)
    finally:
        os.umask(old)
    assert _mode(home.config_file) == 0o600
    assert _mode(home.token_file) == 0o600


def test_a_token_never_starts_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pasted as an argument, a leading "-" reads as an option (`claw config set K -x`)."""
    import secrets

    from claw.state import init

    drawn = iter(["-first", "-second", "good-token"])
    monkeypatch.setattr(secrets, "token_urlsafe", lambda n: next(drawn))
    assert init.new_token() == "good-token"
