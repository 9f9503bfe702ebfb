"""Many processes appending to one session at once: nothing lost, torn, duplicated or
reordered, and the index agrees with the transcript."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from claw.state import jsonl
from claw.state.home import Home
from claw.state.sessions import SessionStore

ROOT = Path(__file__).resolve().parents[2]
KEY = "agent:main:main"

# argv: home, process number, appends, key, barrier dir. Every process builds its own
# store, then waits at the barrier so that all of them start appending together (and
# open the index together: it does not exist before the first append).
WORKER = r"""
import os, sys, time
from pathlib import Path
from claw.state import transcript
from claw.state.home import Home
from claw.state.sessions import SessionStore

home, proc, n, key = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
barrier = Path(sys.argv[5])
store = SessionStore(Home(Path(home)))
(barrier / f"ready-{proc}").touch()
while not (barrier / "go").exists():
    time.sleep(0.001)
for i in range(n):
    store.append(key, [transcript.message("user", f"{proc}:{i}")])
store.close()
"""


def run_workers(
    home: Home, tmp_path: Path, procs: int, n: int, key: str = KEY, *, check: bool = True
) -> list[str]:
    """Run the workers together; returns the stderr of those that failed."""
    barrier = tmp_path / f"barrier-{time.monotonic_ns()}"
    barrier.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(home.root), str(p), str(n), key, str(barrier)],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for p in range(procs)
    ]
    failures = []
    try:
        deadline = time.monotonic() + 60
        while len(list(barrier.glob("ready-*"))) < procs:
            assert time.monotonic() < deadline, "workers did not start"
            assert all(c.poll() is None for c in children), "a worker died while starting"
            time.sleep(0.005)
        (barrier / "go").touch()
        for c in children:
            _, err = c.communicate(timeout=120)
            if c.returncode != 0:
                failures.append(err.strip().splitlines()[-1])
                assert not check, err
    finally:
        for c in children:
            if c.poll() is None:
                c.kill()
                c.wait()
    return failures


def check_transcript(store: SessionStore, key: str, procs: int, n: int) -> None:
    path = store.path(key)
    res = jsonl.read_all(path)
    assert res.bad_lines == []
    assert path.read_bytes().count(b"\n") == len(res.records)  # one line per record
    headers = [r for r in res.records if r["type"] == "session"]
    assert len(headers) == 1 and res.records[0] is headers[0]
    msgs = [r for r in res.records if r["type"] == "message"]
    assert len(msgs) == procs * n
    assert len({m["id"] for m in msgs}) == procs * n
    per_proc: dict[int, list[int]] = defaultdict(list)
    for m in msgs:
        assert m["role"] == "user"
        p, i = m["content"].split(":")
        per_proc[int(p)].append(int(i))
    assert sorted(per_proc) == list(range(procs))
    for p, seq in per_proc.items():
        assert seq == list(range(n)), f"process {p}'s records are out of order or missing"


def _eight_by_two_hundred(home: Home, tmp_path: Path) -> None:
    procs, n = 8, 200
    t0 = time.monotonic()
    run_workers(home, tmp_path, procs, n)
    elapsed = time.monotonic() - t0

    store = SessionStore(home)
    check_transcript(store, KEY, procs, n)
    (row,) = store.list()
    assert row.key == KEY
    assert row.message_count == procs * n == 1600
    assert store.tail(KEY, 1).messages[0]["content"] == row.preview
    # Rebuilding the index from the transcript gives the same figure.
    store.reindex()
    assert store.get(KEY).message_count == 1600
    print(f"1600 appends by 8 processes in {elapsed:.1f}s")


def test_8_processes_x_200_appends_to_one_session(home: Home, tmp_path: Path) -> None:
    """The append path: the index already exists (as after any earlier command)."""
    SessionStore(home).list()
    assert (home.sessions_dir / "index.sqlite").exists()
    _eight_by_two_hundred(home, tmp_path)


def test_8_processes_x_200_appends_on_a_cold_start(home: Home, tmp_path: Path) -> None:
    """Same, on a home where no command has run yet: the 8 processes also race to create
    the index. Regression (was intermittent, ~1 run in 2): a worker dies with sqlite3
    "database is locked" from PRAGMA journal_mode=WAL, or message_count ends at 1601 (see
    test_index_count_exact_when_processes_race_to_create_it)."""
    assert not (home.sessions_dir / "index.sqlite").exists()
    _eight_by_two_hundred(home, tmp_path)


def test_processes_appending_to_different_sessions(home: Home, tmp_path: Path) -> None:
    # Two groups of processes on two sessions, started together.
    store = SessionStore(home)
    store.append("agent:main:other", [])  # the index exists before the workers start
    keys = ["agent:main:a", "agent:main:b"]
    barrier = tmp_path / "b"
    barrier.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(home.root), str(p), "50", keys[p % 2], str(barrier)],
            env=env,
        )
        for p in range(4)
    ]
    deadline = time.monotonic() + 60
    while len(list(barrier.glob("ready-*"))) < 4 and time.monotonic() < deadline:
        time.sleep(0.005)
    (barrier / "go").touch()
    for c in children:
        assert c.wait(timeout=120) == 0
    counts = {r.key: r.message_count for r in store.list()}
    assert counts == {"agent:main:a": 100, "agent:main:b": 100, "agent:main:other": 0}
    for key, mine in zip(keys, ([0, 2], [1, 3]), strict=True):
        msgs = store.read(key).messages
        assert len(msgs) == 100
        for p in mine:
            assert [
                int(m["content"].split(":")[1]) for m in msgs if m["content"].startswith(f"{p}:")
            ] == list(range(50))


INDEX_RACE_ROUNDS = 8


def test_index_count_exact_when_processes_race_to_create_it(tmp_path: Path) -> None:
    """Processes that open a new index together must neither fail nor miscount.

    Regression 1: SessionIndex.__init__ runs PRAGMA journal_mode=WAL while another process is
    setting up the same new file; SQLite answers SQLITE_BUSY at once (no busy wait), so
    the append dies with sqlite3.OperationalError "database is locked".
    Regression 2: SessionIndex sets created=True whenever index.sqlite did not exist when it
    looked, even if another process created the table; SessionStore.index then rebuilds
    the index from the transcripts outside the session locks, counting a message another
    process has written but not yet recorded, which that process then adds again: the
    message_count ends one (or more) too high.
    """
    problems = []
    for r in range(INDEX_RACE_ROUNDS):
        home = Home(tmp_path / f"h{r}")
        home.ensure()
        failed = run_workers(home, tmp_path, 8, 3, check=False)
        problems += [f"round {r}: worker failed: {f}" for f in failed]
        store = SessionStore(home)
        written = len(store.read(KEY).messages)
        count = store.get(KEY).message_count
        if count != written:
            problems.append(f"round {r}: index says {count} messages, transcript has {written}")
        store.close()
    assert problems == []
