"""Where the state directory is and what it holds (DESIGN §2).

`Home` is a small value object naming every path; `ensure()` creates what is missing with
0700 directories. Every command goes through `Home.resolve()`, so `--home`, `CLAW_HOME` and
`~/.claw` mean the same thing everywhere.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from claw.errors import UsageError
from claw.state.names import validate_agent_id

DIR_MODE = 0o700
FILE_MODE = 0o600

SUBDIRS = (
    "agents",
    "sessions",
    "queue",
    "inbox",
    "tasks",
    "cron",
    "memory",
    "heartbeat",
    "locks",
    "logs",
)


@dataclass(frozen=True)
class Home:
    root: Path

    @classmethod
    def resolve(cls, explicit: str | os.PathLike[str] | None = None) -> Home:
        """`--home` beats `CLAW_HOME` beats `~/.claw`."""
        raw = explicit or os.environ.get("CLAW_HOME") or "~/.claw"
        return cls(Path(raw).expanduser().absolute())

    @property
    def config_file(self) -> Path:
        return self.root / "config.toml"

    @property
    def token_file(self) -> Path:
        return self.root / "gateway.token"

    @property
    def sessions_dir(self) -> Path:
        return self.root / "sessions"

    @property
    def locks_dir(self) -> Path:
        return self.root / "locks"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    def agent_dir(self, agent_id: str) -> Path:
        return self.root / "agents" / validate_agent_id(agent_id)

    def exists(self) -> bool:
        return self.root.is_dir()

    def ensure(self) -> Home:
        """Create the layout (idempotent). Directories are private to the user."""
        _refuse_shared(self.root)
        make_private_dir(self.root)
        for name in SUBDIRS:
            make_private_dir(self.root / name)
        return self


def _refuse_shared(root: Path) -> None:
    """A world-writable or sticky directory (/tmp, a shared drop folder) is other people's
    too: making it 0700 (as the layout requires) would lock them out and drop the sticky
    bit, and private state does not belong there anyway."""
    try:
        mode = root.stat().st_mode
    except FileNotFoundError:
        return
    if mode & (stat.S_ISVTX | stat.S_IWOTH):
        raise UsageError(
            f"{root} is a shared directory (mode {stat.S_IMODE(mode):o}): claw will not make "
            "it private to you or keep its state there",
            hint=f"use a directory of its own, e.g. --home {root / 'claw'}",
        )


def make_private_dir(path: Path) -> None:
    """mkdir -p with mode 0700 on every directory it creates, and on `path` itself.
    (Path.mkdir(parents=True) would give the missing parents the umask's mode, e.g. 0755.)"""
    missing = []
    parent = path
    while not parent.exists():
        missing.append(parent)
        parent = parent.parent
    for directory in reversed(missing):
        directory.mkdir(mode=DIR_MODE, exist_ok=True)
        directory.chmod(DIR_MODE)  # mkdir's mode is masked by the umask
    if (path.stat().st_mode & 0o777) != DIR_MODE:
        path.chmod(DIR_MODE)
