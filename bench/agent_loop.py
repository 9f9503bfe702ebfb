"""Benchmark: the agent loop's own overhead per turn (issue #3).

Both columns run the same turn with the `echo` model and 100 messages of history:
- baseline: one plain `litellm.completion(..., stream=True)` call on those messages, asking
  for usage like claw does (`stream_options={"include_usage": True}`);
- claw: `run_turn` (session lane + global lane, prompt assembly, history read, two durable
  transcript appends, event stream) with the same model and history.
The loop's overhead is the difference of the medians. Target: ≤ 5 ms.

    .venv/bin/python bench/agent_loop.py [--turns N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from claw.agent.events import AgentEnd
from claw.agent.models import litellm, resolve
from claw.agent.turn import TurnRequest, run_turn
from claw.state import config as cfg
from claw.state import transcript
from claw.state.home import Home
from claw.state.init import initialise
from claw.state.sessions import SessionStore

KEY = "agent:main:main"
TARGET_MS = 5.0


def setup(root: Path) -> tuple[Home, SessionStore]:
    home = Home(root / "home")
    initialise(home)
    store = SessionStore(home)
    setup_records(store)
    return home, store


def time_claw(home: Home, store: SessionStore, turns: int) -> list[float]:
    conf = cfg.load(home.config_file)
    out = []
    for i in range(turns):
        # Exactly 100 messages of history before every timed turn (not timed).
        store.clear(KEY)
        setup_records(store)
        t0 = time.perf_counter()
        for event in run_turn(home, conf, store, TurnRequest(f"ping {i}", model="echo")):
            if isinstance(event, AgentEnd):
                assert event.result.text == f"ping {i}"
        out.append((time.perf_counter() - t0) * 1000)
    return out


def time_baseline(store: SessionStore, turns: int) -> list[float]:
    lm = litellm()
    info = resolve("echo")
    history = store.history(KEY, 10**6)[-100:]
    out = []
    for i in range(turns):
        messages = [
            {"role": "system", "content": "You are claw."},
            *history,
            {"role": "user", "content": f"ping {i}"},
        ]
        t0 = time.perf_counter()
        text = "".join(
            (c.choices[0].delta.content or "") if c.choices else ""
            for c in lm.completion(
                model=info.litellm_model,
                messages=messages,
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        out.append((time.perf_counter() - t0) * 1000)
        assert text == f"ping {i}"
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--turns", type=int, default=200)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="claw-bench-loop-"))
    try:
        home, store = setup(root)
        time_claw(home, store, 20)  # warm up: imports, caches, litellm's first call
        time_baseline(store, 20)
        # Interleave rounds so slow phases of the machine hit both columns alike.
        claw_ms: list[float] = []
        base_ms: list[float] = []
        rounds = 10
        for _ in range(rounds):
            base_ms += time_baseline(store, args.turns // rounds)
            claw_ms += time_claw(home, store, args.turns // rounds)
        b, c = statistics.median(base_ms), statistics.median(claw_ms)
        overhead = c - b
        print(f"agent loop benchmark (echo model, 100 messages of history, n={len(claw_ms)})")
        print(f"{'what':<44} {'median ms':>10} {'p90 ms':>8}")
        print(f"{'baseline: litellm.completion (stream)':<44} {b:>10.2f} {_p90(base_ms):>8.2f}")
        print(f"{'claw: run_turn':<44} {c:>10.2f} {_p90(claw_ms):>8.2f}")
        verdict = "PASS" if overhead <= TARGET_MS else "FAIL"
        print(
            f"{'loop overhead (claw - baseline)':<44} {overhead:>10.2f} {'':>8}  "
            f"target ≤ {TARGET_MS:g} ms  {verdict}"
        )
        print(f"{'ratio claw / baseline':<44} {c / b:>10.2f}")
        return 0 if verdict == "PASS" else 1
    finally:
        shutil.rmtree(root, ignore_errors=True)


def setup_records(store: SessionStore) -> None:
    records = []
    for i in range(50):
        records.append(transcript.message("user", f"question {i}: " + "word " * 20))
        records.append(transcript.message("assistant", f"answer {i}: " + "word " * 30))
    store.append(KEY, records)


def _p90(xs: list[float]) -> float:
    return sorted(xs)[int(len(xs) * 0.9) - 1]


if __name__ == "__main__":
    sys.exit(main())
