"""The short, text-only history window that fast mode and the planner send.

Tool calls and tool results are left out (no tools are offered on these calls, and some
providers refuse tool messages without tool definitions); what remains is the last few
things the user and the assistant said, starting with something the user said.
"""

from __future__ import annotations

from typing import Any

from claw.state.sessions import SessionStore

WINDOW_TOKENS = 4000  # read no more than this much of the transcript's tail


def text_window(store: SessionStore, key: str, messages: int) -> list[dict[str, Any]]:
    if messages <= 0:
        return []  # (a missing session reads as an empty history)
    out = [
        t
        for m in store.history(key, WINDOW_TOKENS, lambda ms: _enough(ms, messages))
        if (t := _text(m))
    ]
    out = out[-messages:]
    while out and out[0]["role"] != "user":
        out.pop(0)
    return out


def _text(m: dict[str, Any]) -> dict[str, Any] | None:
    """What the window keeps of a message, or None for tool traffic and empty turns."""
    content = str(m.get("content") or "").strip()
    if not content:
        return None
    if m.get("role") in ("user", "assistant"):
        return {"role": m["role"], "content": content}
    if m.get("role") == "system":  # a compaction summary
        return {"role": "user", "content": f"(earlier, summarised) {content}"}
    return None


def _enough(read: list[dict[str, Any]], messages: int) -> bool:
    """The newest `messages` kept messages are all in what was read: no need to read on
    (a long session's tail is then a few kilobytes, not the whole token window)."""
    return sum(1 for m in read if _text(m)) >= messages
