"""Shared fixtures: every test gets a fresh, private CLAW_HOME and no stray CLAW_* env."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

# Before anything imports litellm: never fetch its model cost map from the network.
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

import pytest
from typer.testing import CliRunner

from claw.state.home import Home
from claw.state.init import initialise

if TYPE_CHECKING:
    from tests.test_daemon import Daemons


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("CLAW_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CLAW_HOME", str(tmp_path / "claw-home"))
    monkeypatch.setenv("NO_COLOR", "1")


@pytest.fixture
def home_path(tmp_path: Path) -> Path:
    return tmp_path / "claw-home"


@pytest.fixture
def home(home_path: Path) -> Home:
    h = Home(home_path)
    initialise(h)
    return h


@pytest.fixture
def daemons(home: Home, tmp_path: Path) -> Iterator[Daemons]:
    """Starts real `claw serve` processes (tests.test_daemon.Daemons) and kills whatever
    is left when the test ends."""
    from tests.test_daemon import Daemons

    d = Daemons(home, tmp_path)
    try:
        yield d
    finally:
        d.kill_all()


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def cli(runner: CliRunner):
    """Invoke the real `claw` app in-process: cli("send", "--model", "echo", "hi")."""
    from claw.cli import app

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(app, list(args), input=input)

    return invoke


def run_claw(
    *args: str, env: dict[str, str] | None = None, input: str | None = None, timeout: float = 120
):
    """Run `python -m claw` as a real subprocess (for stdin/tty/exit-code behaviour)."""
    import subprocess

    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "claw", *args],
        input=input,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
    )
