"""Every tool call has a time limit: a hung tool turns into an error result the model can
react to, the turn goes on, and abandoned threads are bounded. exec and MCP keep theirs."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from claw.agent import env
from claw.agent.events import AgentEnd, ToolEnd
from claw.agent.tools.base import ToolContext, ToolRegistry, ToolResult, object_schema
from claw.agent.tools.shell import ExecTool
from claw.state import config as cfg
from claw.state.home import Home
from tests import scripted
from tests.agent._helpers import msgs, turn


class HangTool:
    """A tool (as a plugin or a built-in could be) that blocks until released."""

    name = "hang"
    description = "Blocks until the test releases it."
    parameters = object_schema({})

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Event()

    def call(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        self.started.set()
        self.release.wait(30)
        return ToolResult("finally done")


def _settle(limit: float = 10) -> int:
    """Wait for abandoned calls of earlier tests to end; how many are still running."""
    from claw.agent.tools import limits

    deadline = time.monotonic() + limit
    while limits.stranded() and time.monotonic() < deadline:
        time.sleep(0.02)
    return limits.stranded()


@pytest.fixture
def hang() -> Iterator[HangTool]:
    tool = HangTool()
    yield tool
    tool.release.set()  # let the stranded threads finish, and wait for them
    assert _settle() == 0


@pytest.fixture
def claw_log(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> Any:
    monkeypatch.setattr(logging.getLogger("claw"), "propagate", True)
    caplog.set_level(logging.WARNING, logger="claw.agent.tools")
    return caplog


def _ctx(tmp_path: Path, **settings: Any) -> ToolContext:
    return ToolContext("main", tmp_path, "agent:main:main", settings=settings)


def _run_bounded(fn: Any, limit: float) -> Any:
    """Run fn in a thread; fail (instead of hanging the suite) if it takes over `limit`."""
    box: dict[str, Any] = {}
    t = threading.Thread(target=lambda: box.update(value=fn()), daemon=True)
    t.start()
    t.join(limit)
    assert not t.is_alive(), f"still running after {limit}s: the call has no time limit"
    return box["value"]


def test_hung_tool_becomes_an_error_result_and_the_turn_goes_on(
    home: Home, hang: HangTool, monkeypatch: pytest.MonkeyPatch, claw_log: Any
) -> None:
    cfg.set_value(home.config_file, "tools.timeout_s", "1")
    real = env.tools_for
    monkeypatch.setattr(env, "tools_for", lambda *a: [*real(*a), hang])
    script = scripted.install(
        [{"text": "", "tool_calls": [{"name": "hang", "arguments": {}}]}, "It hung; sorry."]
    )
    events = _run_bounded(lambda: turn(home, "go", model="scripted/test"), 60)
    end = [e for e in events if isinstance(e, ToolEnd)]
    assert len(end) == 1 and end[0].is_error
    assert 900 <= end[0].duration_ms < 5000  # the limit, not the tool, ended the call
    assert "hang timed out after 1s" in end[0].result
    assert isinstance(events[-1], AgentEnd) and events[-1].outcome == "ok"
    # The model saw the error result and answered; the transcript pairs call and result.
    tool_msgs = [m for m in script.calls[1] if m["role"] == "tool"]
    assert len(tool_msgs) == 1 and "timed out" in tool_msgs[0]["content"]
    stored = [m for m in msgs(home) if m["role"] == "tool"]
    assert len(stored) == 1 and stored[0]["is_error"] is True
    assert any("hang timed out after 1s" in r.getMessage() for r in claw_log.records)


def test_timed_out_threads_are_bounded(tmp_path: Path, hang: HangTool) -> None:
    from claw.agent.tools import limits

    registry = ToolRegistry()
    registry.register(hang)
    ctx = _ctx(tmp_path, timeout_s=0.05)
    assert _settle() == 0
    results = [registry.call("hang", "{}", ctx) for _ in range(limits.MAX_STRANDED + 3)]
    assert all(r.is_error for r in results)
    timed_out = [r for r in results if "timed out after" in r.content]
    refused = [r for r in results if "still running" in r.content]
    assert len(timed_out) == limits.MAX_STRANDED
    assert len(refused) == 3
    assert "not run" in refused[-1].content
    assert limits.stranded() == limits.MAX_STRANDED
    hang.release.set()  # the stranded threads finish: the slots come back
    assert _settle() == 0


def test_abort_ends_the_wait_for_a_hung_tool(tmp_path: Path, hang: HangTool) -> None:
    registry = ToolRegistry()
    registry.register(hang)
    ctx = _ctx(tmp_path, timeout_s=60)
    threading.Timer(0.2, ctx.abort.set).start()
    result = _run_bounded(lambda: registry.call("hang", "{}", ctx), 10)
    assert result.is_error and "stopped" in result.content


def test_an_exception_in_the_worker_is_still_the_error_result(tmp_path: Path) -> None:
    class Failing(HangTool):
        name = "quick"

        def call(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
            raise ValueError("bad input")

    registry = ToolRegistry()
    registry.register(Failing())
    result = registry.call("quick", "{}", _ctx(tmp_path, timeout_s=5))
    assert result.is_error and result.content == "quick failed: ValueError: bad input"


def test_exec_keeps_its_own_limit(tmp_path: Path) -> None:
    registry = ToolRegistry()
    registry.register(ExecTool(timeout_s=5))
    ctx = _ctx(tmp_path, timeout_s=1)
    result = _run_bounded(lambda: registry.call("exec", {"command": "sleep 1.5; echo ok"}, ctx), 10)
    assert not result.is_error and "ok" in result.content
