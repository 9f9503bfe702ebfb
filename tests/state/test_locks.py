"""The flock-based lock: exclusion across objects and processes, timeouts, re-entry."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from claw.state.locks import FileLock, Timeout, file_lock

HOLD = """
import sys, time
from claw.state.locks import file_lock
lock = file_lock(__import__("pathlib").Path(sys.argv[1]))
lock.acquire()
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


def test_two_objects_on_one_path_exclude_each_other(tmp_path: Path) -> None:
    a, b = file_lock(tmp_path / "x.lock"), file_lock(tmp_path / "x.lock", timeout=0)
    with a, pytest.raises(Timeout):
        b.acquire()
    with b:
        assert b.is_locked
    assert not a.is_locked and not b.is_locked


def test_created_private(tmp_path: Path) -> None:
    with file_lock(tmp_path / "x.lock"):
        pass
    assert (tmp_path / "x.lock").stat().st_mode & 0o777 == 0o600


def test_reentrant_and_released_from_another_thread(tmp_path: Path) -> None:
    lock = file_lock(tmp_path / "x.lock")
    lock.acquire()
    lock.acquire()
    lock.release()
    assert lock.is_locked
    t = threading.Thread(target=lock.release)
    t.start()
    t.join()
    assert not lock.is_locked
    lock.release()  # releasing an unheld lock is a no-op
    with FileLock(tmp_path / "x.lock", timeout=0):
        pass


def test_timeout_waits_then_gives_up_against_another_process(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path), "30"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        t = time.monotonic()
        with pytest.raises(Timeout) as info:
            file_lock(path).acquire(timeout=0.2)
        assert 0.2 <= time.monotonic() - t < 2
        assert str(path) in str(info.value)
    finally:
        proc.kill()
        proc.wait()
    with file_lock(path, timeout=5):  # a killed holder's lock is gone with its process
        pass


def test_blocking_acquire_wakes_when_the_holder_exits(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path), "0.3"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        t = time.monotonic()
        with file_lock(path):  # timeout -1: waits in flock, no polling
            waited = time.monotonic() - t
        assert 0.1 < waited < 5
    finally:
        proc.kill()
        proc.wait()
