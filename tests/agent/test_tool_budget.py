"""Tool definitions are part of the request: they count in the context budget, and more
than MAX_TOOLS of them is refused with an error that says how to cut them down."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from claw.agent import env, models
from claw.agent.tools.base import ToolContext, ToolResult, object_schema
from claw.errors import ConfigError
from claw.state import config as cfg
from claw.state import transcript
from claw.state.home import Home
from claw.state.sessions import SessionStore
from tests import scripted
from tests.agent._helpers import MAIN, turn

MAX_TOOLS = 128  # OpenAI refuses more tools in one request


class Dummy:
    def __init__(self, name: str, description: str = "does a thing") -> None:
        self.name = name
        self.description = description
        self.parameters = object_schema({"x": {"type": "string", "description": "an input"}})

    def call(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        return ToolResult("done")


def _fill_history(home: Home, exchanges: int, size: int) -> None:
    store = SessionStore(home)
    try:
        for i in range(exchanges):
            store.append(
                MAIN,
                [
                    transcript.message("user", f"question {i} " + "q" * size),
                    transcript.message("assistant", f"answer {i} " + "a" * size),
                ],
                agent="main",
            )
    finally:
        store.close()


def _tokens(text: str) -> int:
    return math.ceil(len(text.encode()) / 3)


def test_tool_schemas_count_in_the_history_budget(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    window, reply = 4096, 256
    cfg.set_value(home.config_file, "model.max_tokens", str(reply))
    # Twenty wordy tools: their schemas alone take over a third of the window.
    tools = [Dummy(f"tool_{i:02d}", "a tool with a long description") for i in range(20)]
    monkeypatch.setattr(env, "tools_for", lambda *a: tools)
    _fill_history(home, 60, 300)
    script = scripted.install(["ok"], context_window=window)
    turn(home, "and now?", model="scripted/test")
    sent_msgs, sent_tools = script.calls[0], script.params[0].get("tools")
    assert sent_tools and len(sent_tools) == 20
    tool_tokens = _tokens(json.dumps(sent_tools))
    assert tool_tokens > window // 3  # the test means something
    msg_tokens = sum(transcript.estimate_tokens(m) for m in sent_msgs)
    assert msg_tokens + tool_tokens <= window - reply, "the request overflows the context"
    assert sent_msgs[-1]["content"] == "and now?"


def test_more_than_max_tools_is_a_clear_error(home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    real = env.tools_for
    extra = [Dummy(f"mcp__big__t{i}") for i in range(MAX_TOOLS)]
    monkeypatch.setattr(env, "tools_for", lambda *a: [*real(*a), *extra])
    scripted.install(["never asked"])
    with pytest.raises(ConfigError) as err:
        turn(home, "hello", model="scripted/test")
    text = err.value.message + " " + (err.value.hint or "")
    total = len(real(cfg.load(home.config_file), home.root, [])) + MAX_TOOLS
    assert f"{total} tools" in text and str(MAX_TOOLS) in text
    assert "mcp.servers.big.enabled = false" in text
    assert f"big: {MAX_TOOLS}" in text
    store = SessionStore(home)
    try:
        assert not store.exists(MAIN)  # nothing written: the session is as it was
    finally:
        store.close()


def test_exactly_max_tools_is_fine(home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(env, "tools_for", lambda *a: [Dummy(f"t{i}") for i in range(MAX_TOOLS)])
    script = scripted.install(["fine"], context_window=128_000)
    turn(home, "hello", model="scripted/test")
    assert len(script.params[0]["tools"]) == MAX_TOOLS


def test_hosted_models_that_call_functions_get_tools() -> None:
    assert models.resolve("openai/gpt-4o-mini").supports_tools is True
    assert models.resolve("openai/no-such-model-xyz").supports_tools is False
    assert models.resolve("echo").supports_tools is False
