"""A state directory that is a shared directory (such as /tmp) is refused, untouched."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tests.conftest import run_claw


@pytest.mark.parametrize("mode", [0o1777, 0o777, 0o1770])
def test_a_shared_directory_is_not_taken_over_as_home(tmp_path: Path, mode: int) -> None:
    # `claw --home /tmp ...` chmod-ed /tmp to 0700 (sticky bit and other users' access
    # gone) and filled it with claw's layout.
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(mode)
    for args in (("sessions", "list"), ("init",), ("send", "--local", "--model", "echo", "x")):
        r = run_claw("--home", str(shared), *args)
        assert r.returncode == 2, (args, r.stderr)
        assert "shared directory" in r.stderr
    assert stat.S_IMODE(shared.stat().st_mode) == mode
    assert list(shared.iterdir()) == []


def test_a_private_or_merely_readable_directory_is_still_used(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    mine.chmod(0o755)  # made by hand with mkdir: tightened, as before
    r = run_claw("--home", str(mine), "init")
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(mine.stat().st_mode) == 0o700
