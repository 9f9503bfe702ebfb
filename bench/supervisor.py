"""Benchmark: the supervisor (issue #9).

1. The intent classifier on the labelled set shipped in tests/supervisor/ (90 messages,
   English and Chinese, held out from the built-in examples): accuracy without the LLM
   fallback (target >= 90 %) and its cost per message (target <= 2 ms).
2. End-to-end latency with a scripted model that charges a fixed latency per call
   (CALL_S, plus PREFILL_S per 1,000 prompt tokens) and per tool round (TOOL_S):
   - small talk in fast mode vs single mode (same model; and with a smaller fast model);
   - a three-part request (each part: TOOLS_PER_PART tool rounds, then an answer) in
     multi mode (plan, three subagents in parallel, final answer) vs single mode (one
     loop doing the parts one after the other), with the subagent lane at 2 and at 3.

    .venv/bin/python bench/supervisor.py [--runs N]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

from bench._report import Row, fmt_s, new_home, report  # noqa: E402
from claw.agent import models  # noqa: E402
from claw.agent.events import AgentEnd  # noqa: E402
from claw.agent.providers.stream import chunk, final  # noqa: E402
from claw.agent.turn import TurnRequest  # noqa: E402
from claw.state import config as cfg  # noqa: E402
from claw.state import transcript  # noqa: E402
from claw.state.sessions import SessionStore  # noqa: E402
from claw.supervisor.classifier import Classifier  # noqa: E402
from claw.supervisor.dispatch import supervise  # noqa: E402
from claw.supervisor.intents import load_intents  # noqa: E402
from tests.supervisor._helpers import labelled  # noqa: E402  (the labelled set's reader)

CALL_S = {"big": 0.30, "small": 0.10}  # fixed latency of one call, per model
PREFILL_S = 0.02  # per 1,000 prompt tokens (tool schemas and history count)
TOOL_S = 0.40  # one tool round (the tool's own work: a search, a fetch)
TOOLS_PER_PART = 2
PARTS = ["the weather in Paris", "the weather in London", "the weather in Berlin"]
THREE = "Compare the weekend weather in Paris, London and Berlin and tell me where to go"


# -- 1. the classifier ----------------------------------------------------------------------


def bench_classifier(rounds: int) -> list[Row]:
    t0 = time.perf_counter()
    classifier = Classifier(load_intents())
    build = time.perf_counter() - t0
    rows = labelled()
    right = {m: 0 for m in ("fast", "single", "multi")}
    total = {m: 0 for m in right}
    for mode, text in rows:
        total[mode] += 1
        right[mode] += classifier.classify(text, min_score=0.3, margin=0.05).mode == mode
    accuracy = sum(right.values()) / len(rows)
    times = []
    for _ in range(rounds):
        for _, text in rows:
            t = time.perf_counter()
            classifier.classify(text, min_score=0.3, margin=0.05)
            times.append(time.perf_counter() - t)
    per_mode = ", ".join(f"{m} {right[m]}/{total[m]}" for m in right)
    return [
        Row(
            f"classifier accuracy, {len(rows)} labelled messages (no LLM)",
            f"{accuracy:.1%} ({per_mode})",
            ">= 90 %",
            accuracy >= 0.9,
        ),
        Row(
            "classifier cost per message, median / p99",
            f"{fmt_s(statistics.median(times))} / {fmt_s(sorted(times)[int(len(times) * 0.99)])}",
            "<= 2 ms",
            sorted(times)[int(len(times) * 0.99)] <= 0.002,
        ),
        Row("classifier build (once per intents config)", fmt_s(build), "", None),
    ]


# -- 2. end to end, with a model that charges latency ---------------------------------------


def _turn_tools(messages: list[dict[str, Any]]) -> int:
    """Tool results since the last user message: the tool rounds of this turn so far."""
    n = 0
    for m in reversed(messages):
        if m["role"] == "user":
            break
        n += m["role"] == "tool"
    return n


def reply_for(messages: list[dict[str, Any]]) -> dict[str, Any]:
    system = str(messages[0]["content"]) if messages[0]["role"] == "system" else ""
    user = next(str(m["content"]) for m in reversed(messages) if m["role"] == "user")
    call = {"tool_calls": [{"name": "current_time", "arguments": "{}"}]}
    if "supervisor of several assistants" in system:
        return {"text": json.dumps([f"Find {p}" for p in PARTS])}
    if "You are a subagent" in system:
        return call if _turn_tools(messages) < TOOLS_PER_PART else {"text": f"{user}: sunny."}
    if "subagents have worked on" in system:
        return {"text": "Paris and Berlin are sunny; go to Paris."}
    if "Fast mode:" in system or user != THREE:
        return {"text": "Hello! Nice to hear from you."}
    rounds = len(PARTS) * TOOLS_PER_PART
    return call if _turn_tools(messages) < rounds else {"text": "Paris is the best bet."}


def _handler() -> Any:
    from litellm.llms.custom_llm import CustomLLM

    class Handler(CustomLLM):
        def streaming(self, model: str, messages: list, *a: Any, **kw: Any) -> Any:
            params = kw.get("optional_params") or {}
            size = len(json.dumps(messages)) + len(json.dumps(params.get("tools") or []))
            reply = reply_for(messages)
            wait = CALL_S[model] + PREFILL_S * size / 4000
            wait += TOOL_S if reply.get("tool_calls") else 0.0
            time.sleep(wait)
            return _stream(reply)

    return Handler()


def _stream(reply: dict[str, Any]) -> Any:
    from tests.scripted import tool_chunk

    if reply.get("text"):
        yield chunk(reply["text"])
    for i, c in enumerate(reply.get("tool_calls", [])):
        yield tool_chunk(i, f"call_{time.monotonic_ns()}_{i}", c["name"], c["arguments"])
    yield final(100, 10, "tool_calls" if reply.get("tool_calls") else "stop")


def install() -> None:
    known = {
        n: models.ModelInfo(f"bench/{n}", f"bench/{n}", 32_000, supports_tools=True, builtin=True)
        for n in CALL_S
    }
    models.register_provider(models.Provider("bench", _handler, known))


def timed(home: Any, config: Any, text: str, mode: str, key: str) -> tuple[float, str]:
    store = SessionStore(home)
    t0 = time.perf_counter()
    end = None
    for event in supervise(home, config, store, TurnRequest(text, session_key=key, mode=mode)):
        if isinstance(event, AgentEnd):
            end = event.result
    took = time.perf_counter() - t0
    store.close()
    assert end is not None and end.status == "ok", end
    return took, end.mode


def seed_history(home: Any, key: str, n: int = 20) -> None:
    store = SessionStore(home, fsync=False)
    line = "Earlier we talked about trains, timetables and a museum visit. " * 3
    store.append(
        key,
        [transcript.message("user" if i % 2 == 0 else "assistant", line) for i in range(n)],
    )
    store.close()


def bench_latency(base: Path, runs: int) -> list[Row]:
    install()
    home = new_home(base, "e2e")
    for k, v in {"model.default": "bench/big", "sessions.fsync": "false"}.items():
        cfg.set_value(home.config_file, k, v)
    config = cfg.load(home.config_file)
    small_home = new_home(base, "e2e-small")
    for k, v in {
        "model.default": "bench/big",
        "supervisor.fast_model": "bench/small",
        "sessions.fsync": "false",
    }.items():
        cfg.set_value(small_home.config_file, k, v)
    small = cfg.load(small_home.config_file)
    models.litellm()  # imported before any clock starts

    def median(h: Any, c: Any, text: str, mode: str) -> float:
        out = []
        for i in range(runs):
            key = f"agent:main:b{mode}{i}{time.monotonic_ns()}"
            seed_history(h, key)
            took, ran = timed(h, c, text, mode, key)
            assert ran == mode, (ran, mode)
            out.append(took)
        return statistics.median(out)

    rows = []
    single = median(home, config, "good morning!", "single")
    fast = median(home, config, "good morning!", "fast")
    fast_small = median(small_home, small, "good morning!", "fast")
    rows += [
        Row("small talk, single mode (big model, tools, full history)", fmt_s(single), "", None),
        Row("small talk, fast mode (same model)", fmt_s(fast), "", None),
        Row("  ratio single / fast (same model)", f"{single / fast:.2f}x", "> 1", single > fast),
        Row("small talk, fast mode (fast_model: a smaller model)", fmt_s(fast_small), "", None),
        Row(
            "  ratio single / fast (smaller fast model)",
            f"{single / fast_small:.2f}x",
            "> 1",
            single > fast_small,
        ),
    ]
    single3 = median(home, config, THREE, "single")
    rows.append(Row("three-part request, single mode (parts in series)", fmt_s(single3), "", None))
    for cap in (2, 3):
        cfg.set_value(home.config_file, "lanes.subagent", str(cap))
        conf = cfg.load(home.config_file)
        multi = median(home, conf, THREE, "multi")
        rows.append(
            Row(f"three-part request, multi mode, lanes.subagent={cap}", fmt_s(multi), "", None)
        )
        rows.append(
            Row(
                f"  ratio single / multi (cap {cap})",
                f"{single3 / multi:.2f}x",
                "> 1",
                single3 > multi,
            )
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per latency row (median)")
    parser.add_argument("--rounds", type=int, default=50, help="passes over the labelled set")
    args = parser.parse_args()
    rows = bench_classifier(args.rounds)
    with tempfile.TemporaryDirectory() as tmp:
        rows += bench_latency(Path(tmp), args.runs)
    cost = (
        f"model: {CALL_S['big']:.2f} s a call (small model {CALL_S['small']:.2f} s), "
        f"+{PREFILL_S:.2f} s per 1k prompt tokens, +{TOOL_S:.2f} s a tool round; "
        f"{TOOLS_PER_PART} tool rounds per part"
    )
    return report(f"supervisor (issue #9); {cost}", rows)


if __name__ == "__main__":
    sys.exit(main())
