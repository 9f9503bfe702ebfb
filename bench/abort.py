#!/usr/bin/env python3
"""Benchmark how fast a turn stops waiting for a silent model (claw.agent.pump).

    .venv/bin/python bench/abort.py            full run
    .venv/bin/python bench/abort.py --quick    smoke run

A model call with an abort flag runs in a helper thread that hands its pieces over a
queue; the turn waits in slices of POLL_S and checks its flag between them. Measured:
- the latency from setting the flag to the turn having stopped, while the "model" sleeps
  (before: the turn stayed blocked until the model's next piece);
- what the handoff costs per streamed piece, against iterating the stream directly.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Not bench/ itself: bench/queue.py would shadow the stdlib's queue.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from claw.agent.pump import POLL_S, Stopped, pumped  # noqa: E402


def silent_model(first: int = 3):
    def produce():
        yield from range(first)
        time.sleep(30)  # the model goes quiet
        yield -1

    return produce


def abort_latency_ms() -> float:
    flag = threading.Event()
    stopped_at = 0.0
    set_at = 0.0

    def abort_soon() -> None:
        nonlocal set_at
        time.sleep(0.1 + random.random() * POLL_S)  # any phase of the turn's wait
        set_at = time.perf_counter()
        flag.set()

    threading.Thread(target=abort_soon, daemon=True).start()
    try:
        for _ in pumped(silent_model(), flag):
            pass
    except Stopped:
        stopped_at = time.perf_counter()
    return (stopped_at - set_at) * 1000


def per_piece_us(pieces: int, *, pump: bool) -> float:
    items = [{"choices": [{"delta": {"content": "word "}}]}] * pieces
    flag = threading.Event()
    start = time.perf_counter()
    source = pumped(lambda: iter(items), flag) if pump else iter(items)
    for _ in source:
        pass
    return (time.perf_counter() - start) / pieces * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples")
    quick = parser.parse_args().quick
    runs, pieces = (5, 2_000) if quick else (20, 20_000)
    latencies = [abort_latency_ms() for _ in range(runs)]
    direct = statistics.median(per_piece_us(pieces, pump=False) for _ in range(5))
    pumped_us = statistics.median(per_piece_us(pieces, pump=True) for _ in range(5))
    print(
        f"claw abort benchmark ({'quick' if quick else 'full'}; python "
        f"{sys.version.split()[0]}; POLL_S {POLL_S * 1000:.0f} ms)"
    )
    print(
        f"abort → stopped, model silent: median {statistics.median(latencies):.1f} ms, "
        f"max {max(latencies):.1f} ms (n={runs}; before: until the model's next piece)"
    )
    print(
        f"per streamed piece: direct {direct:.2f} µs, through the helper thread "
        f"{pumped_us:.2f} µs (+{pumped_us - direct:.2f} µs; n={pieces:,})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
