"""Delivering one queue entry: the write-ahead steps around each channel send.

Before a part is sent the entry is rewritten as `sending` with its attempt counted; after
the channel acknowledges a part, `parts_sent` moves on. A crash between a send and its
acknowledgement therefore finds the entry `sending` at the same part, which is sent again:
at most one duplicate (receivers can drop it by its idempotency key), never a loss, and the
parts of one reply keep their order.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import trio

from claw.channels.base import Channel, DeliveryError, Outbound
from claw.delivery import policy
from claw.delivery.entry import Delivery
from claw.delivery.queue import QueueStore

log = logging.getLogger("claw.delivery")


@dataclass(frozen=True)
class Outcome:
    state: str  # delivered | retry | failed | gone
    error: str | None = None
    retry_at: float | None = None


async def deliver(
    store: QueueStore,
    entry: Delivery,
    channel: Channel,
    *,
    rng: random.Random | None = None,
    now: Callable[[], float] = time.time,
) -> Outcome:
    """Send the entry's remaining parts in order; record the outcome durably."""
    if not await trio.to_thread.run_sync(store.exists, entry.id):
        return Outcome("gone")  # purged meanwhile: nothing to send
    entry.state, entry.attempts = "sending", entry.attempts + 1
    await trio.to_thread.run_sync(store.save, entry)
    try:
        while entry.parts_sent < len(entry.parts):
            n = entry.parts_sent
            await channel.send(_outbound(entry, n))
            entry.parts_sent = n + 1
            if entry.parts_sent < len(entry.parts):
                await trio.to_thread.run_sync(store.save, entry)
    except DeliveryError as e:
        error = f"{e.reason}: {e.message}"
        decision = policy.after_failure(
            entry.attempts, now(), permanent=e.permanent, retry_after=e.retry_after, rng=rng
        )
        if decision.retry_at is None:
            assert decision.reason is not None
            await trio.to_thread.run_sync(store.fail, entry, decision.reason, error)
            log.warning("delivery %s failed (%s): %s", entry.id, decision.reason, error)
            return Outcome("failed", error)
        entry.state, entry.next_attempt_at, entry.last_error = (
            "pending",
            decision.retry_at,
            error,
        )
        await trio.to_thread.run_sync(store.save, entry)
        log.info("delivery %s: attempt %d failed (%s)", entry.id, entry.attempts, error)
        return Outcome("retry", error, decision.retry_at)
    if entry.inbound_id:  # before the entry goes: see claw.delivery.inbox (replies)
        await trio.to_thread.run_sync(store.mark_inbound_done, entry)
    if entry.origin:  # likewise: a scheduled sender's retry must find it sent
        await trio.to_thread.run_sync(store.mark_origin_done, entry, "delivered")
    await trio.to_thread.run_sync(store.delivered, entry)
    return Outcome("delivered")


def _outbound(entry: Delivery, n: int) -> Outbound:
    return Outbound(
        to=entry.to,
        text=entry.parts[n],
        account=entry.account,
        idempotency_key=entry.part_key(n),
        reply_to=entry.reply_to if n == 0 else None,
        thread=entry.thread,
        part=n,
        parts=len(entry.parts),
    )
