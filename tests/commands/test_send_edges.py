"""`claw send` and `claw chat` at the edges a user hits: text that is not UTF-8, session
keys that name another agent."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.commands._util import messages, transcript_path


def _send_bytes(data: bytes, *args: str, env: dict[str, str] | None = None):
    return subprocess.run(
        [sys.executable, "-m", "claw", "send", "--local", "--model", "echo", *args],
        input=data,
        capture_output=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


@pytest.mark.parametrize("strict", [False, True], ids=["surrogateescape", "strict"])
def test_stdin_that_is_not_utf8_is_refused_cleanly(home_path: Path, strict: bool) -> None:
    # A Latin-1 file piped in: Python decodes stdin with surrogateescape (C/UTF-8 locales)
    # or strictly; either way the user gets a usage error, not an internal error.
    env = {"PYTHONIOENCODING": "utf-8:strict"} if strict else {}
    r = _send_bytes(b"caf\xe9 au lait\n", env=env)
    err = r.stderr.decode()
    assert r.returncode == 2, err
    assert "UTF-8" in err and "internal error" not in err
    assert not transcript_path(home_path).exists()


def test_argument_that_is_not_utf8_is_refused_cleanly(home_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "claw", "send", "--local", "--model", "echo", b"x\xff"],
        capture_output=True,
        timeout=120,
    )
    err = r.stderr.decode()
    assert r.returncode == 2, err
    assert "UTF-8" in err and "internal error" not in err


@pytest.mark.parametrize("strict", [False, True], ids=["surrogateescape", "strict"])
def test_chat_survives_a_line_that_is_not_utf8(home_path: Path, strict: bool) -> None:
    env = {"PYTHONIOENCODING": "utf-8:strict"} if strict else {}
    r = subprocess.run(
        [sys.executable, "-m", "claw", "chat", "--model", "echo"],
        input=b"caf\xe9\nstill here\n/exit\n",
        capture_output=True,
        env={**os.environ, **env},
        timeout=120,
    )
    assert r.returncode == 0, r.stderr.decode()
    assert b"still here" in r.stdout
    assert b"internal error" not in r.stderr
    assert [m["content"] for m in messages(home_path)] == ["still here", "still here"]
