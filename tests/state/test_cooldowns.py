"""Auth-profile cooldowns: the schedule, Retry-After, success, damage, and above all that
every process sharing the state directory sees the same cooldowns."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from claw.state import cooldowns as cd_mod
from claw.state.cooldowns import MAX_RETRY_AFTER, Cooldown, CooldownStore
from claw.state.home import Home

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_800_000_000.0


def python(code: str, *args: str, timeout: float = 30) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_schedule_grows_per_consecutive_failure_then_caps(home: Home) -> None:
    store = CooldownStore(home)
    waits = []
    t = T0
    for _ in range(6):
        cd = store.mark_failure("openai", "work", "rate_limit", now=t)
        waits.append(cd.until - t)
        t = cd.until + 1  # each failure comes after the previous cooldown ended
    assert waits == [60, 300, 1500, 3600, 3600, 3600]
    assert cd.failures == 6


def test_get_is_none_once_expired_but_the_count_survives(home: Home) -> None:
    store = CooldownStore(home)
    store.mark_failure("openai", "work", "auth", error="401 invalid key", now=T0)
    got = store.get("openai", "work", now=T0 + 59)
    assert got == Cooldown("openai", "work", "auth", 1, T0 + 60, "401 invalid key")
    assert got.remaining(T0 + 59) == 1
    assert store.get("openai", "work", now=T0 + 60) is None
    assert store.get("openai", "home", now=T0) is None
    assert store.get("anthropic", "work", now=T0) is None
    again = store.mark_failure("openai", "work", "auth", now=T0 + 100)
    assert again.failures == 2 and again.until == T0 + 100 + 300


def test_a_failure_long_after_the_last_one_starts_afresh(home: Home) -> None:
    store = CooldownStore(home)
    store.mark_failure("openai", "work", "timeout", now=T0)
    store.mark_failure("openai", "work", "timeout", now=T0 + 61)
    later = T0 + 2 * 86400
    assert store.mark_failure("openai", "work", "timeout", now=later).failures == 1


def test_retry_after_longer_than_the_schedule_wins(home: Home) -> None:
    store = CooldownStore(home)
    assert store.mark_failure("p", "a", "rate_limit", retry_after=7200, now=T0).until == T0 + 7200
    # Shorter than the schedule: the schedule stands.
    assert store.mark_failure("p", "b", "rate_limit", retry_after=2, now=T0).until == T0 + 60
    # Absurd (a bogus date years away): capped.
    cd = store.mark_failure("p", "c", "rate_limit", retry_after=1e12, now=T0)
    assert cd.until == T0 + MAX_RETRY_AFTER
    for bad in (float("nan"), float("inf"), -5.0):
        assert store.mark_failure("p", f"x{bad}", "rate_limit", retry_after=bad, now=T0).until == (
            T0 + 60
        )


def test_clear_on_success_resets_the_count(home: Home) -> None:
    store = CooldownStore(home)
    store.mark_failure("openai", "work", "rate_limit", now=T0)
    store.mark_failure("openai", "work", "rate_limit", now=T0 + 61)
    assert store.clear("openai", "work") is True
    assert store.get("openai", "work", now=T0 + 62) is None
    assert store.mark_failure("openai", "work", "rate_limit", now=T0 + 63).failures == 1
    data = json.loads(store.path.read_text())
    assert list(data["cooldowns"]) == ["openai"]


def test_clear_with_nothing_stored_writes_nothing(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = CooldownStore(home)

    def boom(*a: object, **k: object) -> None:
        raise AssertionError("clear() wrote although nothing was stored")

    monkeypatch.setattr(cd_mod, "atomic_write_text", boom)
    assert store.clear("openai", "work") is False
    assert not store.path.exists()
    monkeypatch.undo()
    store.mark_failure("openai", "other", "auth", now=T0)
    monkeypatch.setattr(cd_mod, "atomic_write_text", boom)
    assert store.clear("openai", "work") is False
    assert store.clear("anthropic", "other") is False


def test_all_lists_active_cooldowns_soonest_first(home: Home) -> None:
    store = CooldownStore(home)
    store.mark_failure("openai", "work", "rate_limit", retry_after=600, now=T0)
    store.mark_failure("anthropic", "main", "auth", now=T0)
    store.mark_failure("openai", "home", "timeout", now=T0 - 3000)  # long expired
    active = store.all(now=T0 + 1)
    assert [(c.provider, c.profile) for c in active] == [("anthropic", "main"), ("openai", "work")]
    assert store.all(now=T0 + 601) == []


def test_file_location_and_permissions(home: Home) -> None:
    store = CooldownStore(home)
    store.mark_failure("openai", "work", "auth", error="x" * 5000, now=T0)
    assert store.path == home.root / "auth" / "cooldowns.json"
    assert (store.path.parent.stat().st_mode & 0o777) == 0o700
    assert (store.path.stat().st_mode & 0o777) == 0o600
    assert (store.lock_path.stat().st_mode & 0o777) == 0o600
    assert len(store.get("openai", "work", now=T0).last_error) == cd_mod.MAX_ERROR_CHARS
    assert not [p for p in store.path.parent.iterdir() if p.name.startswith(".tmp-")]


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"", b"[1, 2]", b'{"cooldowns": [1]}', b'{"cooldowns": {"openai": 3}}', b"\xff"],
)
def test_corrupt_file_reads_as_empty_and_is_rewritten(
    home: Home, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    store = CooldownStore(home)
    store.path.parent.mkdir(mode=0o700, exist_ok=True)
    store.path.write_bytes(content)
    with caplog.at_level("WARNING", logger="claw.state.cooldowns"):
        assert store.get("openai", "work") is None
        assert store.all() == []
        assert store.clear("openai", "work") is False
    assert "corrupt" in caplog.text
    cd = store.mark_failure("openai", "work", "auth", now=T0)
    assert store.get("openai", "work", now=T0) == cd
    assert json.loads(store.path.read_text())["version"] == 1


def test_malformed_entries_are_ignored_and_dropped(home: Home) -> None:
    store = CooldownStore(home)
    store.path.parent.mkdir(mode=0o700, exist_ok=True)
    good = {"reason": "auth", "failures": 1, "until": T0 + 60, "last_error": ""}
    doc = {
        "version": 1,
        "cooldowns": {
            "openai": {
                "ok": good,
                "s": {**good, "until": "soon"},
                "f": {**good, "failures": True},
                "z": {**good, "failures": 0},
                "n": None,
            }
        },
    }
    store.path.write_text(json.dumps(doc))
    assert [c.profile for c in store.all(now=T0)] == ["ok"]
    store.mark_failure("openai", "new", "auth", now=T0)
    assert set(json.loads(store.path.read_text())["cooldowns"]["openai"]) == {"ok", "new"}


READ = r"""
import json, sys
from dataclasses import asdict
from pathlib import Path
from claw.state.cooldowns import CooldownStore
from claw.state.home import Home
store = CooldownStore(Home(Path(sys.argv[1])))
now = float(sys.argv[2])
got = store.get("openai", "work", now=now)
print(json.dumps({"get": got and asdict(got), "all": [asdict(c) for c in store.all(now=now)]}))
"""

MARK = r"""
import sys
from pathlib import Path
from claw.state.cooldowns import CooldownStore
from claw.state.home import Home
store = CooldownStore(Home(Path(sys.argv[1])))
now, times = float(sys.argv[2]), int(sys.argv[3])
for _ in range(times):
    store.mark_failure("openai", "work", "rate_limit", retry_after=90, error="429", now=now)
"""


def test_a_cooldown_set_here_is_seen_by_another_process(home: Home) -> None:
    CooldownStore(home).mark_failure("openai", "work", "auth", error="401", now=T0)
    seen = json.loads(python(READ, str(home.root), str(T0 + 10)))
    assert seen["get"] == {
        "provider": "openai",
        "profile": "work",
        "reason": "auth",
        "failures": 1,
        "until": T0 + 60,
        "last_error": "401",
    }
    assert len(seen["all"]) == 1
    gone = json.loads(python(READ, str(home.root), str(T0 + 60)))
    assert gone == {"get": None, "all": []}


def test_a_cooldown_set_by_another_process_is_seen_here(home: Home) -> None:
    python(MARK, str(home.root), str(T0), "1")
    got = CooldownStore(home).get("openai", "work", now=T0 + 1)
    assert got is not None and got.failures == 1 and got.until == T0 + 90
    assert got.reason == "rate_limit" and got.last_error == "429"


WORKER = r"""
import sys, time
from pathlib import Path
from claw.state.cooldowns import CooldownStore
from claw.state.home import Home
home, proc, n, barrier = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
store = CooldownStore(Home(Path(home)))
(barrier / f"ready-{proc}").touch()
while not (barrier / "go").exists():
    time.sleep(0.001)
for i in range(n):
    store.mark_failure("openai", "shared", "rate_limit", error=f"{proc}:{i}")
    store.mark_failure("openai", f"own-{proc}", "timeout")
"""


def test_concurrent_failures_from_four_processes_are_all_counted(
    home: Home, tmp_path: Path
) -> None:
    procs, n = 4, 10
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(home.root), str(p), str(n), str(barrier)],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for p in range(procs)
    ]
    try:
        deadline = time.monotonic() + 30
        while len(list(barrier.glob("ready-*"))) < procs:
            assert time.monotonic() < deadline, "workers did not start"
            assert all(c.poll() is None for c in children), "a worker died while starting"
            time.sleep(0.005)
        (barrier / "go").touch()
        for c in children:
            _, err = c.communicate(timeout=60)
            assert c.returncode == 0, err
    finally:
        for c in children:
            if c.poll() is None:
                c.kill()
                c.wait()
    store = CooldownStore(home)
    json.loads(store.path.read_text())  # valid JSON, not a torn or interleaved write
    shared = store.get("openai", "shared")
    assert shared is not None and shared.failures == procs * n
    for p in range(procs):
        own = store.get("openai", f"own-{p}")
        assert own is not None and own.failures == n
    assert not [p for p in store.path.parent.iterdir() if p.name.startswith(".tmp-")]
