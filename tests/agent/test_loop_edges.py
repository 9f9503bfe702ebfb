"""Edge cases of the agent loop found in an audit: how a turn ends when its consumer
stops early, and what a misbehaving tool, MCP server or hook can (not) do to a turn."""

from __future__ import annotations

from typing import Any

import pytest

from claw.agent.events import AgentEnd
from claw.agent.turn import TurnRequest, run_turn
from claw.state import config as cfg
from claw.state.home import Home
from claw.state.sessions import SessionStore
from tests import scripted
from tests.agent._helpers import msgs


def _summary(home: Home) -> list[tuple[str, Any]]:
    return [(m["role"], m.get("status")) for m in msgs(home)]


@pytest.mark.timeout(30)
def test_closing_the_stream_after_agent_end_records_nothing_more(home: Home) -> None:
    """A consumer that stops at AgentEnd (or whose rendering of it fails) closes the
    generator at its last yield: the finished turn must not gain an 'interrupted' copy."""
    scripted.install(["Hello there."])
    store = SessionStore(home)
    events = run_turn(
        home, cfg.load(home.config_file), store, TurnRequest("hi", model="scripted/test")
    )
    try:
        for event in events:
            if isinstance(event, AgentEnd):
                break
        events.close()
    finally:
        store.close()
    assert _summary(home) == [("user", None), ("assistant", "ok")]
