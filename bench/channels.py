#!/usr/bin/env python3
"""Benchmark the daemon's channel path (issue #6 item 8): inbound webhook -> reply.

    .venv/bin/python bench/channels.py            full run (~1 min)
    .venv/bin/python bench/channels.py --quick    small sizes, a smoke run

A real `claw serve` (echo model) on 127.0.0.1; this process is both ends: it POSTs each
message to `/hooks/bench` and runs the webhook receiver the reply is delivered to. Every
message is the whole path: hook -> journal (fsync) -> routing -> turn (transcript) ->
reply queued (fsync) -> delivery worker -> HTTP POST to the receiver. Latency is from just
before the POST to the reply's arrival (the echo reply carries the message's number).

Rows:
  1. one message at a time: p50 and p99 latency (target p50 <= 50 ms);
  2. sustained: N senders in parallel (each its own session, dm_scope per-peer) for a
     fixed time, each sending its next message when its reply arrives: messages/s, and
     the latency under that load. Each sender posts to its own hook whose replies go to
     its own target, as replies to different people go to different chats; then the
     same with every reply to ONE destination, which the queue delivers strictly in
     order (FIFO per destination), one at a time.

Exit status: 0 if every target was met, 1 if any was missed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

import httpx  # noqa: E402

from bench._receiver import Receiver  # noqa: E402
from bench._report import Row, fmt_s, new_home, report  # noqa: E402
from claw.state.config import set_value  # noqa: E402
from claw.state.home import Home  # noqa: E402

P50_MAX_S = 0.050
TOKEN = "bench-hook-token-0123456789"


def progress(message: str) -> None:
    print(f"  … {message}", file=sys.stderr, flush=True)


def make_receiver() -> Receiver:
    """The outbound webhook target; replies are keyed by their text (the echo)."""
    return Receiver(lambda body: body["text"])


def wait(receiver: Receiver, text: str, timeout: float) -> float:
    arrived = receiver.arrived(text, timeout)
    if arrived is None:
        raise SystemExit(f"no reply to {text!r} within {timeout:g} s")
    return arrived


def configure(home: Home, receiver: Receiver, senders: int) -> None:
    """Hook `bench` replies to target `back`; hook `bench<k>` to its own `back<k>`."""
    settings = [("model.default", "echo"), ("agents.main.dm_scope", "per-peer")]
    for suffix in ["", *(str(k) for k in range(senders))]:
        settings += [
            (f"channels.webhook.hooks.bench{suffix}.token", TOKEN),
            (f"channels.webhook.hooks.bench{suffix}.reply_target", f"back{suffix}"),
            (f"channels.webhook.targets.back{suffix}.url", receiver.url),
            # the hook's own rate limit (20/s by default) would cap what is measured here
            (f"channels.webhook.hooks.bench{suffix}.rate_per_s", "100000"),
        ]
    for key, value in settings:
        set_value(home.config_file, key, value)


def start_daemon(home: Home, log_path: Path) -> tuple[subprocess.Popen[bytes], int]:
    env = {**os.environ, "CLAW_HOME": str(home.root)}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "claw", "serve", "--port", "0"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    deadline = time.monotonic() + 60
    info = home.root / "gateway.json"
    while not info.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"claw serve did not start; see {log_path}")
        time.sleep(0.05)
    time.sleep(0.1)
    return proc, int(json.loads(info.read_text())["port"])


def post(client: httpx.Client, port: int, sender: str, text: str, hook: str = "bench") -> None:
    r = client.post(
        f"http://127.0.0.1:{port}/hooks/{hook}",
        json={"text": text, "from": sender},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    if r.status_code != 200:
        raise SystemExit(f"the hook answered {r.status_code}: {r.text}")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def sequential(port: int, receiver: Receiver, n: int) -> list[float]:
    latencies = []
    with httpx.Client() as client:
        for i in range(n):
            text = f"seq {i}"
            t0 = time.perf_counter()
            post(client, port, "alice", text)
            latencies.append(wait(receiver, text, 10) - t0)
    return latencies


def sustained(
    port: int, receiver: Receiver, senders: int, seconds: float, *, own_targets: bool
) -> tuple[int, list[float]]:
    """Closed loop: each sender posts, waits for its reply, posts the next."""
    stop_at = time.perf_counter() + seconds
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def sender(k: int) -> None:
        try:
            with httpx.Client() as client:
                i = 0
                while time.perf_counter() < stop_at:
                    text = f"load {k} {i} {own_targets}"
                    t0 = time.perf_counter()
                    post(client, port, f"user{k}", text, f"bench{k}" if own_targets else "bench")
                    took = wait(receiver, text, 30) - t0
                    with lock:
                        latencies.append(took)
                    i += 1
        except BaseException as e:  # a thread's SystemExit would vanish silently
            errors.append(f"sender {k}: {e}")

    threads = [threading.Thread(target=sender, args=(k,)) for k in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit(errors[0])
    return len(latencies), latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    args = parser.parse_args()
    n_seq, senders, seconds = (30, 4, 5.0) if args.quick else (300, 16, 20.0)
    base = Path(tempfile.mkdtemp(prefix="claw-bench-channels-"))
    receiver = make_receiver()
    daemon = None
    try:
        home = new_home(base, "home")
        configure(home, receiver, senders)
        daemon, port = start_daemon(home, base / "daemon.log")
        progress("daemon up; warming up (litellm's first call, not timed)")
        sequential(port, receiver, 5)
        progress(f"{n_seq} messages one at a time")
        seq = sequential(port, receiver, n_seq)
        progress(f"{senders} senders in parallel for {seconds:g} s, own destinations")
        done, loaded = sustained(port, receiver, senders, seconds, own_targets=True)
        progress(f"{senders} senders in parallel for {seconds:g} s, one destination")
        done1, loaded1 = sustained(port, receiver, senders, seconds, own_targets=False)
    finally:
        if daemon is not None:
            daemon.terminate()
            try:
                daemon.wait(15)
            except subprocess.TimeoutExpired:
                daemon.kill()
        receiver.close()
        shutil.rmtree(base, ignore_errors=True)
    p50 = statistics.median(seq)
    rows = [
        Row(
            "webhook in → reply delivered, one at a time",
            f"p50 {fmt_s(p50)}, p99 {fmt_s(pct(seq, 0.99))} (n={len(seq)})",
            f"p50 ≤ {P50_MAX_S * 1e3:g} ms",
            p50 <= P50_MAX_S,
        ),
        Row(
            f"sustained, {senders} senders, own sessions and chats, {seconds:g} s",
            f"{done / seconds:.0f} messages/s; p50 {fmt_s(statistics.median(loaded))}, "
            f"p99 {fmt_s(pct(loaded, 0.99))}",
            "—",
            None,
        ),
        Row(
            f"  the same, every reply to one chat (FIFO), {seconds:g} s",
            f"{done1 / seconds:.0f} messages/s; p50 {fmt_s(statistics.median(loaded1))}, "
            f"p99 {fmt_s(pct(loaded1, 0.99))}",
            "—",
            None,
        ),
    ]
    return report("claw channels benchmark (echo model, loopback)", rows)


if __name__ == "__main__":
    sys.exit(main())
