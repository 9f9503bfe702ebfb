"""What the CLI and the gateway do with the queue: enqueue, wait for an outcome, flush.

Kept apart from the commands (no typer here) so `claw notify`, `claw send --deliver`,
`claw queue` and the gateway's `queue.*` methods share one implementation.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import trio

from claw.channels.base import Channel, DeliveryError
from claw.delivery import entry as entries
from claw.delivery.entry import Delivery
from claw.delivery.flush import FlushReport, QueueBusy, flush
from claw.delivery.queue import QueueStore
from claw.errors import TimedOut, UsageError
from claw.state.config import Config
from claw.state.home import Home

WAIT_POLL_S = 0.05


class Channels:
    """The channels a deliverer uses, built on first use and closed at the end. A channel
    that cannot be built (unknown name, no such target) is a permanent delivery error.

    Sends are counted on `board` (what `channels.status` shows). In the daemon the same
    instance serves the delivery worker, the inbound side and the typing indicator, so a
    channel holds one connection pool and one view of its rate limits."""

    def __init__(self, home: Home, config: Config) -> None:
        from claw.channels.status import StatusBoard

        self.home, self.config = home, config
        self.board = StatusBoard()
        self._built: dict[str, Channel] = {}

    def __call__(self, name: str) -> Channel:
        from claw.channels.status import Tracked

        return Tracked(self.raw(name), self.board[name])  # type: ignore[return-value]

    def raw(self, name: str) -> Channel:
        channel = self._built.get(name)
        if channel is None:
            from claw.channels.registry import build_channel

            try:
                channel = build_channel(name, self.home, self.config)
            except UsageError as e:
                raise DeliveryError(e.message, permanent=True, reason="unknown_channel") from None
            self._built[name] = channel
        return channel

    async def rebuild(self, name: str) -> Channel:
        """A fresh instance (new connections, the current config), the old one closed."""
        old = self._built.pop(name, None)
        if old is not None:
            await old.aclose()
        return self.raw(name)

    async def aclose(self) -> None:
        for channel in self._built.values():
            await channel.aclose()
        self._built.clear()


def parse_target(spec: str) -> tuple[str, str]:
    """`CHANNEL:PEER` (as in `claw send --deliver telegram:12345`)."""
    channel, sep, peer = spec.partition(":")
    if not sep or not channel or not peer:
        raise UsageError(f"--deliver: expected CHANNEL:PEER (e.g. webhook:ops), got {spec!r}")
    return channel, peer


def enqueue(
    home: Home,
    channel: str,
    to: str,
    parts: list[str],
    *,
    account: str = "default",
    agent: str | None = None,
    session_key: str | None = None,
    reply_to: str | None = None,
    thread: str | None = None,
    inbound_id: str | None = None,
    origin: str | None = None,
    entry_id: str | None = None,
) -> Delivery:
    """Queue a message durably; known channel names only (a typo fails here, not later).
    `inbound_id` marks a reply to a journaled message, `origin` a scheduled send
    (claw.delivery.origins); `entry_id` a reserved queue id."""
    from claw.channels.registry import known_channels

    if channel not in known_channels():
        raise UsageError(
            f"unknown channel {channel!r}", hint="channels: " + ", ".join(known_channels())
        )
    entry = entries.make(
        channel,
        to,
        parts,
        account=account,
        agent=agent,
        session_key=session_key,
        reply_to=reply_to,
        thread=thread,
        inbound_id=inbound_id,
        origin=origin,
        entry_id=entry_id,
    )
    return QueueStore(home).enqueue(entry)


def enqueue_reply(
    home: Home, config: Config, target: str, text: str, **meta: str | None
) -> Delivery:
    """An agent's reply for `CHANNEL:PEER`, split into parts that fit the channel (at
    paragraph, line, then sentence boundaries; code fences kept whole or reopened)."""
    from claw.agent.chunker import chunk_text
    from claw.channels.registry import build_channel

    channel, peer = parse_target(target)
    built = build_channel(channel, home, config)
    limit = built.max_message_chars
    parts = chunk_text(text, limit)
    measure = getattr(built, "measure", None)  # a channel whose limit is not in characters
    if measure is not None:
        parts = fit(parts, limit, measure)
    return enqueue(home, channel, peer, parts, **meta)


def fit(parts: list[str], limit: int, measure: Callable[[str], int]) -> list[str]:
    """`parts` re-split where one exceeds `limit` as the channel counts (Telegram counts
    UTF-16 units, so an emoji is two): a part it refuses as too long would be lost."""
    from claw.agent.chunker import MIN_MAX_CHARS, chunk_text

    out: list[str] = []
    for part in parts:
        size, pieces = limit, [part]
        while size > MIN_MAX_CHARS and max(map(measure, pieces)) > limit:
            excess = max(measure(p) - limit for p in pieces)
            size = max(MIN_MAX_CHARS, size - excess)
            pieces = chunk_text(part, size)
        out.extend(pieces)
    return out


def outcome(store: QueueStore, entry_id: str) -> str:
    """pending | failed | delivered (gone from the queue without failing)."""
    if store.exists(entry_id):
        return "pending"
    if store.path(entry_id, failed=True).exists():
        return "failed"
    return "delivered"


def run_flush(home: Home, config: Config, only: set[str] | None = None) -> FlushReport:
    async def main() -> FlushReport:
        channels = Channels(home, config)
        try:
            return await flush(QueueStore(home), channels, only=only)
        finally:
            await channels.aclose()

    return trio.run(main)


def wait(
    home: Home,
    config: Config,
    entry_id: str,
    *,
    daemon: bool,
    timeout: float | None = None,
    on_retry: Callable[[Delivery], None] | None = None,
) -> Delivery | None:
    """Block until the entry is delivered (None) or failed (the failed entry).

    With a daemon running, its worker delivers and this only watches the file. Without,
    the entry is delivered here, retried on the policy's schedule until it succeeds or
    fails for good.
    """
    store = QueueStore(home)
    deadline = None if timeout is None else time.monotonic() + timeout
    seen_attempts = 0
    while True:
        state = outcome(store, entry_id)
        if state == "delivered":
            return None
        if state == "failed":
            return store.get(entry_id)
        entry = store.load(entry_id)
        if entry is None:
            continue  # it just changed state: look again
        if entry.attempts > seen_attempts and entry.state == "pending":
            seen_attempts = entry.attempts
            if on_retry is not None and entry.last_error:
                on_retry(entry)
        held_back = False  # an older entry to the same peer is backing off (FIFO)
        if not daemon and entry.next_attempt_at <= time.time():
            try:
                report = run_flush(home, config, only={entry_id})
                if report.outcomes:
                    continue
                held_back = True
            except QueueBusy:
                pass  # someone else is delivering: watch them do it
        if deadline is not None and time.monotonic() > deadline:
            raise TimedOut(
                f"queue entry {entry_id} not delivered within {timeout:g}s; it stays queued",
                hint=f"`claw queue show {entry_id}` shows its last error",
            )
        pause = WAIT_POLL_S
        if not daemon:
            due_in = 1.0 if held_back else entry.next_attempt_at - time.time()
            pause = max(WAIT_POLL_S, min(1.0, due_in))
        time.sleep(pause)
