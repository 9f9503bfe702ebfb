"""One round of tool calls: record the calls, run each through hooks and the registry,
record each result. Every call gets a result record, so the transcript never holds an
orphaned tool call (an abort between calls is closed by the turn's `interrupted`)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from claw.agent import completion
from claw.agent.events import Event, ToolEnd, ToolStart
from claw.state import transcript


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
        decision = hooks.before_tool_call(ctx, call.name, args) if args is not None else None
        if decision is not None and decision.blocked:
            result_text, is_error = f"blocked: {decision.blocked}", True
        else:
            raw: Any = decision.args if decision is not None else call.arguments
            result = turn.env.registry.call(call.name, raw, turn.env.tool_ctx)
            result_text, is_error = result.content, result.is_error
        hooks.after_tool_call(ctx, call.name, args or {}, result_text, is_error)
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


# -- endings ----------------------------------------------------------------------


def _parse_args(raw: str) -> dict[str, Any] | None:
    try:
        value = json.loads(raw or "{}")
    except (ValueError, RecursionError):  # RecursionError: nested deeper than json can go
        return None
    return value if isinstance(value, dict) else None
