"""One streamed model call through litellm: text, reasoning and tool-call deltas.

This is the only place that talks to `litellm.completion`; the runner decides what to do
with what comes back (retry, fall back, run tools). Errors leave here as ModelError with
a reason classified from litellm's exception type.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from claw.agent.models import ModelInfo, classify, litellm
from claw.agent.pump import Stopped, pumped
from claw.errors import ModelError
from claw.state.transcript import new_id


class Aborted(Exception):
    """The turn was cancelled (Ctrl-C, chat.abort, timeout) while the model streamed."""


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: str  # raw JSON text, validated later against the tool's schema

    def to_message(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }


@dataclass
class CallOptions:
    max_tokens: int
    timeout: float
    api_key: str | None = None
    api_base: str | None = None
    reasoning_effort: str | None = None
    tools: list[dict[str, Any]] | None = None
    live: bool = True  # the caller shows deltas as they arrive


@dataclass
class Completion:
    """What one call produced (filled while streaming, so partial on failure)."""

    text: str = ""
    reasoning: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=dict)
    finish_reason: str | None = None
    _partial: dict[int, dict[str, str]] = field(default_factory=dict)

    def add_usage(self, other: dict[str, int]) -> None:
        for k, v in other.items():
            self.usage[k] = self.usage.get(k, 0) + v


def stream(
    info: ModelInfo,
    messages: list[dict[str, Any]],
    opts: CallOptions,
    out: Completion,
    abort: threading.Event | None = None,
) -> Iterator[tuple[str, str]]:
    """Yield ("text" | "reasoning", delta) pairs; tool calls and usage land in `out`.

    An instant model whose deltas no one watches is called without streaming and yields
    its reply as one piece: same text, usage and tool calls, a quarter of litellm's cost.
    """
    whole = info.instant and not opts.live
    kwargs: dict[str, Any] = {
        "model": info.litellm_model,
        "messages": messages,
        "max_tokens": opts.max_tokens,
        "timeout": opts.timeout,
        "num_retries": 0,  # claw's failover decides about retries, not litellm
    }
    if not info.builtin:
        kwargs["max_retries"] = 0  # nor the provider's SDK (OpenAI's retries twice)
    for name in ("api_key", "api_base", "reasoning_effort", "tools"):
        value = getattr(opts, name)
        if value:
            kwargs[name] = value
    if not whole:
        kwargs |= {"stream": True, "stream_options": {"include_usage": True}}
    try:
        for chunk in _chunks(info, kwargs, whole, abort):
            if whole:
                yield from _take_whole(chunk, out)
                return
            if abort is not None and abort.is_set():
                raise Aborted()
            yield from _take(chunk, out)
        _finish_tool_calls(out)
    except (ModelError, Aborted):
        raise
    except Stopped:
        raise Aborted() from None
    except Exception as e:
        keyless = not opts.api_key and not info.builtin
        raise classify(e, info.name, keyless=keyless, litellm_model=info.litellm_model) from e


def _chunks(
    info: ModelInfo, kwargs: dict[str, Any], whole: bool, abort: threading.Event | None
) -> Iterator[Any]:
    """The response's chunks (or the whole response, as one item). With an abort flag the
    call runs in a helper thread (claw.agent.pump), so an abort is noticed while the model
    is silent, not only between pieces; an instant model (echo) is never silent."""

    def call() -> Iterator[Any]:
        response = litellm().completion(**kwargs)
        if whole:
            yield response
        else:
            try:
                yield from response
            finally:
                _close(response)

    if abort is None or info.instant:
        return call()
    return pumped(call, abort)


def _close(response: Any) -> None:
    """Free an abandoned stream's connection now, not when it is garbage-collected:
    litellm's wrapper has no close(), the provider's stream (openai.Stream) has."""
    for obj in (response, getattr(response, "completion_stream", None)):
        close = getattr(obj, "close", None)
        if callable(close):
            with contextlib.suppress(Exception):
                close()
            return


def _take(chunk: Any, out: Completion) -> Iterator[tuple[str, str]]:
    usage = getattr(chunk, "usage", None)
    if usage:
        _take_usage(usage, out)
    if not chunk.choices:
        return
    choice = chunk.choices[0]
    if choice.finish_reason:
        out.finish_reason = choice.finish_reason
    delta = choice.delta
    if delta is None:
        return
    reasoning = getattr(delta, "reasoning_content", None)
    if reasoning:
        out.reasoning += reasoning
        yield "reasoning", reasoning
    if delta.content:
        out.text += delta.content
        yield "text", delta.content
    for tc in getattr(delta, "tool_calls", None) or []:
        slot = out._partial.setdefault(int(tc.index or 0), {"id": "", "name": "", "args": ""})
        if tc.id:
            slot["id"] = tc.id
        fn = tc.function
        if fn is not None:
            if fn.name:
                slot["name"] += fn.name
            if fn.arguments:
                slot["args"] += fn.arguments


def _take_whole(response: Any, out: Completion) -> Iterator[tuple[str, str]]:
    """A non-streamed response, as the same pieces and `out` fields a stream gives."""
    usage = getattr(response, "usage", None)
    if usage:
        _take_usage(usage, out)
    choice = response.choices[0]
    out.finish_reason = choice.finish_reason
    message = choice.message
    reasoning = getattr(message, "reasoning_content", None)
    if reasoning:
        out.reasoning = reasoning
        yield "reasoning", reasoning
    if message.content:
        out.text = message.content
        yield "text", message.content
    made = _call_ids()
    for n, tc in enumerate(getattr(message, "tool_calls", None) or []):
        fn = tc.function
        out.tool_calls.append(ToolCall(tc.id or made(n), fn.name or "", fn.arguments or ""))


def _take_usage(usage: Any, out: Completion) -> None:
    out.usage = {
        "prompt_tokens": int(usage.prompt_tokens or 0),
        "completion_tokens": int(usage.completion_tokens or 0),
        "total_tokens": int(usage.total_tokens or 0),
    }


def _finish_tool_calls(out: Completion) -> None:
    made = _call_ids()
    for n, (_, slot) in enumerate(sorted(out._partial.items())):
        if slot["name"]:
            out.tool_calls.append(ToolCall(slot["id"] or made(n), slot["name"], slot["args"]))
    out._partial.clear()


def _call_ids() -> Callable[[int], str]:
    """Ids for the tool calls of one response whose provider gave none (local servers,
    some proxies). `call_<n>` alone would repeat in every round and turn, making tool
    results ambiguous (and some providers refuse such a history): one prefix per response,
    unique like a record id, then the call's index. At most 36 characters (OpenAI: 40)."""
    prefix = new_id("call")
    return lambda n: f"{prefix}_{n}"


def complete_text(
    info: ModelInfo,
    messages: list[dict[str, Any]],
    opts: CallOptions,
    abort: threading.Event | None = None,
) -> str:
    """A whole reply as text (for summaries); reasoning dropped. Aborted if `abort` is set."""
    out = Completion()
    for _ in stream(info, messages, opts, out, abort):
        pass
    return out.text
