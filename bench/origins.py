#!/usr/bin/env python3
"""Benchmark what exactly-once scheduled sends cost (claw.delivery.origins).

    .venv/bin/python bench/origins.py            full run
    .venv/bin/python bench/origins.py --quick    smoke run

Per scheduled send, the sender asks `queued(home, origin)` before its turn; per delivered
scheduled message, the deliverer appends one fsynced record to `queue/origins.jsonl`.
Measured with the log holding nothing, a week of hourly sends (168 records) and a week of
per-minute sends (10,080 records, the most a busy setup keeps); the check is timed for an
origin that is absent (the usual case: run the turn) and one that is in the log (a retry
after a crash). Everything happens in a temporary CLAW_HOME, removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Not bench/ itself: bench/queue.py would shadow the stdlib's queue.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from claw.delivery.origins import OriginLog, origin, queue_id, queued  # noqa: E402
from claw.delivery.queue import QueueStore  # noqa: E402
from claw.state.home import Home  # noqa: E402
from claw.state.init import initialise  # noqa: E402
from claw.state.jsonl import dumps  # noqa: E402

T0 = time.time()


def median_us(fn, n: int) -> float:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e6


def fill(log: OriginLog, count: int) -> None:
    """`count` records, one a minute back from now, written at once (no fsync each)."""
    recs = []
    for i in range(count):
        o = origin("cron", f"job{i % 7}", T0 - 60 * (count - i))
        recs.append({"origin": o, "id": queue_id(o), "outcome": "delivered", "at": T0 - i})
    log.path.write_bytes(b"".join(dumps(r) for r in recs))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples")
    n = 50 if parser.parse_args().quick else 500
    tmp = Path(tempfile.mkdtemp(prefix="claw-bench-origins-"))
    try:
        home = Home(tmp / "home")
        initialise(home)
        log = OriginLog(QueueStore(home).dir)
        rows = []
        for count in (0, 168, 10_080):
            fill(log, count)
            absent = origin("cron", "new", T0 + 3600)
            present = origin("cron", "job0", T0 - 60 * count) if count else absent
            miss = median_us(lambda a=absent: queued(home, a), n)
            hit = median_us(lambda p=present: queued(home, p), n) if count else None
            size = os.path.getsize(log.path) if log.path.exists() else 0
            rows.append((count, size, miss, hit))
        # High-water marks of pruned records: one per cron job, agent and task ever sent
        # (10,000: years of reminders). A new occurrence's check reads them after the log.
        log.path.write_bytes(b"")  # the log empty: these rows time the marks alone
        marks = []
        for sources in (100, 10_000):
            all_marks = {f"reminder:t{i}": int(T0 * 1000) for i in range(sources)}
            log.marks_path.write_text(json.dumps(all_marks, separators=(",", ":")))
            absent = origin("reminder", "new", T0 + 3600)
            old = origin("reminder", "t7", T0 - 86400)  # pruned: known by its mark
            marks.append(
                (
                    sources,
                    os.path.getsize(log.marks_path),
                    median_us(lambda a=absent: queued(home, a), n),
                    median_us(lambda o=old: queued(home, o), n),
                )
            )
        log.marks_path.unlink()
        log.path.write_bytes(b"")
        record = median_us(
            lambda: log.record(origin("cron", "r", time.time()), "x", "delivered"), n // 5
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(
        f"claw origins benchmark ({'quick' if n == 50 else 'full'}; n={n}; python "
        f"{sys.version.split()[0]})"
    )
    print(
        f"{'records in the log':<20}{'log size':>12}{'queued(): absent':>20}"
        f"{'queued(): in log':>20}"
    )
    for count, size, miss, hit in rows:
        hit_s = f"{hit:,.1f} µs" if hit is not None else "—"
        print(f"{count:<20,}{size / 1024:>9,.1f} KB{miss:>17,.1f} µs{hit_s:>20}")
    print(
        f"{'sources with a mark':<20}{'marks size':>12}{'queued(): absent':>20}"
        f"{'queued(): by mark':>20}"
    )
    for sources, size, miss, hit in marks:
        print(f"{sources:<20,}{size / 1024:>9,.1f} KB{miss:>17,.1f} µs{hit:>17,.1f} µs")
    print(f"record() one delivered origin (fsynced append): median {record / 1000:,.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
