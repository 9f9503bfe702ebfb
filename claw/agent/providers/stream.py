"""Helpers shared by built-in providers to speak litellm's custom-provider protocol."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def chunk(text: str) -> dict[str, Any]:
    return {"text": text, "is_finished": False, "finish_reason": "", "usage": None, "index": 0}


def final(prompt_tokens: int, completion_tokens: int, reason: str = "stop") -> dict[str, Any]:
    return {
        "text": "",
        "is_finished": True,
        "finish_reason": reason,
        "index": 0,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def fill_response(model_response: Any, pieces: Iterator[dict[str, Any]], model: str) -> Any:
    """Collect a stream of chunks into litellm's ModelResponse (the non-streaming path).

    Built-in models run on this machine, so the reply is free: saying so up front spares
    litellm its per-call price lookup.
    """
    text = ""
    usage: dict[str, int] = {}
    reason = "stop"
    for piece in pieces:
        text += piece["text"]
        if piece["is_finished"]:
            usage, reason = piece["usage"] or {}, piece["finish_reason"]
    model_response.choices[0].message.content = text
    model_response.choices[0].finish_reason = reason
    model_response.model = model
    if usage:
        from litellm.types.utils import Usage

        model_response.usage = Usage(**usage)  # type: ignore[attr-defined]
    model_response._hidden_params["response_cost"] = 0.0
    return model_response
