"""Transcript records and their replay (DESIGN §3).

A transcript is JSONL: a `session` header, then `message` records (user, assistant with
its tool calls, tool results) and `compaction` records. `replay()` rebuilds exactly the
message list the model is given, which is why every rule about what the model sees lives
here and nowhere else:
- an assistant record with status "error" is a failed turn: neither it nor the user
  message it answers is replayed (the user saw an error, the model saw nothing);
- an "interrupted" assistant record keeps its partial text;
- a compaction replaces everything before `first_kept_id` with its summary;
- a retraction hides the messages from `from_id` through `to_id` from the model (they stay
  in the file): a heartbeat that had nothing to say leaves no trace in what the model
  reads next time, so idle checks do not grow every later prompt.
"""

from __future__ import annotations

import math
import secrets
import time
from datetime import UTC, datetime
from typing import Any

FORMAT_VERSION = 1
SUMMARY_PREFIX = "Summary of the earlier conversation:\n"
_MODEL_FIELDS = ("tool_calls", "tool_call_id", "name")


def now_iso(ts: float | None = None) -> str:
    ts = time.time() if ts is None else ts
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def new_id(prefix: str = "m") -> str:
    """Sortable, unique enough for several writers: ms timestamp + 48 random bits."""
    return f"{prefix}_{time.time_ns() // 1_000_000:012x}{secrets.token_hex(6)}"


def header(key: str, agent: str) -> dict[str, Any]:
    return {
        "type": "session",
        "version": FORMAT_VERSION,
        "id": new_id("s"),
        "key": key,
        "agent": agent,
        "ts": now_iso(),
    }


def message(role: str, content: str, **extra: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {"type": "message", "id": new_id(), "ts": now_iso(), "role": role}
    rec["content"] = content
    rec.update({k: v for k, v in extra.items() if v is not None})
    return rec


def compaction(summary: str, first_kept_id: str | None) -> dict[str, Any]:
    return {
        "type": "compaction",
        "id": new_id("c"),
        "ts": now_iso(),
        "summary": summary,
        "first_kept_id": first_kept_id,
    }


def retraction(from_id: str, to_id: str, reason: str) -> dict[str, Any]:
    return {
        "type": "retract",
        "id": new_id("r"),
        "ts": now_iso(),
        "from_id": from_id,
        "to_id": to_id,
        "reason": reason,
    }


def is_failed(rec: dict[str, Any]) -> bool:
    return rec.get("role") == "assistant" and rec.get("status") == "error"


def to_model_message(rec: dict[str, Any]) -> dict[str, Any]:
    msg: dict[str, Any] = {"role": rec["role"], "content": rec.get("content") or ""}
    for k in _MODEL_FIELDS:
        if k in rec:
            msg[k] = rec[k]
    return msg


def replay(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages the model sees for these records, in order."""
    return [m for _, m in replay_pairs(records)]


def replay_pairs(records: list[dict[str, Any]]) -> list[tuple[str | None, dict[str, Any]]]:
    """`replay`, with the id of the record each message comes from."""
    failed = {r.get("reply_to") for r in records if r.get("type") == "message" and is_failed(r)}
    present = {r.get("id") for r in records}
    hidden = {  # a range whose end is missing (a torn file) hides nothing
        r.get("from_id"): r.get("to_id")
        for r in records
        if r.get("type") == "retract" and r.get("to_id") in present
    }
    until: str | None = None  # inside a retracted range: the id that ends it
    kept: list[tuple[str | None, dict[str, Any]]] = []
    for rec in records:
        kind = rec.get("type")
        if kind == "message" and "role" in rec:
            rid = rec.get("id")
            if until is None and rid in hidden:
                until = hidden[rid]
            if until is not None:
                if rid == until:
                    until = None
                continue
            if is_failed(rec) or (rec["role"] == "user" and rid in failed):
                continue
            kept.append((rec.get("id"), to_model_message(rec)))
        elif kind == "compaction":
            ids = [mid for mid, _ in kept]
            first = rec.get("first_kept_id")
            start = ids.index(first) if first in ids else len(kept)
            summary = {"role": "system", "content": SUMMARY_PREFIX + str(rec.get("summary", ""))}
            kept = [(rec.get("id"), summary), *kept[start:]]
    return kept


def estimate_tokens(msg: dict[str, Any]) -> int:
    """A deliberately pessimistic count: 3 UTF-8 bytes a token, plus framing."""
    text = str(msg.get("content") or "")
    if "tool_calls" in msg:
        text += str(msg["tool_calls"])
    return 4 + math.ceil(len(text.encode("utf-8", "surrogatepass")) / 3)


def fit_history(messages: list[dict[str, Any]], budget_tokens: int) -> list[dict[str, Any]]:
    """The newest messages that fit in `budget_tokens`, starting at a clean boundary.

    The window never starts with an assistant message or a tool result (that would
    separate a tool call from its result or answer a question the model cannot see).
    A compaction summary at the start is kept when it fits.
    """
    return messages[fit_start(messages, budget_tokens) :]


def fit_start(messages: list[dict[str, Any]], budget_tokens: int) -> int:
    """Index of the first message of `fit_history`'s window."""
    return fit(messages, budget_tokens)[0]


def fit(messages: list[dict[str, Any]], budget_tokens: int) -> tuple[int, bool]:
    """(start of the window, whether the budget cut anything off).

    Walks from the newest message and stops at the budget, so the cost does not grow
    with messages that cannot fit anyway.
    """
    total = 0
    start = len(messages)
    cut = False
    for i in range(len(messages) - 1, -1, -1):
        cost = estimate_tokens(messages[i])
        if total + cost > budget_tokens:
            cut = True
            break
        total += cost
        start = i
    while start < len(messages) and messages[start]["role"] not in ("user", "system"):
        start += 1
    return start, cut
