"""One round of tool calls: record the calls, run each through hooks and the registry,
record each result. Every call gets a result record, so the transcript never holds an
orphaned tool call (an abort between calls is closed by the turn's `interrupted`), and
whatever goes wrong in a call becomes its error result, for the model to read."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

from claw.agent import completion
from claw.agent.events import Event, ToolEnd, ToolStart
from claw.state import transcript

log = logging.getLogger(__name__)


def run_tools(turn: Any, calls: list[completion.ToolCall]) -> Iterator[Event]:
    turn.store.append(
        turn.key,
        [
            transcript.message(
                "assistant",
                turn.text,
                tool_calls=[c.to_message() for c in calls],
                model=turn.info.name,
            )
        ],
        agent=turn.agent_id,
    )
    turn.pending = list(calls)
    hooks, ctx = turn.env.hooks, turn.env.hook_ctx
    for call in calls:
        if turn.env.tool_ctx.abort.is_set():
            raise completion.Aborted()
        t0 = time.monotonic()
        yield ToolStart(call.id, call.name, call.arguments)
        args = _parse_args(call.arguments)
        try:
            result_text, is_error = _call(turn, call, args)
        except Exception as e:  # e.g. RecursionError copying arguments nested too deep
            result_text, is_error = f"{call.name} failed: {type(e).__name__}: {e}", True
        try:
            hooks.after_tool_call(ctx, call.name, args or {}, result_text, is_error)
        except Exception as e:  # the same arguments, copied for the hooks
            log.warning("after_tool_call hooks skipped for %s: %r", call.name, e)
        stored = hooks.tool_result_persist(ctx, call.name, result_text)
        turn.store.append(
            turn.key,
            [
                transcript.message(
                    "tool",
                    stored,
                    tool_call_id=call.id,
                    name=call.name,
                    is_error=is_error or None,
                )
            ],
            agent=turn.agent_id,
        )
        turn.pending.remove(call)
        turn.tools_used.append(call.name)
        yield ToolEnd(
            call.id, call.name, result_text, is_error, int((time.monotonic() - t0) * 1000)
        )


def _call(turn: Any, call: completion.ToolCall, args: dict[str, Any] | None) -> tuple[str, bool]:
    """The before_tool_call hooks, then the tool: (result text, is_error)."""
    hooks, ctx = turn.env.hooks, turn.env.hook_ctx
    decision = hooks.before_tool_call(ctx, call.name, args) if args is not None else None
    if decision is not None and decision.blocked:
        return f"blocked: {decision.blocked}", True
    raw: Any = decision.args if decision is not None else call.arguments
    result = turn.env.registry.call(call.name, raw, turn.env.tool_ctx)
    return result.content, result.is_error


def _parse_args(raw: str) -> dict[str, Any] | None:
    try:
        value = json.loads(raw or "{}")
    except (ValueError, RecursionError):  # RecursionError: nested deeper than json can go
        return None
    return value if isinstance(value, dict) else None
