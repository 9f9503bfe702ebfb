"""McpServers against a real MCP server (tests/agent/mcp_servers/calc.py), stdio and HTTP.

Every test has a hard time limit: a hung event loop or child must fail fast, not stall CI.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from claw.agent.tools.base import ToolContext, ToolRegistry
from claw.agent.tools.mcp import McpServers, McpTool

CALC = Path(__file__).parent / "mcp_servers" / "calc.py"
STDIO = {"command": sys.executable, "args": [str(CALC)], "timeout_s": 10}

pytestmark = pytest.mark.timeout(30)


def ctx(tmp_path: Path) -> ToolContext:
    return ToolContext(agent_id="main", workspace=tmp_path, session_key="agent:main:main")


def by_name(tools: list[McpTool]) -> dict[str, McpTool]:
    return {t.name: t for t in tools}


def gone(pid: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def calc(tmp_path: Path) -> Iterator[McpServers]:
    with McpServers({"calc": STDIO}, log_dir=tmp_path / "logs") as servers:
        yield servers


@pytest.fixture
def http_url() -> Iterator[str]:
    """calc.py over streamable HTTP on a kernel-chosen 127.0.0.1 port."""
    proc = subprocess.Popen(
        [sys.executable, str(CALC), "--http"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(10)
        assert line and line[0].startswith("PORT "), f"server did not start: {line}"
        port = int(line[0].split()[1])
        deadline = time.monotonic() + 10
        while True:  # bounded readiness loop
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "HTTP server never accepted a connection"
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def test_nothing_starts_before_tools() -> None:
    servers = McpServers({"calc": STDIO, "off": {**STDIO, "enabled": False}})
    assert servers.status() == {"calc": "not started"}
    servers.close()
    servers.close()  # idempotent
    assert servers.tools() == []


def test_stdio_tools_listed_with_schemas(calc: McpServers) -> None:
    tools = by_name(calc.tools())
    assert {"mcp__calc__add", "mcp__calc__slow", "mcp__calc__fail"} <= set(tools)
    add = tools["mcp__calc__add"]
    assert add.description == "Add two integers."
    assert add.parameters["type"] == "object"
    assert add.parameters["properties"]["a"]["type"] == "integer"
    assert sorted(add.parameters["required"]) == ["a", "b"]
    assert calc.status() == {"calc": "running"} and calc.errors == {}
    assert calc.tools()[0].name in tools  # second call: no restart, same tools


def test_stdio_call_end_to_end(calc: McpServers, tmp_path: Path) -> None:
    add = by_name(calc.tools())["mcp__calc__add"]
    result = add.call({"a": 2, "b": 3}, ctx(tmp_path))
    assert (result.content, result.is_error) == ("5", False)


def test_registry_validates_before_the_server_sees_it(calc: McpServers, tmp_path: Path) -> None:
    registry = ToolRegistry()
    for tool in calc.tools():
        registry.register(tool)
    calls: list[tuple[Any, ...]] = []
    original = calc.call

    def spy(*a: Any) -> Any:
        calls.append(a)
        return original(*a)

    calc.call = spy  # type: ignore[method-assign]  # every McpTool calls through its owner

    bad = registry.call("mcp__calc__add", '{"a": "two", "b": 3}', ctx(tmp_path))
    assert bad.is_error and "invalid arguments" in bad.content and "a" in bad.content
    missing = registry.call("mcp__calc__add", {"a": 1}, ctx(tmp_path))
    assert missing.is_error and "'b' is a required property" in missing.content
    assert calls == []
    good = registry.call("mcp__calc__add", '{"a": 40, "b": 2}', ctx(tmp_path))
    assert (good.content, good.is_error) == ("42", False) and len(calls) == 1


def test_slow_call_times_out_and_the_server_survives(tmp_path: Path) -> None:
    # timeout_s bounds start-up too: 3 s leaves a loaded machine room to start Python
    with McpServers({"calc": {**STDIO, "timeout_s": 3}}) as servers:
        tools = by_name(servers.tools())
        assert "mcp__calc__slow" in tools, servers.errors
        started = time.monotonic()
        result = tools["mcp__calc__slow"].call({"seconds": 20}, ctx(tmp_path))
        assert 2.5 < time.monotonic() - started < 7
        assert result.is_error and "timed out after 3s" in result.content
        again = tools["mcp__calc__add"].call({"a": 1, "b": 1}, ctx(tmp_path))
        assert (again.content, again.is_error) == ("2", False)
        assert servers.status() == {"calc": "running"}


def test_abort_cancels_a_call(calc: McpServers, tmp_path: Path) -> None:
    slow = by_name(calc.tools())["mcp__calc__slow"]
    c = ctx(tmp_path)
    threading.Timer(0.3, c.abort.set).start()
    started = time.monotonic()
    result = slow.call({"seconds": 20}, c)
    assert time.monotonic() - started < 3
    assert result.is_error and "cancelled" in result.content


def test_tool_error_is_an_error_result(calc: McpServers, tmp_path: Path) -> None:
    result = by_name(calc.tools())["mcp__calc__fail"].call({}, ctx(tmp_path))
    assert result.is_error and "this tool always fails" in result.content


def test_long_or_odd_names_are_sanitised_and_unique(tmp_path: Path) -> None:
    odd = "my.calc server/" * 5  # 75 characters, with dots, spaces and slashes
    with McpServers({odd: STDIO}) as servers:
        tools = servers.tools()
        names = [t.name for t in tools]
        assert len(set(names)) == len(names) == 4
        assert all(len(n) <= 64 and re.fullmatch(r"[A-Za-z0-9_-]+", n) for n in names)
        add = next(t for t in tools if t.remote_name == "add")
        assert add.call({"a": 1, "b": 2}, ctx(tmp_path)).content == "3"


def test_streamable_http(http_url: str, tmp_path: Path) -> None:
    conf = {"url": http_url, "headers": {"X-Test": "1"}, "timeout_s": 10}
    with McpServers({"web": conf}) as servers:
        tools = by_name(servers.tools())
        assert {"mcp__web__add", "mcp__web__slow", "mcp__web__fail"} <= set(tools)
        assert tools["mcp__web__add"].parameters["properties"]["b"]["type"] == "integer"
        result = tools["mcp__web__add"].call({"a": 2, "b": 3}, ctx(tmp_path))
        assert (result.content, result.is_error) == ("5", False)
        assert tools["mcp__web__fail"].call({}, ctx(tmp_path)).is_error


def test_broken_servers_are_skipped_not_raised(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    exits = "import sys; print('cannot start: no config', file=sys.stderr); sys.exit(3)"
    servers = McpServers(
        {
            "calc": STDIO,
            "missing": {"command": str(tmp_path / "no-such-server"), "timeout_s": 3},
            "exits": {"command": sys.executable, "args": ["-c", exits], "timeout_s": 3},
            "nohttp": {"url": f"http://127.0.0.1:{dead_port}/mcp", "timeout_s": 2},
            "both": {"command": "x", "url": "http://127.0.0.1:1/"},
        }
    )
    with servers:
        started = time.monotonic()
        names = {t.name for t in servers.tools()}
        assert time.monotonic() - started < 10  # within the largest timeout_s (calc's)
        assert "mcp__calc__add" in names and all(n.startswith("mcp__calc__") for n in names)
        assert set(servers.errors) == {"missing", "exits", "nohttp", "both"}
        assert "not found" in servers.errors["missing"]
        assert "cannot start: no config" in servers.errors["exits"]
        status = servers.status()
        assert status["calc"] == "running" and status["exits"].startswith("failed: ")
        # not retried on every call: the failure stands, quickly
        again = time.monotonic()
        servers.tools()
        assert time.monotonic() - again < 1 and set(servers.errors) == set(status) - {"calc"}


def test_hung_server_times_out(tmp_path: Path) -> None:
    hang = "import time; time.sleep(60)"
    with McpServers(
        {"hang": {"command": sys.executable, "args": ["-c", hang], "timeout_s": 1}}
    ) as s:
        started = time.monotonic()
        assert s.tools() == []
        # answered at the timeout; killing the child (~2 s more) happens in the background
        assert time.monotonic() - started < 2.5
        assert "no answer within 1s" in s.errors["hang"]


def test_close_leaves_no_child(tmp_path: Path) -> None:
    servers = McpServers({"calc": STDIO})
    pid_tool = by_name(servers.tools())["mcp__calc__pid"]
    pid = int(pid_tool.call({}, ctx(tmp_path)).content)
    os.kill(pid, 0)  # alive now
    servers.close()
    assert gone(pid)
    assert not [t for t in threading.enumerate() if "portal" in t.name.lower()]
    after = pid_tool.call({}, ctx(tmp_path))
    assert after.is_error and "not running" in after.content


def test_dead_server_gives_error_results(tmp_path: Path) -> None:
    with McpServers({"calc": STDIO}) as servers:
        tools = by_name(servers.tools())
        pid = int(tools["mcp__calc__pid"].call({}, ctx(tmp_path)).content)
        os.kill(pid, 9)
        assert gone(pid)
        result = tools["mcp__calc__add"].call({"a": 1, "b": 2}, ctx(tmp_path))
        assert result.is_error and "calc" in result.content
        assert servers.status()["calc"].startswith("failed: ")
