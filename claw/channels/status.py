"""What the daemon knows about each channel's health, for `channels.status`.

One `ChannelStatus` per channel name, updated where things happen: the supervisor (started,
connected, failed, restarting), the inbound sink (a message arrived), and the delivery
worker's sends (through `Tracked`, the wrapper `Channels` hands out). Plain data: the
gateway method and `claw channels status` only render it.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from claw.channels.base import Channel, DeliveryError, Outbound, Receipt


@dataclass
class ChannelStatus:
    name: str
    receiving: bool = False  # the daemon runs its inbound side
    state: str = "idle"  # idle | starting | connected | listening (hooks) | backoff
    connected: bool = False
    connected_since: float | None = None
    last_inbound_at: float | None = None
    last_send_at: float | None = None  # last successful send
    last_error: str | None = None
    last_error_at: float | None = None
    restarts: int = 0
    next_restart_at: float | None = None
    received: int = 0
    sent: int = 0
    send_failures: int = 0

    def error(self, message: str) -> None:
        self.last_error, self.last_error_at = message, time.time()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class StatusBoard:
    """Every channel's status, created on first mention."""

    def __init__(self) -> None:
        self._by_name: dict[str, ChannelStatus] = {}

    def __getitem__(self, name: str) -> ChannelStatus:
        status = self._by_name.get(name)
        if status is None:
            status = self._by_name[name] = ChannelStatus(name)
        return status

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def inbound(self, name: str) -> None:
        status = self[name]
        status.received += 1
        status.last_inbound_at = time.time()


class Tracked:
    """A channel whose sends are counted on the board; everything else passes through."""

    def __init__(self, channel: Channel, status: ChannelStatus) -> None:
        self.channel, self.status = channel, status

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.channel, attr)

    async def send(self, message: Outbound) -> Receipt:
        try:
            receipt = await self.channel.send(message)
        except DeliveryError as e:
            self.status.send_failures += 1
            self.status.error(f"send: {e.reason}: {e.message}")
            raise
        self.status.sent += 1
        self.status.last_send_at = time.time()
        return receipt
