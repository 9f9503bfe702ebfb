"""A turn run again for the same inbound message after the daemon died mid-turn.

The first attempt stored the user's message before the model answered; the re-run finds
it and answers it, so the session (and the model) sees the question once.
"""

from __future__ import annotations

from typing import Any

from claw.state.sessions import SessionStore


def resumable_user(store: SessionStore, key: str, inbound_id: str | None) -> dict[str, Any] | None:
    """The user record of an earlier attempt at this inbound message that got no reply
    (the daemon died mid-turn), if it is the session's last message: the re-run answers
    it instead of asking the model the same question twice."""
    if not inbound_id or not store.exists(key):
        return None
    messages = [r for r in store.tail(key, 1).records if r.get("type") == "message"]
    last = messages[-1] if messages else None
    if last is not None and last.get("role") == "user" and last.get("inbound_id") == inbound_id:
        return last
    return None
