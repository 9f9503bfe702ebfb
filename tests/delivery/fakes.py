"""A scripted in-memory channel for delivery tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import trio

from claw.channels.base import DeliveryError, Outbound, Receipt


@dataclass
class FakeChannel:
    """Records every send; `script[to]` is a list of outcomes consumed one per send:
    "ok", "transient", "permanent", or a number (transient with that retry_after)."""

    name: str = "fake"
    max_message_chars: int = 4096
    script: dict[str, list[object]] = field(default_factory=dict)
    sent: list[Outbound] = field(default_factory=list)
    delay: float = 0.0
    on_send: Callable[[Outbound], None] | None = None

    async def send(self, message: Outbound) -> Receipt:
        if self.delay:
            await trio.sleep(self.delay)
        todo = self.script.get(message.to) or []
        outcome = todo.pop(0) if todo else "ok"
        if outcome == "permanent":
            raise DeliveryError("chat not found", permanent=True, reason="http_404")
        if outcome == "transient":
            raise DeliveryError("server error", permanent=False, reason="http_500")
        if isinstance(outcome, int | float):
            raise DeliveryError(
                "slow down", permanent=False, retry_after=outcome, reason="http_429"
            )
        self.sent.append(message)
        if self.on_send is not None:
            self.on_send(message)
        return Receipt(f"m{len(self.sent)}")

    async def aclose(self) -> None:
        return None

    def health(self) -> dict[str, object]:
        return {"ok": True}


async def run_worker_until(store: Any, chan: FakeChannel, sent: int) -> None:
    """Run a delivery worker over `store` until `chan` has `sent` messages, then stop it."""
    from claw.delivery.worker import Worker

    worker = Worker(store, lambda name: chan)
    async with trio.open_nursery() as nursery:
        await nursery.start(worker.run)
        while len(chan.sent) < sent:
            await trio.sleep(0.02)
        nursery.cancel_scope.cancel()
