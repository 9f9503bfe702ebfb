"""Benchmark: what the per-call time limit costs a tool call.

A time-limited tool runs in a worker thread that the turn waits on (claw.agent.tools.limits).
This prints, for the cheapest real tool (`current_time`) and a no-op tool:
- direct: `tool.call(args, ctx)`, no registry;
- registry: `ToolRegistry.call` (JSON parse, schema validation, the worker thread, truncation);
- limit: the worker thread alone (`limits.run_limited` around the direct call), the part
  this limit adds. Medians of N calls, in microseconds.

    .venv/bin/python bench/tool_call.py [--calls N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from claw.agent.tools import limits  # noqa: E402
from claw.agent.tools.base import ToolContext, ToolRegistry, ToolResult, object_schema  # noqa: E402
from claw.agent.tools.builtin import CurrentTimeTool  # noqa: E402


class Noop:
    name = "noop"
    description = "does nothing"
    parameters = object_schema({})

    def call(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        return ToolResult("ok")


def median_us(fn: Any, n: int) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e6)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    n = parser.parse_args().calls
    with tempfile.TemporaryDirectory() as tmp:
        ctx = ToolContext("main", Path(tmp), "agent:main:main", settings={"timeout_s": 60})
        registry = ToolRegistry()
        tools = [CurrentTimeTool(), Noop()]
        for tool in tools:
            registry.register(tool)
        print(f"{'tool':<14}{'direct':>10}{'registry':>10}{'limit':>10}   (median µs, {n} calls)")
        for tool in tools:
            direct = median_us(lambda t=tool: t.call({}, ctx), n)
            via = median_us(lambda t=tool: registry.call(t.name, "{}", ctx), n)
            limit = median_us(
                lambda t=tool: limits.run_limited(t.name, lambda: t.call({}, ctx), 60, ctx.abort),
                n,
            )
            print(f"{tool.name:<14}{direct:>10.1f}{via:>10.1f}{limit - direct:>10.1f}")


if __name__ == "__main__":
    main()
