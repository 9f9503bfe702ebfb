"""Atomic file replacement: content, mode, no temp files left, durability calls."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from claw.state import atomic
from claw.state.atomic import TMP_PREFIX, atomic_write_bytes, atomic_write_text


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(TMP_PREFIX))


def test_new_file_has_content_and_0600(tmp_path: Path) -> None:
    target = tmp_path / "f.txt"
    atomic_write_text(target, "héllo\n")
    assert target.read_text(encoding="utf-8") == "héllo\n"
    assert _mode(target) == 0o600
    assert _leftovers(tmp_path) == []


def test_replaces_existing_file_and_tightens_mode(tmp_path: Path) -> None:
    target = tmp_path / "f.bin"
    target.write_bytes(b"old contents, longer than the new ones")
    target.chmod(0o644)
    atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new"
    assert _mode(target) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]


def test_explicit_mode_is_honoured(tmp_path: Path) -> None:
    target = tmp_path / "f"
    atomic_write_bytes(target, b"x", mode=0o400)
    assert _mode(target) == 0o400


def test_temp_file_is_never_looser_than_target(tmp_path: Path, monkeypatch) -> None:
    """The temp file is created with the final mode, before any byte is written."""
    target = tmp_path / "secret"
    seen: list[int] = []
    real_fsync = os.fsync

    def spy_fsync(fd: int) -> None:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            seen.append(stat.S_IMODE(os.fstat(fd).st_mode))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy_fsync)
    atomic_write_bytes(target, b"token")
    assert seen == [0o600]


def test_directory_is_fsynced_after_rename(tmp_path: Path, monkeypatch) -> None:
    calls: list[tuple[Path, bool]] = []
    target = tmp_path / "f"

    def record(path: Path) -> None:
        # The rename must already have happened when the directory is synced.
        calls.append((Path(path), target.exists()))

    monkeypatch.setattr(atomic, "fsync_dir", record)
    atomic_write_text(target, "x")
    assert calls == [(tmp_path, True)]


def test_fsync_dir_really_syncs_a_directory(tmp_path: Path, monkeypatch) -> None:
    synced: list[bool] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    atomic.fsync_dir(tmp_path)
    assert synced == [True]


@pytest.mark.parametrize("fail_at", ["replace", "fsync", "write"])
def test_failure_mid_write_keeps_original_and_cleans_up(
    tmp_path: Path, monkeypatch, fail_at: str
) -> None:
    target = tmp_path / "config.toml"
    target.write_text("original = 1\n")
    dir_syncs: list[Path] = []
    monkeypatch.setattr(atomic, "fsync_dir", dir_syncs.append)

    class Boom(OSError):
        pass

    def boom(*args, **kwargs):
        raise Boom("injected failure")

    if fail_at == "replace":
        monkeypatch.setattr(os, "replace", boom)
    elif fail_at == "fsync":
        monkeypatch.setattr(os, "fsync", boom)
    else:
        real_fdopen = os.fdopen

        class FailingFile:
            def __init__(self, f):
                self._f = f

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self._f.close()

            def write(self, data):
                self._f.write(data[: len(data) // 2])  # half written, then the disk fails
                self._f.flush()
                raise Boom("disk full")

        monkeypatch.setattr(os, "fdopen", lambda fd, *a, **k: FailingFile(real_fdopen(fd, *a, **k)))

    with pytest.raises(Boom):
        atomic_write_text(target, "new = 2\n" * 1000)

    assert target.read_text() == "original = 1\n"
    assert _leftovers(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml"]
    assert dir_syncs == []  # nothing was renamed, so nothing to make durable


def test_keyboard_interrupt_mid_write_cleans_up(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "f"
    target.write_bytes(b"keep")

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupt)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(target, b"lost")
    assert target.read_bytes() == b"keep"
    assert _leftovers(tmp_path) == []


def test_failure_when_creating_new_file_leaves_nothing(tmp_path: Path, monkeypatch) -> None:
    def boom(*args, **kwargs):
        raise OSError("injected")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError, match="injected"):
        atomic_write_bytes(tmp_path / "new", b"data")
    assert list(tmp_path.iterdir()) == []


def test_many_rewrites_leave_only_the_target(tmp_path: Path) -> None:
    target = tmp_path / "f"
    for i in range(50):
        atomic_write_text(target, f"version {i}")
    assert target.read_text() == "version 49"
    assert [p.name for p in tmp_path.iterdir()] == ["f"]
