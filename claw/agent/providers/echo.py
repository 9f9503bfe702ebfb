"""`echo`: replies with the user's last message. Deterministic, instant, offline.

A diagnostic model for scripts, benchmarks and tests: it exercises the whole path
(session, history, litellm, streaming, transcript) without a model's cost or variance.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from litellm.llms.custom_llm import CustomLLM

from claw.agent.providers.stream import chunk, fill_response, final


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for msg in reversed(messages):
        if msg.get("role") == "user":
            content = msg.get("content")
            if isinstance(content, list):  # OpenAI content parts
                return "".join(p.get("text", "") for p in content if isinstance(p, dict))
            return str(content or "")
    return ""


def echo_stream(messages: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    text = _last_user_text(messages)
    words = re.findall(r"\S+\s*|\s+", text)
    prompt = sum(len(str(m.get("content") or "").split()) for m in messages)
    for word in words:
        yield chunk(word)
    yield final(prompt, len(words))


class EchoHandler(CustomLLM):
    def completion(self, model: str, messages: list, *args: Any, **kwargs: Any) -> Any:
        return fill_response(kwargs["model_response"], echo_stream(messages), "echo")

    def streaming(self, model: str, messages: list, *args: Any, **kwargs: Any) -> Iterator[Any]:
        return echo_stream(messages)
