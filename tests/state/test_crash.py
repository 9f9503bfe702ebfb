"""A real writer process killed with SIGKILL mid-stream: nothing acknowledged is lost,
at most the one record being written is torn, and the file stays appendable."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from claw.state.jsonl import append_records, read_all

# Appends records numbered from argv[2] forever; after each append returns, writes the
# number to the ack file (argv[3]). Sizes vary up to ~2 MB so that a kill can land in the
# middle of a write() as well as between writes.
WRITER = r"""
import os, random, sys
from pathlib import Path
from claw.state.jsonl import append_records

path, n, ack = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
fd = os.open(ack, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
rnd = random.Random(n)
while True:
    size = rnd.choice((10, 1_000, 50_000, 2_000_000))
    batch = [{"n": n + i, "pad": "y" * size} for i in range(rnd.choice((1, 1, 3)))]
    append_records(path, batch)
    os.write(fd, ("%d\n" % (n + len(batch) - 1)).encode())
    n += len(batch)
"""

ROOT = Path(__file__).resolve().parents[2]


def _acked(ack: Path) -> list[int]:
    if not ack.exists():
        return []
    return [int(x) for x in ack.read_text().split()]


def _line_count(path: Path) -> int:
    return path.read_bytes().count(b"\n") + (0 if path.read_bytes().endswith(b"\n") else 1)


def test_sigkilled_writer_never_loses_or_garbles_records(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    ack = tmp_path / "acks"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    rnd = random.Random(1234)
    next_n = 0
    bad_so_far: list[int] = []
    torn = 0

    for round_ in range(5):
        ack.unlink(missing_ok=True)
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), str(next_n), str(ack)], env=env
        )
        try:
            deadline = time.monotonic() + 30
            while len(_acked(ack)) < 3:  # some records are surely on disk
                assert proc.poll() is None, "writer died on its own"
                assert time.monotonic() < deadline, "writer made no progress"
                time.sleep(0.005)
            time.sleep(rnd.uniform(0, 0.03))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL

        res = read_all(path)
        nums = [r["n"] for r in res.records]
        # Every intact record, in order, with nothing missing or duplicated.
        assert nums == list(range(len(nums)))
        assert all(len(r["pad"]) in (10, 1_000, 50_000, 2_000_000) for r in res.records)
        # Everything the writer saw acknowledged survived its death.
        assert max(_acked(ack)) < len(nums), f"round {round_}: an acknowledged record is lost"
        # At most one new bad line, and only as the very last line of the file.
        new_bad = [b for b in res.bad_lines if b not in bad_so_far]
        assert len(new_bad) <= 1
        if new_bad:
            torn += 1
            assert new_bad == [_line_count(path)]
            assert not path.read_bytes().endswith(b"\n")
        bad_so_far = res.bad_lines
        next_n = len(nums)

    # The file is still appendable: a new record lands intact after any torn fragment.
    append_records(path, [{"n": next_n, "pad": "final"}])
    res = read_all(path)
    assert [r["n"] for r in res.records] == list(range(next_n + 1))
    assert res.records[-1]["pad"] == "final"
    assert res.bad_lines == bad_so_far  # a torn tail is now a bad line in the middle
    assert path.read_bytes().endswith(b"\n")
    print(f"{torn} torn write(s) in 5 kills; {next_n} records")
