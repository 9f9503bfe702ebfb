"""A scripted fake model provider for tests, registered like the built-ins.

`install(replies)` registers provider prefix "scripted" (model name "scripted/test").
Each entry of `replies` is consumed by one call: a str is streamed word by word, an
exception instance is raised. The messages of each call are kept in `calls`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from claw.agent import models
from claw.agent.providers.stream import chunk, fill_response, final


class Script:
    def __init__(self, replies: list[Any]) -> None:
        self.replies = list(replies)
        self.calls: list[list[dict[str, Any]]] = []

    def next(self, messages: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        self.calls.append([dict(m) for m in messages])
        if not self.replies:
            raise AssertionError("scripted model: no reply left in the script")
        reply = self.replies.pop(0)
        if isinstance(reply, BaseException):
            raise reply
        words = re.findall(r"\S+\s*|\s+", reply)
        for w in words:
            yield chunk(w)
        yield final(10, len(words))


def install(replies: list[Any], context_window: int = 8192) -> Script:
    from litellm.llms.custom_llm import CustomLLM

    script = Script(replies)

    class Handler(CustomLLM):
        def completion(self, model: str, messages: list, *a: Any, **kw: Any) -> Any:
            return fill_response(kw["model_response"], script.next(messages), "scripted/test")

        def streaming(self, model: str, messages: list, *a: Any, **kw: Any) -> Iterator[Any]:
            return script.next(messages)

    models.register_provider(
        models.Provider(
            prefix="scripted",
            handler_factory=Handler,
            models={
                "test": models.ModelInfo(
                    "scripted/test", "scripted/test", context_window, builtin=True
                )
            },
        )
    )
    return script
