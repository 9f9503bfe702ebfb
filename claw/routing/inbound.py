"""Processing one journaled inbound message: access, routing, the turn, the reply.

`handle` is synchronous (the daemon runs it in a worker thread) and is what
`process_pending(inbox, handler)` calls; its return value is the journal's outcome:
  "refused: <reason>"    access said no (a pairing code, if any, is queued to the sender)
  "answered: <queue id>" the agent's reply is queued for delivery
  "ignored: empty message" nothing to answer (e.g. a photo without a caption)
  "silent"               the agent chose not to answer (or had nothing to say)
  "failed: <message>"    the model call failed; the message is done, so one bad message
                         cannot block the journal forever
Any other exception propagates: the message stays pending, and the daemon retries it
later (after RETRY_S, doubling) or at its next start.

Exactly once: before the turn runs, the reply's queue id is reserved in the journal. A
re-run (the daemon died mid-turn, or between queueing the reply and marking the message
done) finds that id already queued and only marks the message done; the delivery of a
reply marks its message done before its queue entry disappears (claw.delivery.inbox), so
"reserved, not queued, not done" can only mean "never queued".

`process_forever` is the daemon's loop. It drains the journal at start, then processes
new records as channels journal them (`Wakeup.set` makes it look at once; it also looks
every POLL_S seconds for records other processes wrote). Messages of different sessions
run concurrently (up to `concurrency`); messages of one session run one at a time, in
the order they arrived.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import trio

from claw.agent.events import AgentEnd
from claw.agent.turn import TurnRequest
from claw.delivery.entry import ID_RE
from claw.delivery.inbox import InboundMessage, Inbox
from claw.delivery.queue import QueueStore
from claw.delivery.service import enqueue, enqueue_reply
from claw.delivery.service import outcome as queue_state
from claw.errors import ClawError, MessageTooLong, ModelError
from claw.heartbeat.last_target import remember
from claw.routing.access import decide
from claw.routing.route import Inbound, route
from claw.state.config import Config
from claw.state.faults import crash_point
from claw.state.home import Home
from claw.state.sessions import SessionStore
from claw.supervisor.dispatch import supervise

if TYPE_CHECKING:
    from claw.delivery.service import Channels

log = logging.getLogger("claw.routing.inbound")

POLL_S = 0.5
CONCURRENCY = 8
RETRY_S = 30.0  # a message whose processing raised is tried again after this, doubling
RETRY_MAX_S = 3600.0
TYPING_EVERY_S = 4.0  # Telegram's "typing" lasts 5 s, Discord's 10 s


def to_inbound(msg: InboundMessage) -> Inbound:
    return Inbound(
        channel=msg.channel,
        peer=msg.peer,
        account=msg.account,
        peer_kind=msg.peer_kind,
        guild=msg.guild,
        group=msg.group,
        thread=msg.thread,
    )


def handle(
    home: Home,
    config: Config,
    msg: InboundMessage,
    *,
    inbox: Inbox | None = None,
    on_turn_start: Callable[[], None] | None = None,
) -> str:
    """Process one inbound message; returns the outcome recorded in the journal.

    `on_turn_start` is called just before the model runs (the daemon starts the
    channel's typing indicator there: only for messages that will be answered)."""
    inbound = to_inbound(msg)
    decision = decide(
        config,
        home,
        inbound,
        mentioned=bool(msg.meta.get("mentioned", False)),
        sender_name=msg.sender_name,
        message_id=msg.id,
    )
    inbox = inbox or Inbox(home)
    if not decision.allowed:
        if decision.reply:
            crash_point("pairing:stored")
            _send_code(home, inbox, msg, decision.reply)
            crash_point("pairing:queued")
        return f"refused: {decision.reason}"
    if not msg.text.strip():  # run_turn refuses empty text; retrying would never help
        return "ignored: empty message"

    r = route(config, inbound)
    if inbound.group is None and msg.channel != "webhook":  # a hook is not a person's chat
        remember(home, r.agent, msg.channel, msg.chat)
    queue_id = inbox.reserve_reply(msg.id)
    if queue_state(QueueStore(home), queue_id) != "delivered":  # here "gone" = never queued
        return f"answered: {queue_id}"  # queued before a crash: do not answer twice
    if on_turn_start is not None:
        on_turn_start()
    req = TurnRequest(
        msg.text,
        agent_id=r.agent,
        session_key=r.session_key,
        channel=msg.channel,
        live=False,
        inbound_id=msg.id,
    )
    result = None
    try:
        for event in supervise(home, config, SessionStore.configured(home, config), req):
            if isinstance(event, AgentEnd):
                result = event.result
    except (ModelError, MessageTooLong) as e:  # a retry would fail the same way
        log.warning("inbound message %s (%s): the model failed: %s", msg.id, msg.key, e.message)
        return f"failed: {e.message}"
    if result is None or result.status != "ok" or not result.text.strip():
        return "silent"
    if msg.meta.get("no_reply"):  # e.g. an inbound webhook without a reply_target
        return "answered: not delivered (no reply target)"
    delivery = enqueue_reply(
        home,
        config,
        f"{msg.channel}:{msg.chat}",
        result.text,
        account=msg.account,
        agent=r.agent,
        session_key=r.session_key,
        reply_to=msg.reply_to if inbound.group is not None else None,
        thread=msg.thread,
        inbound_id=msg.id,
        entry_id=queue_id,
    )
    return f"answered: {delivery.id}"


def _send_code(home: Home, inbox: Inbox, msg: InboundMessage, reply: str) -> None:
    """Queue a pairing code as the message's reply, exactly once: under the reply id the
    journal reserves for it, so a re-run after a crash (the code was stored, its reply
    perhaps not queued) queues it if it is missing and never twice; its delivery marks
    the message done before the entry goes, as an answer's does."""
    queue_id = inbox.reserve_reply(msg.id)
    if queue_state(QueueStore(home), queue_id) == "delivered":  # never queued (see above)
        enqueue(home, msg.channel, msg.chat, [reply], account=msg.account,
                inbound_id=msg.id, entry_id=queue_id)  # fmt: skip


def drain(inbox: Inbox, handler: Callable[[InboundMessage], str], skip: set[str]) -> int:
    """Like `process_pending`, but a message whose handler raises is logged, left pending
    (the next start retries it) and added to `skip`, so it does not block the ones after
    it nor get retried on every poll. Returns how many messages were marked done."""
    count = 0
    for msg in inbox.pending():
        if msg.id in skip:
            continue
        if _run_one(inbox, handler, msg, skip) is not None:
            count += 1
    return count


def _run_one(
    inbox: Inbox, handler: Callable[[InboundMessage], str], msg: InboundMessage, skip: set[str]
) -> str | None:
    """The outcome recorded, or None when the handler raised (the message stays)."""
    try:
        outcome = handler(msg)
    except Exception:
        log.exception("inbound message %s (%s) failed; it stays pending", msg.id, msg.key)
        skip.add(msg.id)
        return None
    inbox.done(msg.id, outcome)
    return outcome


def queued_id(outcome: str | None) -> str | None:
    """The queue id in an "answered: <id>" outcome (None for every other outcome)."""
    if outcome and outcome.startswith("answered: "):
        candidate = outcome.removeprefix("answered: ")
        if ID_RE.fullmatch(candidate):
            return candidate
    return None


class Wakeup:
    """Tells the processor that something was journaled (from the trio thread)."""

    def __init__(self) -> None:
        self._event = trio.Event()

    def set(self) -> None:
        self._event.set()

    async def wait(self, timeout: float) -> None:
        with trio.move_on_after(timeout):
            await self._event.wait()
        self._event = trio.Event()


def session_of(config: Config, msg: InboundMessage) -> str:
    """The lane a message is processed in (its session; its chat if routing fails)."""
    try:
        return route(config, to_inbound(msg)).session_key
    except ClawError:
        return f"chat:{msg.channel}:{msg.account}:{msg.chat}"


async def process_forever(
    home: Home,
    config: Config,
    *,
    poll_s: float = POLL_S,
    wakeup: Wakeup | None = None,
    channels: Channels | None = None,
    concurrency: int = CONCURRENCY,
    on_queued: Callable[[str], Awaitable[None]] | None = None,
    retry_s: float = RETRY_S,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Process what is pending, then each new journal record as it arrives;
    `on_queued(queue id)` hears of each reply queued. A message whose processing raised
    (a config mistake, a full disk) is tried again after `retry_s`, doubling up to
    RETRY_MAX_S: once the cause is fixed it is answered without a restart."""
    inbox = Inbox(home)
    skip: set[str] = set()
    retries: dict[str, tuple[int, float]] = {}  # message id -> (failures, retry at)
    busy: dict[str, str] = {}  # message id -> session key, while it is processed
    lanes: dict[str, str] = {}  # message id -> session key, for pending messages
    wakeup = wakeup or Wakeup()
    limiter = trio.CapacityLimiter(concurrency)

    async def one(msg: InboundMessage) -> None:
        async with limiter, trio.open_nursery() as typing_nursery:

            def start_typing() -> None:  # called in the worker thread
                trio.from_thread.run_sync(typing_nursery.start_soon, _typing, channels, msg)

            def handler(m: InboundMessage) -> str:
                return handle(home, config, m, inbox=inbox, on_turn_start=start_typing)

            try:
                outcome = await trio.to_thread.run_sync(_run_one, inbox, handler, msg, skip)
                if msg.id in skip:  # it raised: try again later
                    failures = retries.get(msg.id, (0, 0.0))[0]
                    delay = min(RETRY_MAX_S, retry_s * 2**failures)
                    retries[msg.id] = (failures + 1, trio.current_time() + delay)
                else:
                    retries.pop(msg.id, None)
            finally:
                typing_nursery.cancel_scope.cancel()
                busy.pop(msg.id, None)
                lanes.pop(msg.id, None)
                wakeup.set()  # the next message of this session may go now
        entry_id = queued_id(outcome)
        if entry_id is not None and on_queued is not None:
            await on_queued(entry_id)  # the delivery worker takes it at once

    # Nothing else shortens the journal: each start keeps only what is pending and the
    # keys recent enough to recognise a redelivered message.
    await trio.to_thread.run_sync(lambda: inbox.compact())
    task_status.started()
    async with trio.open_nursery() as nursery:
        while True:
            lanes_taken = set(busy.values())
            now = trio.current_time()
            for msg_id, (_, at) in retries.items():
                if at <= now:
                    skip.discard(msg_id)
            pending = await trio.to_thread.run_sync(inbox.pending)
            for gone in retries.keys() - {m.id for m in pending}:
                retries.pop(gone)  # done meanwhile (e.g. by its reply's delivery)
            for msg in pending:
                if msg.id in skip or msg.id in busy:
                    continue
                lane = lanes.get(msg.id)
                if lane is None:  # routed once per message, not on every look at a backlog
                    lane = lanes[msg.id] = session_of(config, msg)
                if lane in lanes_taken:
                    continue  # an earlier message of this session goes first
                lanes_taken.add(lane)
                busy[msg.id] = lane
                nursery.start_soon(one, msg)
            await wakeup.wait(poll_s)


async def _typing(channels: Channels | None, msg: InboundMessage) -> None:
    """Show "typing" in the chat while the turn runs, if the channel can (best effort)."""
    if channels is None:
        return
    try:
        channel = channels(msg.channel)
    except Exception:
        return
    typing = getattr(channel, "typing", None)
    if typing is None:
        return
    while True:
        try:
            await typing(msg.chat, msg.thread)
        except Exception as e:  # an indicator is not worth a failure
            log.debug("typing indicator on %s failed: %s", msg.channel, e)
            return
        await trio.sleep(TYPING_EVERY_S)
