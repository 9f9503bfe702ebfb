#!/usr/bin/env python3
"""Benchmark streamed turns through the daemon: what each delta costs it.

    .venv/bin/python bench/stream.py            50 clients, 20 s
    .venv/bin/python bench/stream.py --quick    5 clients, 3 s (a smoke test)

Each client calls `chat.send_stream` (echo) in a loop on its own session with a 100-word
text, so every reply streams 100 `chat.delta` events. Printed: replies/s, deltas/s, reply
latency p50/p99, and the daemon's CPU per reply (all its threads, from /proc). A streamed
turn goes through litellm's stream wrapper and hands each delta from the turn's worker
thread to the event loop, which is what this measures; `bench/gateway.py` measures
unstreamed calls.

The daemon is the same `trio.run(serve)` subprocess as bench/gateway.py, in a temporary
state directory removed at the end.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import trio
from trio_websocket import open_websocket_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._proc import cpu_times  # noqa: E402
from bench.gateway import _req, pct, raise_nofile, start_daemon  # noqa: E402
from claw.gateway.security import load_token  # noqa: E402
from claw.state.home import Home  # noqa: E402
from claw.state.init import initialise  # noqa: E402

WORDS = 100


async def load(url: str, token: str, clients: int, seconds: float) -> tuple[list[float], int]:
    """Every client streams replies until `seconds` pass; latencies and deltas seen."""
    headers = [(b"authorization", f"Bearer {token}".encode())]
    text = " ".join(f"w{i}" for i in range(WORDS))
    stop = time.perf_counter() + seconds
    latencies: list[float] = []
    deltas = [0]

    async def client(i: int) -> None:
        params = {"text": text, "model": "echo", "session_key": f"agent:main:stream{i}"}
        async with open_websocket_url(url, extra_headers=headers) as ws:
            rid = 0
            while time.perf_counter() < stop:
                rid += 1
                t = time.perf_counter()
                await ws.send_message(_req(rid, "chat.send_stream", params))
                while True:
                    msg = json.loads(await ws.get_message())
                    if msg.get("id") == rid:
                        if "error" in msg:
                            raise RuntimeError(f"chat.send_stream: {msg['error']}")
                        break
                    if msg.get("params", {}).get("type") == "chat.delta":
                        deltas[0] += 1
                latencies.append(time.perf_counter() - t)

    async with trio.open_nursery() as nursery:
        for i in range(clients):
            nursery.start_soon(client, i)
    return latencies, deltas[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="5 clients for 3 s")
    args = ap.parse_args()
    clients, seconds = (5, 3.0) if args.quick else (50, 20.0)
    raise_nofile()
    tmp = Path(tempfile.mkdtemp(prefix="claw-bench-stream-"))
    try:
        home = Home(tmp / "home")
        initialise(home)
        proc, port = start_daemon(home)
        try:
            url, token = f"ws://127.0.0.1:{port}/ws", load_token(home)
            trio.run(load, url, token, clients, min(seconds, 5.0))  # warm: litellm's first use
            before, t = cpu_times(proc.pid), time.perf_counter()
            latencies, deltas = trio.run(load, url, token, clients, seconds)
            after, wall = cpu_times(proc.pid), time.perf_counter() - t
        finally:
            proc.terminate()
            proc.wait(30)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    n = len(latencies)
    user, system = ((a - b) / n * 1000 for a, b in zip(after, before, strict=True))
    print(f"{'row':<56} {'value':>24}")
    print(f"{f'{clients} clients streaming {WORDS}-word replies: replies/s':<56} {n / wall:>24.1f}")
    print(f"{'deltas/s (chat.delta events received)':<56} {deltas / wall:>24.0f}")
    p50, p99 = pct(latencies, 50) * 1000, pct(latencies, 99) * 1000
    print(f"{'reply latency p50 / p99':<56} {f'{p50:.0f} / {p99:.0f} ms':>24}")
    print(f"{'daemon CPU per reply, user / system':<56} {f'{user:.1f} / {system:.1f} ms':>24}")
    print(f"{'daemon CPU per delta':<56} {f'{(user + system) / WORDS:.2f} ms':>24}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
