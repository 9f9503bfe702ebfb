"""Typed events of a turn. Every entry point (CLI now; gateway and channels later) renders
the same stream, so a turn behaves identically whoever runs it."""

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
    status: str = "ok"  # ok | interrupted

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TurnStart:
    session_key: str
    agent_id: str
    model: str
    user_message_id: str


@dataclass
class TextDelta:
    text: str


@dataclass
class TurnEnd:
    result: TurnResult


Event = TurnStart | TextDelta | TurnEnd
