"""An MCP tool called end to end: config → MCP server started by claw → model → transcript."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from claw.agent import env
from claw.agent.events import AgentEnd, ToolEnd
from claw.agent.turn import TurnRequest, run_turn
from claw.state import config as cfg
from claw.state.home import Home
from claw.state.jsonl import read_all
from claw.state.sessions import SessionStore
from tests import scripted

CALC = Path(__file__).parent / "mcp_servers" / "calc.py"


def _configure(home: Home) -> None:
    cfg.set_value(home.config_file, "mcp.servers.calc.command", sys.executable)
    cfg.set_value(home.config_file, "mcp.servers.calc.args", json.dumps([str(CALC)]))
    cfg.set_value(home.config_file, "mcp.servers.calc.timeout_s", "20")


@pytest.mark.timeout(60)
def test_model_calls_an_mcp_tool_through_the_runner(home: Home) -> None:
    _configure(home)
    script = scripted.install(
        [
            {
                "text": "Adding.",
                "tool_calls": [{"name": "mcp__calc__add", "arguments": {"a": 2, "b": 3}}],
            },
            lambda messages: f"The sum is {messages[-1]['content']}.",
        ]
    )
    store = SessionStore(home)
    try:
        events = list(
            run_turn(
                home,
                cfg.load(home.config_file),
                store,
                TurnRequest("what is 2+3?", model="scripted/test"),
            )
        )
    finally:
        env.close_mcp()
    tool_names = [t["function"]["name"] for t in script.params[0]["tools"]]
    assert "mcp__calc__add" in tool_names
    ends = [e for e in events if isinstance(e, ToolEnd)]
    assert [(e.name, e.result, e.is_error) for e in ends] == [("mcp__calc__add", "5", False)]
    assert isinstance(events[-1], AgentEnd) and events[-1].result.text == "The sum is 5."
    records = read_all(store.path("agent:main:main")).records
    tool_records = [r for r in records if r.get("role") == "tool"]
    assert tool_records and tool_records[0]["content"] == "5"


@pytest.mark.timeout(60)
def test_a_broken_mcp_server_does_not_stop_the_turn(home: Home) -> None:
    cfg.set_value(home.config_file, "mcp.servers.broken.command", "/nonexistent/mcp-server")
    cfg.set_value(home.config_file, "mcp.servers.broken.timeout_s", "5")
    script = scripted.install(["Fine without it."])
    store = SessionStore(home)
    try:
        events = list(
            run_turn(
                home, cfg.load(home.config_file), store, TurnRequest("hello", model="scripted/test")
            )
        )
        status = env.mcp_servers(cfg.load(home.config_file)).status()
    finally:
        env.close_mcp()
    assert events[-1].result.text == "Fine without it."
    assert status["broken"].startswith("failed")
    assert "current_time" in [t["function"]["name"] for t in script.params[0]["tools"]]


@pytest.mark.timeout(60)
def test_tools_list_shows_mcp_tools(home: Home, cli) -> None:
    _configure(home)
    r = cli("tools", "list", "--json")
    assert r.exit_code == 0, r.output
    names = [t["name"] for t in json.loads(r.stdout)]
    assert {"mcp__calc__add", "current_time", "read_file"} <= set(names)
    assert "exec" not in names
