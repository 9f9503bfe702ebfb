#!/usr/bin/env python3
"""Benchmark the durable delivery queue (issue #5 item 10) against the plan's design.

    .venv/bin/python bench/delivery.py            full run (100,000 pending entries; ~3 min)
    .venv/bin/python bench/delivery.py --quick    small sizes (under a minute), a smoke run

The baseline is the reference plan's queue, implemented below (`Baseline`): one JSON file
per entry, fsynced without its directory (no temp file, no rename), and every tick the
directory listed and every file re-parsed to find the due ones. Rows:

  1. durable enqueue throughput, claw (`QueueStore.enqueue`: one line appended to the
     enqueue journal and fdatasynced; the journal's name was fsynced into its directory
     when it was created) and the baseline, interleaved in rounds so disk noise hits both;
     target >= 3,000 entries/s and no slower than the baseline. For information: an entry
     file per enqueue (claw's recipe before the journal), both with 4 concurrent
     enqueuers, and what the journal defers: absorbing its lines into entry files.
  2. CPU per tick with 100,000 pending entries not yet due: the baseline's scan + parse,
     and the real `Worker`'s wake-up (forced with `kick()`, iterations counted).
  3. `QueueStore.recover()` of 100,000 pending entries at start-up, warm cache (<= 2 s);
     and once with all of them still in the enqueue journal, which it absorbs first.
  4. the real `Worker`, in a subprocess holding 100,000 entries not yet due: its CPU over
     60 s, read from /proc/<pid>/stat (start-up excluded).
  5. `claw notify` -> delivered, on loopback with a healthy webhook receiver, through a
     real `claw serve` daemon (median <= 0.5 s); also from the entry's creation (the
     nanoseconds in its id) to arrival: the worker's pick-up + send.

Everything happens in a temporary directory, removed at the end (also on Ctrl-C).
Exit status: 0 if every target was met, 1 if any was missed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import trio  # noqa: E402

from bench._proc import cpu_times, rss_mb  # noqa: E402
from bench._receiver import Receiver  # noqa: E402
from bench._report import Row, fmt_s, new_home, report  # noqa: E402
from claw.channels.base import Channel  # noqa: E402
from claw.delivery.entry import Delivery, make  # noqa: E402
from claw.delivery.queue import QueueStore  # noqa: E402
from claw.delivery.worker import Worker  # noqa: E402
from claw.state.atomic import atomic_write_bytes  # noqa: E402
from claw.state.config import set_value  # noqa: E402
from claw.state.home import Home  # noqa: E402


@dataclass(frozen=True)
class Sizes:
    enqueues: int  # per variant (row 1)
    round: int  # entries per variant per interleaved round; also the batch of variant B
    pending: int  # entries in the store for rows 2-4
    ticks: int  # timed baseline ticks
    kicks: int  # forced worker wake-ups
    recovers: int  # timed recover() runs
    idle_s: float  # row 4's window
    notifies: int  # row 5's `claw notify` runs


FULL = Sizes(3_000, 100, 100_000, 3, 20_000, 3, 60.0, 20)
QUICK = Sizes(300, 50, 10_000, 3, 5_000, 3, 10.0, 5)

ENQUEUE_MIN_RATE = 3_000.0
RECOVER_MAX_S = 2.0
LATENCY_MAX_S = 0.5
NOT_DUE_S = 86_400.0  # the pending entries are due in a day: the worker has nothing to do
PEERS = 50
THREADS = 4  # concurrent enqueuers in the information rows


# -- helpers ---------------------------------------------------------------------------


T0 = time.perf_counter()


def progress(msg: str) -> None:
    print(f"  [{time.perf_counter() - T0:5.0f} s] {msg}", file=sys.stderr, flush=True)


def entry(i: int, text: str = "text") -> Delivery:
    return make("mock", f"p{i % PEERS}", [text])


def cpu_s(pid: int) -> float:
    """user + system CPU seconds of a whole process (all its threads)."""
    return sum(cpu_times(pid))


def claw_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAW_")}
    env |= {"CLAW_HOME": str(home), "NO_COLOR": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    return env


# -- the baseline: the plan's queue ----------------------------------------------------


class Baseline:
    """The reference plan's design, for comparison only: each entry its own JSON file,
    fsynced (no temp file, no rename, no directory fsync); each tick lists the directory
    and parses every file to find the due entries."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        directory.mkdir(parents=True, exist_ok=True)

    def enqueue(self, item: Delivery) -> None:
        with open(self.dir / f"{item.id}.json", "wb") as f:
            f.write(item.to_json())
            f.flush()
            os.fsync(f.fileno())

    def tick(self, now: float) -> list[dict]:
        due = []
        for name in os.listdir(self.dir):
            if not name.endswith(".json"):
                continue
            with open(self.dir / name, "rb") as f:
                data = json.loads(f.read())
            if data["next_attempt_at"] <= now:
                due.append(data)
        due.sort(key=lambda d: d["id"])
        return due


# -- the recipe claw used before the enqueue journal (for comparison) ------------------


def enqueue_entry_file(directory: Path, item: Delivery) -> None:
    """One entry file per enqueue: temp file, fsync, rename, directory fsync."""
    atomic_write_bytes(directory / f"{item.id}.json", item.to_json())


# -- row 1: enqueue throughput ---------------------------------------------------------


def threaded(fn: Callable[[int], None], start: int, count: int) -> None:
    """fn(start) … fn(start + count - 1) spread over THREADS threads (fsync drops the GIL)."""

    def run(k: int) -> None:
        for i in range(start + k, start + count, THREADS):
            fn(i)

    workers = [threading.Thread(target=run, args=(k,)) for k in range(THREADS)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()


def bench_enqueue(base: Path, sizes: Sizes) -> list[Row]:
    claw_home = new_home(base, "enqueue-claw")
    claw_mt_home = new_home(base, "enqueue-claw-mt")
    baseline = Baseline(base / "enqueue-baseline")
    baseline_mt = Baseline(base / "enqueue-baseline-mt")
    dir_file = QueueStore(new_home(base, "enqueue-file")).dir
    r = sizes.round

    def claw_one(i: int) -> None:
        QueueStore(claw_home).enqueue(entry(i))

    def claw_mt_one(i: int) -> None:
        QueueStore(claw_mt_home).enqueue(entry(i))

    def serial(fn: Callable[[int], None]) -> Callable[[int], None]:
        def run(start: int) -> None:
            for i in range(start, start + r):
                fn(i)

        return run

    def concurrent(fn: Callable[[int], None]) -> Callable[[int], None]:
        return lambda start: threaded(fn, start, r)

    variants: dict[str, Callable[[int], None]] = {
        "claw": serial(claw_one),
        "baseline": serial(lambda i: baseline.enqueue(entry(i))),
        "file": serial(lambda i: enqueue_entry_file(dir_file, entry(i))),
        "claw-mt": concurrent(claw_mt_one),
        "baseline-mt": concurrent(lambda i: baseline_mt.enqueue(entry(i))),
    }
    os.sync()
    for fn in variants.values():  # warm-up: imports, dentry caches, the journal
        fn(10**6)
    wall = dict.fromkeys(variants, 0.0)
    cpu = dict.fromkeys(variants, 0.0)
    order = list(variants)
    rng = random.Random(5)
    rounds = sizes.enqueues // r
    progress(f"timing {rounds * r:,} enqueues per variant, in {rounds} interleaved rounds")
    for k in range(rounds):
        rng.shuffle(order)  # no variant always goes first (or last) in a round
        for name in order:
            c0, t0 = time.process_time(), time.perf_counter()
            variants[name](k * r)
            wall[name] += time.perf_counter() - t0
            cpu[name] += time.process_time() - c0
    n = rounds * r
    rate = {name: n / s for name, s in wall.items()}
    assert len(QueueStore(claw_home).ids()) == n + r
    assert len(QueueStore(claw_mt_home).ids()) == n + r
    ratio = rate["claw"] / rate["baseline"]
    # What the journal defers: the deliverer turning its lines into entry files.
    store = QueueStore(claw_home)
    c0, t0 = time.process_time(), time.perf_counter()
    absorbed = len(store.absorb())
    absorb_wall, absorb_cpu = time.perf_counter() - t0, time.process_time() - c0
    assert absorbed == n + r and store.journal.is_empty()

    def measured(name: str) -> str:
        return (
            f"{rate[name]:,.0f} entries/s ({fmt_s(wall[name] / n)} each, "
            f"CPU {fmt_s(cpu[name] / n)})"
        )

    def versus(name: str, other: str = "baseline") -> str:
        return f"{rate[name]:,.0f} entries/s ({rate[name] / rate[other]:.2f}× {other})"

    return [
        Row(
            f"enqueue: claw (journal line fdatasynced; its name fsynced once), n={n:,}",
            measured("claw"),
            f"≥ {ENQUEUE_MIN_RATE:,.0f}/s",
            rate["claw"] >= ENQUEUE_MIN_RATE,
        ),
        Row("enqueue: baseline (file fsynced, directory not)", measured("baseline"), "—", None),
        Row("enqueue: ratio claw / baseline", f"{ratio:.2f}", "≥ 1.00", ratio >= 1.0),
        Row(
            "enqueue: an entry file each (temp, fsync, rename, directory fsync)",
            versus("file"),
            "—",
            None,
        ),
        Row(
            f"absorb (the worker, later): {absorbed:,} journal lines → entry files",
            f"{absorbed / absorb_wall:,.0f} entries/s ({fmt_s(absorb_wall / absorbed)} each, "
            f"CPU {fmt_s(absorb_cpu / absorbed)})",
            "—",
            None,
        ),
        Row(f"enqueue: claw, {THREADS} concurrent enqueuers", versus("claw-mt", "claw"), "—", None),
        Row(
            f"enqueue: baseline, {THREADS} concurrent enqueuers",
            versus("baseline-mt", "baseline"),
            "—",
            None,
        ),
        Row(
            f"enqueue: ratio claw / baseline, {THREADS} concurrent",
            f"{rate['claw-mt'] / rate['baseline-mt']:.2f}",
            "—",
            None,
        ),
    ]


# -- rows 2-4: a store with many pending entries ---------------------------------------


def populate(store: QueueStore, n: int) -> None:
    """n pending entries, due in a day, in claw's bytes; no fsync (one os.sync after)."""
    due = time.time() + NOT_DUE_S
    for i in range(n):
        item = entry(i, f"pending message {i}")
        item.next_attempt_at = due
        with open(store.path(item.id), "wb") as f:
            f.write(item.to_json())
    os.sync()


class CountingWorker(Worker):
    """The real Worker, counting its loop's iterations (each one replaces `_wake`)."""

    iterations = -1  # the first assignment is __init__'s

    @property
    def _wake(self) -> trio.Event:
        return self.__dict__["_wake_event"]

    @_wake.setter
    def _wake(self, event: trio.Event) -> None:
        self.iterations += 1
        self.__dict__["_wake_event"] = event


def never_called(name: str) -> Channel:
    raise AssertionError(f"nothing is due, yet the worker asked for channel {name!r}")


def bench_ticks(store: QueueStore, sizes: Sizes) -> list[Row]:
    n = sizes.pending
    baseline = Baseline(store.dir)  # the same files: the plan's format is the same JSON
    progress(f"baseline: {sizes.ticks} ticks over {n:,} files (+1 warm-up)")
    assert baseline.tick(time.time()) == []
    cpu, wall = [], []
    for _ in range(sizes.ticks):
        c0, t0 = time.process_time(), time.perf_counter()
        baseline.tick(time.time())
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - t0)
    base_cpu = statistics.median(cpu)

    progress(f"claw: the Worker over {n:,} entries, {sizes.kicks:,} forced wake-ups")

    async def claw() -> tuple[float, int, int, int]:
        worker = CountingWorker(store, never_called)
        async with trio.open_nursery() as nursery:
            await nursery.start(worker.run)
            await trio.sleep(0.5)
            quiet0 = worker.iterations
            await trio.sleep(1.0)  # no kicks: nothing due, so no iterations
            idle_iterations = worker.iterations - quiet0
            i0, c0 = worker.iterations, time.process_time()
            for _ in range(sizes.kicks):
                worker.kick()
                await trio.sleep(0)
            used, iterations = time.process_time() - c0, worker.iterations - i0
            nursery.cancel_scope.cancel()
        return used / max(iterations, 1), iterations, len(worker.entries), idle_iterations

    per_tick, iterations, loaded, idle_iterations = trio.run(claw)
    assert loaded == n, (loaded, n)
    return [
        Row(
            f"tick CPU, {n:,} pending: baseline (scan + parse)",
            f"{fmt_s(base_cpu)} (wall {fmt_s(statistics.median(wall))}, n={len(cpu)})",
            "—",
            None,
        ),
        Row(
            f"tick CPU, {n:,} pending: claw Worker wake-up",
            f"{fmt_s(per_tick)} ({iterations:,} iterations; {idle_iterations} in 1 s unkicked)",
            "—",
            None,
        ),
        Row("tick CPU: ratio baseline / claw", f"{base_cpu / per_tick:,.0f}×", "—", None),
    ]


def bench_recover(store: QueueStore, sizes: Sizes) -> list[Row]:
    n = sizes.pending
    progress(f"recover() of {n:,} entries, {sizes.recovers} runs (+1 warm-up)")
    assert len(store.recover()) == n
    samples = []
    for _ in range(sizes.recovers):
        t0 = time.perf_counter()
        got = store.recover()
        samples.append(time.perf_counter() - t0)
        assert len(got) == n
        del got
    med = statistics.median(samples)
    return [
        Row(
            f"recover() {n:,} pending entries, warm cache",
            f"median {fmt_s(med)} (max {fmt_s(max(samples))}, n={len(samples)})",
            f"≤ {RECOVER_MAX_S:g} s",
            med <= RECOVER_MAX_S,
        )
    ]


def bench_recover_journal(base: Path, sizes: Sizes) -> list[Row]:
    """The same number of entries, all still in the enqueue journal (queued while no
    deliverer ran): recover() absorbs them into entry files first (one syncfs)."""
    n = sizes.pending
    store = QueueStore(new_home(base, "pending-journal"))
    due = time.time() + NOT_DUE_S
    with open(store.journal.path, "wb") as f:
        for i in range(n):
            item = entry(i, f"pending message {i}")
            item.next_attempt_at = due
            f.write(item.to_json() + b"\n")
    os.sync()
    progress(f"recover() of {n:,} entries still in the journal (once: it absorbs them)")
    t0 = time.perf_counter()
    got = store.recover()
    took = time.perf_counter() - t0
    assert len(got) == n and store.journal.is_empty()
    shutil.rmtree(store.home.root)
    return [
        Row(
            f"recover() {n:,} entries still in the journal (absorbed first)",
            fmt_s(took),
            "—",
            None,
        )
    ]


def start_worker(home: Home, *, deliver: bool) -> tuple[subprocess.Popen[str], float]:
    """This script in --worker-child mode: (the process, its recover + schedule time)."""
    args = [sys.executable, str(Path(__file__).resolve()), "--worker-child", str(home.root)]
    if deliver:
        args.append("--deliver")
    proc = subprocess.Popen(
        args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    if not line or line[0] != "ready":
        proc.kill()
        raise SystemExit(f"the worker subprocess did not start: {line}")
    return proc, float(line[1])


def stop_worker(proc: subprocess.Popen[str]) -> int:
    """Close its stdin (it exits); the loop iterations it counted since it was ready."""
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.close()
    out = proc.stdout.read().split()
    proc.wait(30)
    return int(out[1]) if out[:1] == ["iterations"] else -1


def bench_idle(store: QueueStore, sizes: Sizes) -> list[Row]:
    n, window = sizes.pending, sizes.idle_s
    progress(f"the Worker in a subprocess with {n:,} entries not due: {window:g} s idle")
    proc, startup = start_worker(store.home, deliver=False)
    try:
        time.sleep(1.0)  # settle after start-up
        c0, t0 = cpu_s(proc.pid), time.perf_counter()
        time.sleep(window)
        used, span = cpu_s(proc.pid) - c0, time.perf_counter() - t0
        rss = rss_mb(proc.pid)
    finally:
        iterations = stop_worker(proc)
    return [
        Row(
            f"Worker idle CPU over {window:g} s, {n:,} not due",
            f"{used:.2f} s CPU ({100 * used / span:.2f} %); {iterations} loop iterations",
            "—",
            None,
        ),
        Row(
            "Worker subprocess: start-up (recover + schedule), RSS",
            f"{fmt_s(startup)}, {rss:.0f} MB",
            "—",
            None,
        ),
    ]


# -- row 5: claw notify -> delivered ---------------------------------------------------


def make_receiver() -> Receiver:
    """Notes when each entry's first part arrived (wall clock: ids carry creation time)."""
    return Receiver(lambda body: body["idempotency_key"], time.time)


def delivered_at(receiver: Receiver, entry_id: str, timeout: float) -> float | None:
    return receiver.arrived(f"{entry_id}:0", timeout)  # part 0's idempotency key


def notify(home: Home, text: str) -> tuple[str, float, float]:
    """Run `claw notify`: (entry id, time.time() just before the start, when it exited)."""
    cmd = [sys.executable, "-m", "claw", "notify", "--channel", "webhook", "--to", "bench", text]
    t0 = time.time()
    r = subprocess.run(cmd, env=claw_env(home.root), capture_output=True, text=True, cwd=ROOT)
    t1 = time.time()
    if r.returncode != 0:
        raise SystemExit(f"claw notify failed: {r.stderr}")
    return r.stdout.split()[0], t0, t1


def bench_notify(base: Path, sizes: Sizes) -> list[Row]:
    home = new_home(base, "notify")
    receiver = make_receiver()
    set_value(home.config_file, "channels.webhook.targets.bench.url", receiver.url)
    log = open(base / "daemon.log", "wb")  # noqa: SIM115 (closed in finally)
    daemon = subprocess.Popen(
        [sys.executable, "-m", "claw", "serve", "--port", "0"],
        env=claw_env(home.root),
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    worker: subprocess.Popen[str] | None = None
    try:
        deadline = time.monotonic() + 60
        while not (home.root / "gateway.json").exists():
            if daemon.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"claw serve did not start; see {base / 'daemon.log'}")
            time.sleep(0.05)
        progress("claw serve is up; a first `claw notify` (not timed)")
        probe, _, _ = notify(home, "probe")
        by = "claw serve"
        if delivered_at(receiver, probe, 5.0) is None:
            # `claw serve` does not run the delivery worker (yet): run the real Worker
            # beside it, with the channels the daemon would build.
            by = "a Worker subprocess (claw serve did not deliver)"
            progress("claw serve did not deliver the probe: starting a Worker subprocess")
            worker, _ = start_worker(home, deliver=True)
            if delivered_at(receiver, probe, 10.0) is None:
                raise SystemExit("the probe was not delivered")
        time.sleep(1.0)
        progress(f"timing {sizes.notifies} `claw notify` runs, delivered by {by}")
        total, from_enqueue, process = [], [], []
        for i in range(sizes.notifies):
            entry_id, t0, t1 = notify(home, f"hi {i}")
            arrived = delivered_at(receiver, entry_id, 10.0)
            if arrived is None:
                raise SystemExit(f"{entry_id} was not delivered within 10 s")
            total.append(arrived - t0)
            from_enqueue.append(arrived - int(entry_id.split("-")[0]) / 1e9)
            process.append(t1 - t0)
            time.sleep(0.2)
    finally:
        if worker is not None:
            stop_worker(worker)
        daemon.terminate()
        try:
            daemon.wait(15)
        except subprocess.TimeoutExpired:
            daemon.kill()
        log.close()
        receiver.close()
    med = statistics.median(total)
    n = len(total)
    return [
        Row(
            "`claw notify` → delivered (loopback webhook)",
            f"median {fmt_s(med)}, max {fmt_s(max(total))} (n={n})",
            f"median ≤ {LATENCY_MAX_S:g} s",
            med <= LATENCY_MAX_S,
        ),
        Row(
            "  of which: entry created → delivered",
            f"median {fmt_s(statistics.median(from_enqueue))}, max {fmt_s(max(from_enqueue))}",
            "—",
            None,
        ),
        Row(
            "  `claw notify` process, start → exit",
            f"median {fmt_s(statistics.median(process))}",
            "—",
            None,
        ),
        Row("  delivered by", by, "—", None),
    ]


# -- the worker subprocess (this script, --worker-child) -------------------------------


def worker_child(root: Path, deliver: bool) -> None:
    """Run the real Worker over `root`'s queue; print `ready <start-up s>` once it has
    recovered, and `iterations <n>` (since ready) when stdin closes, then exit."""
    from claw.delivery.service import Channels
    from claw.state.config import load

    home = Home(root)

    async def main() -> None:
        channels = Channels(home, load(home.config_file)) if deliver else None
        worker = CountingWorker(QueueStore(home), channels or never_called)
        try:
            async with trio.open_nursery() as nursery:
                t0 = time.perf_counter()
                await nursery.start(worker.run)
                startup = time.perf_counter() - t0
                await trio.sleep(0.2)  # the loop's first iteration (scheduling) is start-up
                print(f"ready {startup:.6f}", flush=True)
                ready = worker.iterations
                await trio.to_thread.run_sync(sys.stdin.read)
                print(f"iterations {worker.iterations - ready}", flush=True)
                nursery.cancel_scope.cancel()
        finally:
            if channels is not None:
                await channels.aclose()

    trio.run(main)


# -- driver ----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark claw's delivery queue.")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--dir", type=Path, default=None, help="make the temporary directory here")
    parser.add_argument("--worker-child", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--deliver", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker_child is not None:
        worker_child(args.worker_child, args.deliver)
        return 0
    sizes = QUICK if args.quick else FULL
    started, load0 = time.perf_counter(), os.getloadavg()[0]
    base = Path(tempfile.mkdtemp(prefix="claw-bench-queue-", dir=args.dir))
    try:
        rows = bench_enqueue(base, sizes)
        store = QueueStore(new_home(base, "pending"))
        progress(f"writing {sizes.pending:,} pending entries (no fsync; one os.sync)")
        populate(store, sizes.pending)
        rows += bench_recover(store, sizes)
        rows += bench_recover_journal(base, sizes)
        rows += bench_ticks(store, sizes)
        rows += bench_idle(store, sizes)
        rows += bench_notify(base, sizes)
    finally:
        progress(f"removing {base}")
        shutil.rmtree(base, ignore_errors=True)
    mode = "quick" if args.quick else "full"
    title = (
        f"claw delivery-queue benchmark ({mode}; {os.cpu_count()} CPUs; python "
        f"{sys.version.split()[0]}; {time.perf_counter() - started:.0f} s; load average "
        f"{load0:.2f} at the start, {os.getloadavg()[0]:.2f} at the end)"
    )
    return report(title, rows)


if __name__ == "__main__":
    sys.exit(main())
