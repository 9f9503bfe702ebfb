"""The agent side: memory_search / memory_save as the model calls them, and auto-recall
through the before_agent_start hook (off by default, on per agent)."""

from __future__ import annotations

from datetime import datetime

import pytest

from claw.agent.tools.base import ToolContext, ToolRegistry
from claw.state.config import set_value
from claw.state.home import Home
from tests import scripted
from tests.agent._helpers import turn
from tests.memory import labelled


def _ctx(home: Home, agent: str = "main") -> ToolContext:
    return ToolContext(agent, home.agent_dir(agent), f"agent:{agent}:main", home_root=home.root)


def test_save_then_search(reg: ToolRegistry, home: Home) -> None:
    ctx = _ctx(home)
    r = reg.call("memory_save", '{"text": "Parking spot is B-17 on level -2"}', ctx)
    today = datetime.now().astimezone().strftime("%Y-%m-%d")
    assert not r.is_error and r.content == f"saved to agents/main/memory/{today}.md"
    r = reg.call("memory_save", '{"text": "Allergic to penicillin", "long_term": true}', ctx)
    assert r.content == "saved to agents/main/MEMORY.md"

    r = reg.call("memory_search", '{"query": "where did I park the car"}', ctx)
    assert not r.is_error
    first = r.content.splitlines()[0]
    assert first.startswith(f"1. [agents/main/memory/{today}.md:1 | {today}]")
    assert "B-17" in first
    r = reg.call("memory_search", '{"query": "penicillin allergy", "k": 1}', ctx)
    assert r.content.startswith("1. [agents/main/MEMORY.md:1 | long-term]")
    assert len(r.content.splitlines()) == 1


def test_search_is_per_agent_and_says_keyword_only(reg: ToolRegistry, home: Home, cli) -> None:
    assert cli("agents", "add", "work").exit_code == 0
    reg.call("memory_save", '{"text": "Quarterly report due Friday"}', _ctx(home, "work"))
    r = reg.call("memory_search", '{"query": "quarterly report"}', _ctx(home, "main"))
    assert r.content == "no memories match"
    set_value(home.config_file, "memory.embedding_model", "none")
    r = reg.call("memory_search", '{"query": "quarterly report"}', _ctx(home, "work"))
    lines = r.content.splitlines()
    assert lines[0] == "(keyword-only search: no embedding model configured)"
    assert "Quarterly report due Friday" in lines[1]
    r = reg.call("memory_save", '{"text": "   "}', _ctx(home))
    assert r.is_error and "empty" in r.content


def test_the_model_calls_the_memory_tools(home: Home) -> None:
    labelled.write(home)
    script = scripted.install(
        [
            {
                "text": "",
                "tool_calls": [{"name": "memory_search", "arguments": {"query": "guest wifi"}}],
            },
            "It is tangerine-otter-42.",
        ]
    )
    events = turn(home, "what's the guest wifi password?", model="scripted/test")
    assert events[-1].result.text == "It is tangerine-otter-42."
    tool_result = script.calls[1][-1]
    assert tool_result["role"] == "tool" and "tangerine-otter-42" in tool_result["content"]
    assert "agents/main/memory/2026-10-20.md:1 | 2026-10-20" in tool_result["content"]


def test_auto_recall_is_off_by_default_and_on_per_agent(home: Home) -> None:
    labelled.write(home)
    script = scripted.install(["ok", "ok", "ok"])
    turn(home, "what is the guest wifi password?", model="scripted/test")
    assert "Memories that may be relevant" not in script.calls[0][0]["content"]

    set_value(home.config_file, "agents.main.auto_recall", "true")
    turn(home, "what is the guest wifi password?", model="scripted/test")
    system = script.calls[1][0]["content"]
    assert "Memories that may be relevant" in system
    assert "[agents/main/memory/2026-10-20.md:1 | 2026-10-20] # 2026-10-20 - 09:00 Wifi" in system
    assert "sessions/transcripts/agent~main~main.jsonl" not in system  # not this conversation

    set_value(home.config_file, "memory.auto_recall", "true")
    set_value(home.config_file, "agents.main.auto_recall", "false")
    turn(home, "what is the guest wifi password?", model="scripted/test")
    assert "Memories that may be relevant" not in script.calls[2][0]["content"]


@pytest.mark.parametrize("chat", ["ok", "thanks!", "good morning", "tell me a joke", "lol"])
def test_auto_recall_spends_no_tokens_on_small_talk(home: Home, chat: str) -> None:
    """Ranking is relative (the best BM25 hit always scores high), so without a floor on
    similarity every "ok" paid for three unrelated memories in the prompt."""
    labelled.write(home)
    set_value(home.config_file, "memory.auto_recall", "true")
    script = scripted.install(["ok", "ok"])
    turn(home, chat, model="scripted/test")
    assert "Memories that may be relevant" not in script.calls[0][0]["content"]
    turn(home, "what is the guest wifi password?", model="scripted/test")
    assert "Wifi password" in script.calls[1][0]["content"]  # a real question still recalls
