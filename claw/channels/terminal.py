"""The terminal: `claw chat` is its inbound side, a per-user mailbox its outbound side.

Inbound, `claw chat` routes each line like any channel message (channel `terminal`, the
peer is the local user name), so bindings and `dm_scope` pick the agent and session the
same way as for Telegram. It is the owner at the keyboard: no pairing.

Outbound, a message for `terminal:<user>` (a heartbeat whose target is "last" after a
`claw chat`, `claw notify --channel terminal --to <user>`) is appended to
`channels/terminal/<user>.jsonl`; `claw chat` shows the ones not yet shown when it starts
and after each reply, and remembers how far it has read (`<user>.read`).
"""

from __future__ import annotations

import getpass
import re
from pathlib import Path
from typing import Any

import trio

from claw.channels.base import DeliveryError, Outbound, Receipt
from claw.errors import InvalidName
from claw.state import jsonl
from claw.state.atomic import atomic_write_text
from claw.state.home import FILE_MODE, Home, make_private_dir
from claw.state.names import validate_simple_name
from claw.state.transcript import now_iso

MAX_MESSAGE_CHARS = 100_000


def local_user() -> str:
    """The peer id of whoever runs `claw chat`: the login name, made a safe name."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = "user"
    return re.sub(r"[^A-Za-z0-9_.-]", "-", name).strip(".-") or "user"


def mailbox(home: Home, user: str) -> Path:
    return home.root / "channels" / "terminal" / f"{validate_simple_name(user, 'user')}.jsonl"


def unread(home: Home, user: str) -> list[dict[str, Any]]:
    """Messages for `user` not shown yet; marks them shown."""
    path = mailbox(home, user)
    if not path.exists():
        return []
    marker = path.with_suffix(".read")
    try:
        seen = int(marker.read_text())
    except (FileNotFoundError, ValueError):
        seen = 0
    records = jsonl.read_all(path).records
    if seen > len(records):  # the mailbox was replaced: show it all again
        seen = 0
    atomic_write_text(marker, str(len(records)), mode=FILE_MODE)
    return records[seen:]


class TerminalChannel:
    name = "terminal"
    max_message_chars = MAX_MESSAGE_CHARS

    def __init__(self, home: Home) -> None:
        self.home = home
        self.sent = 0

    async def send(self, message: Outbound) -> Receipt:
        try:
            path = mailbox(self.home, message.to)
        except InvalidName as e:
            raise DeliveryError(e.message, permanent=True, reason="bad_user") from None
        record = {"text": message.text, "at": now_iso(), "key": message.idempotency_key}
        await trio.to_thread.run_sync(_append, path, record)
        self.sent += 1
        return Receipt(message_id=message.idempotency_key or None)

    async def aclose(self) -> None:
        return None

    def health(self) -> dict[str, Any]:
        return {"channel": self.name, "sent": self.sent}


def _append(path: Path, record: dict[str, Any]) -> None:
    make_private_dir(path.parent)
    jsonl.append_records(path, [record])
