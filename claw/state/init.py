"""Creating a state directory: layout, config, gateway token, the main agent's workspace."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path

from claw.state import config as config_mod
from claw.state import config_schema
from claw.state.atomic import atomic_write_text
from claw.state.home import Home
from claw.state.workspace import create_workspace


@dataclass
class InitReport:
    home: Path
    created: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)


def new_token() -> str:
    """A random gateway token (256 bits, URL-safe) that never starts with "-": pasted as
    an argument (`claw config set ... TOKEN`, `curl -H ...`), a leading dash reads as an
    option."""
    token = secrets.token_urlsafe(32)
    while token.startswith("-"):
        token = secrets.token_urlsafe(32)
    return token


def initialise(home: Home, *, force: bool = False) -> InitReport:
    """Create what is missing; with `force`, reset config, token and starter files."""
    report = InitReport(home.root)
    home.ensure()
    cfg = home.config_file
    if force or not cfg.exists():
        config_mod.write_file(cfg, _default_config())
        report.created.append(cfg)
    else:
        report.kept.append(cfg)
    if force or not home.token_file.exists():
        atomic_write_text(home.token_file, new_token() + "\n", mode=0o600)
        report.created.append(home.token_file)
    else:
        report.kept.append(home.token_file)
    written = create_workspace(home, "main", overwrite=force, kept=report.kept)
    report.created.extend(written)
    return report


def ensure_initialised(home: Home) -> Home:
    """What every command does first: a missing home is created, an existing one kept."""
    if not (home.config_file.exists() and home.token_file.exists()):
        initialise(home)
    return home


def _default_config() -> dict[str, object]:
    d = config_schema.defaults()
    return {
        "model": d["model"],
        "agents": {"main": {"dm_scope": "main"}},
        "gateway": d["gateway"],
    }
