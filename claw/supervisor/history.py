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
    if messages <= 0 or not store.exists(key):
        return []
    out: list[dict[str, Any]] = []
    for m in store.history(key, WINDOW_TOKENS):
        content = str(m.get("content") or "").strip()
        if m.get("role") in ("user", "assistant") and content:
            out.append({"role": m["role"], "content": content})
        elif m.get("role") == "system" and content:  # a compaction summary
            out.append({"role": "user", "content": f"(earlier, summarised) {content}"})
    out = out[-messages:]
    while out and out[0]["role"] != "user":
        out.pop(0)
    return out
