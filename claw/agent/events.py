"""Typed events of a turn: the one stream every entry point renders.

The CLI prints them, the gateway will forward them as notifications, channels chunk
them. Whoever runs a turn sees the same sequence:
  AgentStart, (MessageStart, MessageDelta*, ReasoningDelta*, [ReasoningReset], MessageEnd,
  (ToolStart, ToolUpdate*, ToolEnd)*)*, [CompactionStart, CompactionEnd], Retry*, AgentEnd.
A supervised turn (claw.supervisor) is preceded by a ModeDecision; in multi mode the
SubagentStart / SubagentEnd of its subagents come before the final answer's events.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class TurnResult:
    session_key: str
    message_id: str
    text: str
    model: str
    usage: dict[str, int] = field(default_factory=dict)
    duration_ms: int = 0
    status: str = "ok"  # ok | silent | error | interrupted | timeout
    tools: list[str] = field(default_factory=list)  # tool names called, in order
    reasoning: str = ""
    mode: str = "single"  # how the supervisor ran it: fast | single | multi

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class AgentStart:
    session_key: str
    agent_id: str
    model: str
    user_message_id: str
    lane: str = "main"


@dataclass
class MessageStart:
    model: str


@dataclass
class MessageDelta:
    text: str


@dataclass
class ReasoningDelta:
    text: str


@dataclass
class ReasoningReset:
    """Drop the reasoning shown since the current model call began: that call failed and
    is retried, and the retry thinks afresh. Comes just before the Retry event."""

    chars: int  # how much streamed reasoning is void


@dataclass
class MessageEnd:
    text: str
    tool_calls: int = 0


@dataclass
class ToolStart:
    call_id: str
    name: str
    arguments: str


@dataclass
class ToolUpdate:
    call_id: str
    text: str


@dataclass
class ToolEnd:
    call_id: str
    name: str
    result: str
    is_error: bool
    duration_ms: int


@dataclass
class CompactionStart:
    reason: str
    messages: int


@dataclass
class CompactionEnd:
    summary_chars: int
    kept_messages: int


@dataclass
class Retry:
    reason: str  # the failover class: auth, rate_limit, overflow, format, …
    action: str  # next_profile | next_model | lower_thinking | compacted
    model: str
    detail: str = ""


@dataclass
class AgentEnd:
    result: TurnResult
    outcome: str  # same as result.status


# -- supervisor (claw.supervisor): how a turn was routed, and its subagents' progress ------


@dataclass
class ModeDecision:
    mode: str  # fast | single | multi
    intent: str  # the intent that matched (smalltalk, task, multi_part, ...) or "forced"
    score: float  # 0..1: similarity of the best example (1.0 for rules and forced modes)
    source: str  # rule | semantic | llm | forced | default | escalated | plan
    reason: str = ""


@dataclass
class SubagentStart:
    subagent_id: str
    session_key: str
    task: str


@dataclass
class SubagentEnd:
    subagent_id: str
    session_key: str
    status: str  # ok | error | timeout | interrupted
    duration_ms: int
    text: str = ""  # its answer, or why it failed


Event = (
    AgentStart
    | MessageStart
    | MessageDelta
    | ReasoningDelta
    | ReasoningReset
    | MessageEnd
    | ToolStart
    | ToolUpdate
    | ToolEnd
    | CompactionStart
    | CompactionEnd
    | Retry
    | AgentEnd
    | ModeDecision
    | SubagentStart
    | SubagentEnd
)

# Kept for the callers written against the first runner.
TextDelta = MessageDelta
TurnStart = AgentStart
TurnEnd = AgentEnd
