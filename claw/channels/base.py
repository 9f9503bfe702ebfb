"""The channel interface: what the delivery queue and the daemon need from a channel.

A channel sends one part at a time and says, when it cannot, whether trying again could
help (`DeliveryError.permanent`) and when (`retry_after`). Inbound channels also run a
`start(inbound, task_status=...)` task that hands each received message to the inbound
journal before acknowledging it upstream (telegram, discord; see claw.channels.runtime).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import trio

if TYPE_CHECKING:
    from claw.delivery.inbox import InboundMessage

# Journals a received message durably and returns; the channel acknowledges upstream
# (advances an offset, answers 200) only after it returns.
InboundSink = Callable[["InboundMessage"], Awaitable[None]]


class DeliveryError(Exception):
    """A send that did not go through, classified by the channel."""

    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        retry_after: float | None = None,
        reason: str = "error",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.retry_after = retry_after
        self.reason = reason  # short class for `claw queue stats`: http_404, timeout, …


@dataclass(frozen=True)
class Outbound:
    """One part of a delivery, as handed to a channel."""

    to: str
    text: str
    account: str = "default"
    idempotency_key: str = ""  # stable across retries: receivers can drop a resend
    reply_to: str | None = None
    thread: str | None = None
    part: int = 0
    parts: int = 1
    meta: dict[str, Any] = field(default_factory=dict)

    def fields(self) -> dict[str, Any]:
        """What a receiver sees of a part (the webhook's body, the mock's record)."""
        return {
            "to": self.to,
            "text": self.text,
            "account": self.account,
            "idempotency_key": self.idempotency_key,
            "part": self.part,
            "parts": self.parts,
            "reply_to": self.reply_to,
            "thread": self.thread,
        }


@dataclass(frozen=True)
class Receipt:
    message_id: str | None = None  # the channel's id of what it created, when it says


class Channel(Protocol):
    name: str
    max_message_chars: int  # the block chunker splits replies to fit

    async def send(self, message: Outbound) -> Receipt: ...

    async def aclose(self) -> None: ...

    def health(self) -> dict[str, Any]: ...


class InboundChannel(Channel, Protocol):
    """A channel that also receives: `start` runs until cancelled, reporting readiness
    through `task_status` (so `nursery.start` returns once it is listening or polling),
    and hands every message to `inbound` before acknowledging it upstream."""

    async def start(
        self, inbound: InboundSink, *, task_status: trio.TaskStatus[None] = ...
    ) -> None: ...
