"""A turn's events as the gateway streams them: the `event` notifications' params.

`chat.send_stream` sends these to its caller; their `type`s are the README's stream events.
"""

from __future__ import annotations

from typing import Any

from claw.agent.events import (
    AgentEnd,
    AgentStart,
    Event,
    MessageDelta,
    ModeDecision,
    SubagentEnd,
    SubagentStart,
    ToolEnd,
    ToolStart,
)


def event_params(event: Event) -> dict[str, Any] | None:
    """A turn event as an `event` notification's params; None for internal events."""
    if isinstance(event, AgentStart):
        return {"type": "chat.start", "session_key": event.session_key, "model": event.model}
    if isinstance(event, MessageDelta):
        return {"type": "chat.delta", "text": event.text}
    if isinstance(event, ToolStart | ToolEnd):
        tool = {"type": "chat.tool", "name": event.name, "id": event.call_id}
        if isinstance(event, ToolStart):
            return tool | {"phase": "start"}
        return tool | {"phase": "end", "is_error": event.is_error, "ms": event.duration_ms}
    if isinstance(event, AgentEnd):
        r = event.result
        return {"type": "chat.end", "status": r.status, "message_id": r.message_id}
    if isinstance(event, ModeDecision):
        keys = ("mode", "intent", "score", "source", "reason")
        return {"type": "supervisor.mode"} | {k: getattr(event, k) for k in keys}
    if isinstance(event, SubagentStart):
        sub = {"id": event.subagent_id, "session_key": event.session_key}
        return {"type": "subagent.start"} | sub | {"task": event.task}
    if isinstance(event, SubagentEnd):
        return {
            "type": "subagent.end",
            "id": event.subagent_id,
            "session_key": event.session_key,
            "status": event.status,
            "ms": event.duration_ms,
        }
    return None
