#!/usr/bin/env python3
"""Benchmark the gateway daemon (issue #4 item 10) against a real `trio.run(serve)` subprocess.

    .venv/bin/python bench/gateway.py            full run (about six minutes)
    .venv/bin/python bench/gateway.py --quick    small sizes (seconds), for a smoke test

Rows:
  a. `claw send --model echo "hi"` subprocesses, daemon vs `--local`: medians and ratio.
  b. 1,000 concurrent WebSocket clients (one trio process, all connected first), each calling
     `chat.send` (echo) on its own session. Three loads: a burst (everyone at once: the
     throughput ceiling; latency is then queueing time), a paced open loop at 500 calls/s
     (target p99 <= 50 ms at >= 500 calls/s), and one at 100 calls/s, below the ceiling.
     Also printed: the daemon's CPU per call over these phases (all its threads), and the
     CPU cost of one bare `litellm.completion` on echo, which bounds any turn that goes
     through litellm (as every claw turn does), the clients' own CPU per call, and the machine's
     ceiling: echo turns run in-process (as `--local` does, no gateway, no clients) in a loop
     by one process, then by two at once, one per core.
  c. 10,000 idle authenticated connections (bearer header on the upgrade): the daemon's RSS
     (target <= 1 GB). RLIMIT_NOFILE is raised to its hard limit in both processes.

All on 127.0.0.1 in a temporary state directory (removed at the end). Exit 0 iff all targets met.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trio
from trio_websocket import open_websocket_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._proc import cpu_times, rss_mb  # noqa: E402
from claw.gateway.security import load_token  # noqa: E402
from claw.state.home import Home  # noqa: E402
from claw.state.init import initialise  # noqa: E402

SERVER = r"""
import functools, json, os, resource, sys
from pathlib import Path
import trio
from claw.gateway.app import Limits
from claw.daemon import warm_up
from claw.gateway.serve import serve
from claw.state.config import load
from claw.state.home import Home

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
from claw.state.locks import file_lock

home = Home(Path(sys.argv[1]))
home.locks_dir.mkdir(parents=True, exist_ok=True)
lock = file_lock(home.locks_dir / "daemon.lock", timeout=0)  # what marks a live daemon
lock.acquire()
limits = Limits(max_connections=20000, rate_per_s=1e6, burst=1_000_000, send_queue=1024)

async def main():
    async with trio.open_nursery() as nursery:
        start = functools.partial(serve, home, load(home.config_file), host="127.0.0.1",
                                  port=0, limits=limits)
        port = await nursery.start(start)
        nursery.start_soon(warm_up)  # as `claw serve` does
        info = {"pid": os.getpid(), "host": "127.0.0.1", "port": port,
                "started_at": "bench", "version": "bench"}
        tmp = home.root / "gateway.json.tmp"
        tmp.write_text(json.dumps(info))
        os.replace(tmp, home.root / "gateway.json")

trio.run(main)
"""


def raise_nofile() -> int:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def start_daemon(home: Home) -> tuple[subprocess.Popen[bytes], int]:
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(home.root)], cwd=ROOT)
    info = home.root / "gateway.json"
    deadline = time.monotonic() + 60
    while not info.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the daemon did not start")
        time.sleep(0.05)
    return proc, int(json.loads(info.read_text())["port"])


def row_a(home: Home, runs: int) -> tuple[float, float]:
    env = {**os.environ, "CLAW_HOME": str(home.root), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}

    def once(*extra: str) -> float:
        t = time.perf_counter()
        cmd = [sys.executable, "-m", "claw", "send", *extra, "--model", "echo", "hi"]
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
        elapsed = time.perf_counter() - t
        if r.returncode != 0 or r.stdout != "hi\n":
            raise SystemExit(f"claw send failed: {r.stderr}")
        return elapsed

    once("--daemon")  # warm the page cache and the daemon's model path
    daemon = statistics.median(once("--daemon") for _ in range(runs))
    local = statistics.median(once("--local") for _ in range(runs))
    return daemon, local


def _req(rid: int, method: str, params: dict | None = None) -> str:
    msg = {"jsonrpc": "2.0", "id": rid, "method": method}
    if params is not None:
        msg["params"] = params
    return json.dumps(msg)


async def _rpc(ws, rid: int, method: str, params: dict | None = None) -> dict:
    await ws.send_message(_req(rid, method, params))
    while True:
        reply = json.loads(await ws.get_message())
        if reply.get("id") == rid:
            if "error" in reply:
                raise RuntimeError(f"{method}: {reply['error']}")
            return reply["result"]


async def row_b(url: str, token: str, clients: int, rates: list[float], calls_each: int) -> dict:
    """Connect all clients, then a burst (one call each), then a paced load at each rate."""
    headers = [(b"authorization", f"Bearer {token}".encode())]
    connected, go_burst = trio.Event(), trio.Event()
    go_paced = [trio.Event() for _ in rates]
    burst_done, count = trio.Semaphore(0), {"up": 0}
    burst: list[float] = []
    paced: list[list[float]] = [[] for _ in rates]
    phase_done = [trio.Semaphore(0) for _ in rates]
    connect_gate = trio.Semaphore(100)  # do not overflow the listen backlog while connecting

    async def client(i: int) -> None:
        await connect_gate.acquire()
        gated = True
        try:
            async with open_websocket_url(url, extra_headers=headers) as ws:
                connect_gate.release()
                gated = False
                await use(ws, i)
        finally:
            if gated:
                connect_gate.release()

    async def use(ws, i: int) -> None:
        count["up"] += 1
        if count["up"] == clients:
            connected.set()
        params = {"text": "hi", "model": "echo", "session_key": f"agent:main:bench{i}"}
        await go_burst.wait()
        t = time.perf_counter()
        await _rpc(ws, 1, "chat.send", params)
        burst.append(time.perf_counter() - t)
        burst_done.release()
        rid = 2
        for phase, rate in enumerate(rates):
            await go_paced[phase].wait()
            gap = clients / rate  # each client's interval: all together make `rate`
            await trio.sleep(random.uniform(0, gap))  # spread starts evenly
            for n in range(calls_each):
                t = time.perf_counter()
                await _rpc(ws, rid, "chat.send", params)
                rid += 1
                paced[phase].append(time.perf_counter() - t)
                if n + 1 < calls_each:  # no wait after the last: the phase ends with it
                    await trio.sleep(max(0.0, gap - (time.perf_counter() - t)))
            phase_done[phase].release()

    out: dict = {"paced": []}
    async with trio.open_nursery() as nursery:
        for i in range(clients):
            nursery.start_soon(client, i)
        await connected.wait()
        t0 = time.perf_counter()
        go_burst.set()
        for _ in range(clients):
            await burst_done.acquire()
        burst_s = time.perf_counter() - t0
        out |= {
            "burst_rate": clients / burst_s,
            "burst_p50": pct(burst, 50),
            "burst_p99": pct(burst, 99),
        }
        for phase, rate in enumerate(rates):
            t1 = time.perf_counter()
            go_paced[phase].set()
            for _ in range(clients):
                await phase_done[phase].acquire()
            elapsed = time.perf_counter() - t1
            got = paced[phase]
            out["paced"].append((rate, len(got) / elapsed, pct(got, 50), pct(got, 99)))
    return out


LITELLM_FLOOR = r"""
import time
from claw.agent.models import litellm
lm = litellm()
msgs = [{"role": "system", "content": "You are claw."}, {"role": "user", "content": "hi"}]
def one():
    lm.completion(model="echo/echo", messages=msgs, max_tokens=100, timeout=30, num_retries=0)
for _ in range(100):
    one()
n, t = 1000, time.process_time()
for _ in range(n):
    one()
print((time.process_time() - t) / n)
"""


TURN_FLOOR = r"""
import shutil, sys, tempfile, time
from pathlib import Path
from claw.agent.turn import TurnRequest
from claw.state.config import load
from claw.state.home import Home
from claw.state.init import initialise
from claw.state.sessions import SessionStore
from claw.supervisor.dispatch import supervise
tmp = Path(tempfile.mkdtemp(prefix="claw-bench-turns-"))
home = Home(tmp / "home")
initialise(home)
config, store = load(home.config_file), SessionStore(home)
def turn(i):
    req = TurnRequest("hi", "main", f"agent:main:bench{i % 100}", "echo", live=False)
    for _event in supervise(home, config, store, req):
        pass
for i in range(100):
    turn(i)
print("ready", flush=True)
sys.stdin.readline()  # every process starts at once
seconds, n = float(sys.argv[1]), 0
end = time.perf_counter() + seconds
while time.perf_counter() < end:
    turn(n)
    n += 1
print(n / seconds)
shutil.rmtree(tmp, ignore_errors=True)
"""


def turn_ceiling(processes: int, seconds: float) -> float:
    """Echo turns per second, all processes together, each running the in-process turn of
    `claw send --local` (supervise: prompt, history, litellm, transcript) in a loop, with no
    gateway and no client: what this machine could do if turns used every core and nothing
    else ran."""
    cmd = [sys.executable, "-c", TURN_FLOOR, str(seconds)]
    pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "text": True}
    procs = [subprocess.Popen(cmd, cwd=ROOT, **pipes) for _ in range(processes)]
    for proc in procs:
        if proc.stdout is None or proc.stdout.readline().strip() != "ready":
            raise SystemExit("a turn process did not start")
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    return sum(float(proc.communicate()[0].strip()) for proc in procs)


def litellm_floor() -> float:
    """CPU seconds of one bare non-streamed `litellm.completion` on echo: what any turn
    through litellm pays before claw does anything (measured in its own process)."""
    out = subprocess.run(
        [sys.executable, "-c", LITELLM_FLOOR], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


async def row_c(url: str, token: str, target: int, pid: int) -> tuple[int, float, float, str]:
    """Open `target` idle connections: (reached, daemon RSS MB before, after, why it stopped)."""
    headers = [(b"authorization", f"Bearer {token}".encode())]
    before = rss_mb(pid)
    reached, why = 0, "target reached"
    gate = trio.Semaphore(200)
    done, all_up = trio.Event(), trio.Event()
    pending = {"n": target}

    def counted() -> None:
        pending["n"] -= 1
        if pending["n"] == 0:
            all_up.set()

    async def idle(i: int) -> None:
        nonlocal reached, why
        await gate.acquire()
        gated = True
        try:
            async with open_websocket_url(url, extra_headers=headers, connect_timeout=30):
                gate.release()
                gated = False
                reached += 1
                counted()
                await done.wait()
        except Exception as e:  # an fd or connection limit: report how far we got
            if gated:
                counted()
            why = f"{type(e).__name__}: {e}"
        finally:
            if gated:
                gate.release()

    async with trio.open_nursery() as nursery:
        for i in range(target):
            nursery.start_soon(idle, i)
        await all_up.wait()
        async with open_websocket_url(url, extra_headers=headers) as ws:
            status = await _rpc(ws, 1, "status")  # the daemon's own count, on stderr
            print(f"  (daemon: {status.get('connections')} connections)", file=sys.stderr)
        await trio.sleep(1.0)  # let the daemon settle before reading its RSS
        after = rss_mb(pid)
        done.set()
    return reached, before, after, why


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    args = ap.parse_args()
    runs, clients, idle = (3, 100, 500) if args.quick else (20, 1000, 10_000)
    raise_nofile()
    tmp = Path(tempfile.mkdtemp(prefix="claw-bench-gw-"))
    home = Home(tmp / "home")
    initialise(home)
    proc, port = start_daemon(home)
    url, token = f"ws://127.0.0.1:{port}/ws", load_token(home)
    ok = True
    try:
        daemon_s, local_s = row_a(home, runs)
        ratio = local_s / daemon_s
        ok &= daemon_s <= 0.2 and ratio >= 10
        cpu0, own0 = cpu_times(proc.pid), time.process_time()
        b = trio.run(row_b, url, token, clients, [500.0, 100.0], 3)
        cpu1, own1 = cpu_times(proc.pid), time.process_time()
        calls = clients * (1 + 2 * 3)  # the burst, then 3 calls each at two rates
        user_ms, sys_ms = ((cpu1[i] - cpu0[i]) / calls * 1000 for i in (0, 1))
        client_ms = (own1 - own0) / calls * 1000
        _rate, got, _p50, p99 = b["paced"][0]
        ok &= p99 <= 0.05 and got >= 500 * 0.95
        floor = litellm_floor()
        turns = [turn_ceiling(n, 1.0 if args.quick else 5.0) for n in (1, 2)]
        reached, before, after, why = trio.run(row_c, url, token, idle, proc.pid)
        ok &= reached == idle and after <= 1024
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    ms = 1000  # seconds to ms in the table
    print(f"{'row':<58} {'value':>28}  target")
    print(f"{'a. claw send via daemon, median of ' + str(runs):<58} {daemon_s:>26.3f} s  <= 0.2 s")
    print(f"{'a. claw send --local, median of ' + str(runs):<58} {local_s:>26.3f} s")
    print(f"{'a. ratio local / daemon':<58} {ratio:>27.1f}x  >= 10x")
    print(
        f"{f'b. {clients} clients, burst: calls/s, p50/p99':<58} "
        f"{b['burst_rate']:>8.0f}/s {b['burst_p50'] * ms:>7.1f}/{b['burst_p99'] * ms:.1f} ms"
        "  (ceiling)"
    )
    for rate, got, p50, p99 in b["paced"]:
        target = "  p99 <= 50 ms at >= 500/s" if rate == 500 else "  (below the ceiling)"
        print(
            f"{f'b. {clients} clients, paced {rate:.0f}/s: calls/s, p50/p99':<58} "
            f"{got:>8.0f}/s {p50 * ms:>7.1f}/{p99 * ms:.1f} ms{target}"
        )
    print(
        f"{'b. daemon CPU per call over row b, user / system':<58} "
        f"{user_ms:>14.2f} / {sys_ms:.2f} ms  (all threads)"
    )
    print(f"{'b. clients CPU per call (this process, over row b)':<58} {client_ms:>25.2f} ms")
    print(
        f"{'b. floor: one bare litellm.completion (echo), CPU':<58} {floor * ms:>25.2f} ms"
        f"  (= at most {1 / floor:.0f}/s on one core)"
    )
    print(
        f"{'b. ceiling: in-process echo turns/s, 1 / 2 processes':<58} "
        f"{turns[0]:>17.0f} / {turns[1]:.0f}/s  (no gateway, no clients)"
    )
    print(f"{f'c. idle authenticated connections reached (of {idle})':<58} {reached:>28}  ({why})")
    print(
        f"{'c. daemon RSS before / with them':<58} {before:>12.0f} / {after:>8.0f} MB  <= 1024 MB"
    )
    print("PASS" if ok else "some targets missed (see above)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
