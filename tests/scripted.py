"""A scripted fake model provider for tests, registered like the built-ins.

`install(replies)` registers provider prefix "scripted" (model "scripted/test"; with
`name="x"`, model "scripted/x"). Each entry of `replies` is consumed by one call:
- a str is streamed word by word (it may contain <think> tags);
- an exception instance is raised (before any text);
- a dict {"text": str, "tool_calls": [{"name", "arguments" (dict or str), "id"?}],
  "raise_after": Exception} streams text, then tool calls, then maybe raises mid-stream;
  with "stall": (n, seconds) it stops for `seconds` after its first n words (n = 0: before
  any, so a non-streaming call blocks that long), as a slow model does;
- a callable gets the messages and returns one of the above.
Each call's messages and optional params are kept in `calls` / `params`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

from claw.agent import models
from claw.agent.providers.stream import chunk, fill_response, final


def tool_chunk(index: int, call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {
        "text": "",
        "tool_use": {
            "id": call_id,
            "type": "function",
            "function": {"name": name, "arguments": arguments},
            "index": index,
        },
        "is_finished": False,
        "finish_reason": "",
        "usage": None,
        "index": 0,
    }


class Script:
    def __init__(self, replies: list[Any], delay: float = 0.0) -> None:
        self.replies = list(replies)
        self.calls: list[list[dict[str, Any]]] = []
        self.params: list[dict[str, Any]] = []
        self.delay = delay  # seconds between streamed words

    def next(self, messages: list[dict[str, Any]], params: dict[str, Any]) -> Iterator[Any]:
        self.calls.append([dict(m) for m in messages])
        self.params.append(dict(params))
        if not self.replies:
            raise AssertionError("scripted model: no reply left in the script")
        reply = self.replies.pop(0)
        if callable(reply) and not isinstance(reply, BaseException):
            reply = reply(messages)
        if isinstance(reply, BaseException):
            raise reply
        if isinstance(reply, str):
            reply = {"text": reply}
        return self._stream(reply)

    def _stream(self, reply: dict[str, Any]) -> Iterator[Any]:
        words = re.findall(r"\S+\s*|\s+", reply.get("text", ""))
        stall_at, stall_s = reply.get("stall", (-1, 0.0))
        for n, w in enumerate(words):
            if n == stall_at:
                time.sleep(stall_s)
            if self.delay:
                time.sleep(self.delay)
            yield chunk(w)
        if reply.get("raise_after") is not None:
            raise reply["raise_after"]
        for i, call in enumerate(reply.get("tool_calls", [])):
            args = call.get("arguments", {})
            raw = args if isinstance(args, str) else json.dumps(args)
            yield tool_chunk(i, call.get("id", f"call_{len(self.calls)}_{i}"), call["name"], raw)
        reason = "tool_calls" if reply.get("tool_calls") else "stop"
        yield final(10, max(1, len(words)), reason)


_scripts: dict[str, Script] = {}


def _handler() -> Any:
    from litellm.llms.custom_llm import CustomLLM

    class Handler(CustomLLM):
        def completion(self, model: str, messages: list, *a: Any, **kw: Any) -> Any:
            pieces = _scripts[model].next(messages, kw.get("optional_params") or {})
            return fill_response(kw["model_response"], pieces, f"scripted/{model}")

        def streaming(self, model: str, messages: list, *a: Any, **kw: Any) -> Iterator[Any]:
            return _scripts[model].next(messages, kw.get("optional_params") or {})

    return Handler()


def install(
    replies: list[Any],
    context_window: int = 8192,
    *,
    tools: bool = True,
    name: str = "test",
    delay: float = 0.0,
    builtin: bool = True,
) -> Script:
    """Script model scripted/<name>. builtin=False makes claw treat it like a hosted model
    (auth profiles from [providers.scripted], reasoning_effort passed through)."""
    script = Script(replies, delay)
    _scripts[name] = script
    existing = models._providers.get("scripted")
    known = dict(existing.models) if existing else {}
    known[name] = models.ModelInfo(
        f"scripted/{name}",
        f"scripted/{name}",
        context_window,
        supports_tools=tools,
        builtin=builtin,
    )
    models.register_provider(
        models.Provider(prefix="scripted", handler_factory=_handler, models=known)
    )
    return script
