#!/usr/bin/env python3
"""Benchmark the session store and the CLI paths that must stay fast as state grows.

    .venv/bin/python bench/sessions.py            full run (100,000 sessions; a few minutes)
    .venv/bin/python bench/sessions.py --quick    smoke run with small sizes (seconds)

Rows (see bench/README.md for what each measures and why):
  1. SessionStore.append of one message (durable, index updated) with 10 / 1,000 /
     100,000 sessions in the store; the ratio largest/smallest median must stay <= 1.3.
     Plus, for information, how long `store.reindex()` of the largest store took.
  2. `claw sessions list --limit 50` with 100,000 sessions, as a real subprocess.
  3. `store.tail(key, 50)` of a 100,000-message transcript.
  4. `claw --help` as a real subprocess, and whether it imported litellm.

Everything happens in a temporary directory, removed at the end (also on Ctrl-C).
Exit status: 0 if every row passed, 1 if any failed.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._report import Row, fmt_s, new_home, report  # noqa: E402
from claw.state import jsonl, transcript  # noqa: E402
from claw.state.sessions import SessionStore  # noqa: E402


@dataclass(frozen=True)
class Sizes:
    stores: tuple[int, ...]  # sessions in each store for row 1
    appends: int  # timed appends per store (row 1)
    warmup: int  # untimed appends per store before timing
    spread: int  # the appends go round-robin over this many sessions
    list_runs: int
    tail_messages: int
    tail_runs: int
    help_runs: int


FULL = Sizes(
    stores=(10, 1_000, 100_000),
    appends=400,
    warmup=40,
    spread=5,
    list_runs=5,
    tail_messages=100_000,
    tail_runs=20,
    help_runs=10,
)
QUICK = Sizes(
    stores=(10, 100, 2_000),
    appends=60,
    warmup=10,
    spread=3,
    list_runs=3,
    tail_messages=5_000,
    tail_runs=10,
    help_runs=3,
)

APPEND_RATIO_MAX = 1.3
LIST_MAX_S = 0.5
TAIL_MAX_S = 0.020
HELP_MAX_S = 0.3


# -- helpers ---------------------------------------------------------------------------


def p90(samples: list[float]) -> float:
    return sorted(samples)[int(0.9 * (len(samples) - 1))]


def progress(msg: str) -> None:
    print(f"  … {msg}", file=sys.stderr, flush=True)


def session_key(i: int) -> str:
    return f"agent:main:direct:peer{i:06d}"


def populate(store: SessionStore, n: int) -> None:
    """n sessions written straight in the store's format (header + two messages), no fsync."""
    for i in range(n):
        key = session_key(i)
        records = [
            transcript.header(key, "main"),
            transcript.message("user", f"hello from peer {i}"),
            transcript.message("assistant", f"hi peer {i}, how can I help?", model="echo"),
        ]
        with open(store.path(key), "wb") as f:
            f.write(b"".join(jsonl.dumps(r) for r in records))


def claw_cmd() -> list[str]:
    script = Path(sys.executable).parent / "claw"
    return [str(script)] if script.exists() else [sys.executable, "-m", "claw"]


def claw_env(home: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAW_")}
    env["NO_COLOR"] = "1"
    if home is not None:
        env["CLAW_HOME"] = str(home)
    return env


def time_subprocess(args: list[str], env: dict[str, str], runs: int) -> list[float]:
    samples = []
    subprocess.run(args, env=env, capture_output=True, check=True)  # warm the page cache
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(args, env=env, capture_output=True, check=True)
        samples.append(time.perf_counter() - t0)
    return samples


def imports_litellm(argv: list[str], env: dict[str, str]) -> bool:
    """Run the CLI's main() with argv in a fresh interpreter; did it import litellm?"""
    code = (
        "import sys\n"
        f"sys.argv = {['claw', *argv]!r}\n"
        "from claw.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "sys.stderr.write('LITELLM=%s\\n' % ('litellm' in sys.modules))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return "LITELLM=True" in proc.stderr


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter_ns()
    fn()
    return (time.perf_counter_ns() - t0) / 1e9


# -- the rows --------------------------------------------------------------------------


def bench_append(base: Path, sizes: Sizes) -> tuple[list[Row], SessionStore]:
    stores: dict[int, SessionStore] = {}
    reindex_s = 0.0
    for n in sizes.stores:
        progress(f"creating a store with {n:,} sessions")
        store = SessionStore(new_home(base, f"append-{n}"))
        populate(store, n)
        t0 = time.perf_counter()
        indexed = store.reindex()
        reindex_s = time.perf_counter() - t0  # the last (largest) store's is reported
        assert indexed == n, (indexed, n)
        stores[n] = store

    # The setup wrote the transcripts without fsync; flush them now, or the kernel's
    # writeback of those files lands in the middle of the timed fsyncs (and hits the
    # biggest store hardest, which made the ratio look like claw's doing).
    progress("flushing the setup's writes to disk (sync)")
    os.sync()

    targets = {
        n: [session_key(i * (n // sizes.spread)) for i in range(sizes.spread)] for n in sizes.stores
    }
    counter = 0

    def append(n: int) -> float:
        nonlocal counter
        counter += 1
        key = targets[n][counter % sizes.spread]
        rec = [transcript.message("user", f"benchmark message {counter}")]
        return timed(lambda: stores[n].append(key, rec))

    progress(f"warming up ({sizes.warmup} appends per store)")
    for _ in range(sizes.warmup):
        for n in sizes.stores:
            append(n)
    progress(f"timing {sizes.appends} appends per store, interleaved")
    samples: dict[int, list[float]] = {n: [] for n in sizes.stores}
    order = list(sizes.stores)
    rng = random.Random(42)
    gc.collect()
    gc.disable()
    try:
        for _ in range(sizes.appends):
            rng.shuffle(order)  # no store always goes first (or last) in a round
            for n in order:
                samples[n].append(append(n))
    finally:
        gc.enable()

    medians = {n: statistics.median(s) for n, s in samples.items()}
    rows = [
        Row(
            f"append 1 message, {n:,} sessions",
            f"median {fmt_s(medians[n])} (p90 {fmt_s(p90(samples[n]))}, n={len(samples[n])})",
            "—",
            None,
        )
        for n in sizes.stores
    ]
    ratio = max(medians.values()) / min(medians.values())
    rows.append(
        Row(
            f"append: ratio largest/smallest median ({len(sizes.stores)} sizes)",
            f"{ratio:.2f}",
            f"≤ {APPEND_RATIO_MAX}",
            ratio <= APPEND_RATIO_MAX,
        )
    )
    rows.append(Row(f"reindex {sizes.stores[-1]:,} sessions (setup)", fmt_s(reindex_s), "—", None))
    for n, store in stores.items():
        if n != sizes.stores[-1]:
            store.close()
    return rows, stores[sizes.stores[-1]]


def bench_list(store: SessionStore, sizes: Sizes) -> list[Row]:
    n = store.index.count()
    store.close()  # the subprocess gets the index to itself, as a user's shell would
    progress(f"timing `claw sessions list --limit 50` ({sizes.list_runs} runs)")
    env = claw_env(store.home.root)
    args = [*claw_cmd(), "sessions", "list", "--limit", "50"]
    out = subprocess.run(args, env=env, capture_output=True, text=True, check=True).stdout
    assert len(out.splitlines()) == 50, out[:500]
    samples = time_subprocess(args, env, sizes.list_runs)
    med = statistics.median(samples)
    litellm = imports_litellm(["sessions", "list", "--limit", "50"], env)
    return [
        Row(
            f"`claw sessions list --limit 50`, {n:,} sessions",
            f"median {fmt_s(med)} (min {fmt_s(min(samples))}, n={len(samples)})",
            f"≤ {LIST_MAX_S} s",
            med <= LIST_MAX_S,
        ),
        Row("`claw sessions list` imports litellm", "yes" if litellm else "no", "no", not litellm),
    ]


def bench_tail(base: Path, sizes: Sizes) -> list[Row]:
    m = sizes.tail_messages
    progress(f"writing a {m:,}-message transcript")
    store = SessionStore(new_home(base, "tail"))
    key = "agent:main:main"
    with open(store.path(key), "wb") as f:
        f.write(jsonl.dumps(transcript.header(key, "main")))
        chunk = []
        for i in range(m):
            role = "user" if i % 2 == 0 else "assistant"
            text = f"message {i}: " + "lorem ipsum dolor sit amet " * (1 + i % 5)
            chunk.append(jsonl.dumps(transcript.message(role, text.strip())))
            if len(chunk) == 10_000:
                f.write(b"".join(chunk))
                chunk.clear()
        f.write(b"".join(chunk))
    size_mb = store.path(key).stat().st_size / 1e6
    got = store.tail(key, 50)  # warm-up, and a check that it is the right tail
    assert len(got.messages) == 50, len(got.messages)
    assert got.messages[-1]["content"].startswith(f"message {m - 1}:")
    progress(f"timing store.tail(key, 50) ({sizes.tail_runs} runs)")
    samples = [timed(lambda: store.tail(key, 50)) for _ in range(sizes.tail_runs)]
    store.close()
    med = statistics.median(samples)
    return [
        Row(
            f"tail 50 of a {m:,}-message transcript ({size_mb:.0f} MB)",
            f"median {fmt_s(med)} (max {fmt_s(max(samples))}, n={len(samples)})",
            f"≤ {TAIL_MAX_S * 1e3:.0f} ms",
            med <= TAIL_MAX_S,
        )
    ]


def bench_help(base: Path, sizes: Sizes) -> list[Row]:
    progress(f"timing `claw --help` ({sizes.help_runs} runs)")
    env = claw_env(base / "help-home")
    samples = time_subprocess([*claw_cmd(), "--help"], env, sizes.help_runs)
    med = statistics.median(samples)
    litellm = imports_litellm(["--help"], env)
    return [
        Row(
            "`claw --help`",
            f"median {fmt_s(med)} (min {fmt_s(min(samples))}, n={len(samples)})",
            f"≤ {HELP_MAX_S} s",
            med <= HELP_MAX_S,
        ),
        Row("`claw --help` imports litellm", "yes" if litellm else "no", "no", not litellm),
    ]


# -- driver ----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark claw's session store and CLI.")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="make the temporary directory here (default: the system's)",
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    started = time.perf_counter()
    base = Path(tempfile.mkdtemp(prefix="claw-bench-", dir=args.dir))
    try:
        rows, big = bench_append(base, sizes)
        rows += bench_list(big, sizes)
        rows += bench_tail(base, sizes)
        rows += bench_help(base, sizes)
    finally:
        progress(f"removing {base}")
        shutil.rmtree(base, ignore_errors=True)
    mode = "quick" if args.quick else "full"
    title = (
        f"claw session benchmark ({mode}; {os.cpu_count()} CPUs; python "
        f"{sys.version.split()[0]}; {time.perf_counter() - started:.0f} s)"
    )
    return report(title, rows)


if __name__ == "__main__":
    sys.exit(main())
