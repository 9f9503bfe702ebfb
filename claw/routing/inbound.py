"""Processing one journaled inbound message: access, routing, the turn, the reply.

`handle` is synchronous (the daemon runs it in a worker thread) and is what
`process_pending(inbox, handler)` calls; its return value is the journal's outcome:
  "refused: <reason>"    access said no (a pairing code, if any, is queued to the sender)
  "answered: <queue id>" the agent's reply is queued for delivery
  "ignored: empty message" nothing to answer (e.g. a photo without a caption)
  "silent"               the agent chose not to answer (or had nothing to say)
  "failed: <message>"    the model call failed; the message is done, so one bad message
                         cannot block the journal forever
Any other exception propagates: the message stays pending and a restart retries it.

`process_forever` is the daemon's loop: it drains the journal at start, then polls it
every POLL_S seconds (in a thread: the journal read takes a file lock); a wake-up from
`Inbox.record` would make it immediate. A message whose handler raises stays pending
until the next start.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import trio

from claw.agent.events import AgentEnd
from claw.agent.turn import TurnRequest
from claw.delivery.inbox import InboundMessage, Inbox
from claw.delivery.service import enqueue, enqueue_reply
from claw.errors import ModelError
from claw.heartbeat.last_target import remember
from claw.routing.access import decide
from claw.routing.route import Inbound, route
from claw.state.config import Config
from claw.state.home import Home
from claw.state.sessions import SessionStore
from claw.supervisor.dispatch import supervise

log = logging.getLogger("claw.routing.inbound")

POLL_S = 0.5


def to_inbound(msg: InboundMessage) -> Inbound:
    return Inbound(
        channel=msg.channel,
        peer=msg.peer,
        account=msg.account,
        peer_kind=msg.peer_kind,
        group=msg.group,
        thread=msg.thread,
    )


def handle(home: Home, config: Config, msg: InboundMessage) -> str:
    """Process one inbound message; returns the outcome recorded in the journal."""
    inbound = to_inbound(msg)
    decision = decide(
        config,
        home,
        inbound,
        mentioned=bool(msg.meta.get("mentioned", False)),
        sender_name=msg.sender_name,
    )
    if not decision.allowed:
        if decision.reply:
            enqueue(home, msg.channel, msg.peer, [decision.reply], account=msg.account)
        return f"refused: {decision.reason}"
    if not msg.text.strip():  # run_turn refuses empty text; retrying would never help
        return "ignored: empty message"

    r = route(config, inbound)
    if inbound.group is None:
        remember(home, r.agent, msg.channel, msg.peer)
    req = TurnRequest(
        msg.text, agent_id=r.agent, session_key=r.session_key, channel=msg.channel, live=False
    )
    result = None
    try:
        for event in supervise(home, config, SessionStore(home), req):
            if isinstance(event, AgentEnd):
                result = event.result
    except ModelError as e:
        log.warning("inbound message %s (%s): the model failed: %s", msg.id, msg.key, e.message)
        return f"failed: {e.message}"
    if result is None or result.status != "ok" or not result.text.strip():
        return "silent"
    to = inbound.group if inbound.group is not None else msg.peer
    delivery = enqueue_reply(
        home,
        config,
        f"{msg.channel}:{to}",
        result.text,
        account=msg.account,
        agent=r.agent,
        session_key=r.session_key,
    )
    return f"answered: {delivery.id}"


def drain(inbox: Inbox, handler: Callable[[InboundMessage], str], skip: set[str]) -> int:
    """Like `process_pending`, but a message whose handler raises is logged, left pending
    (the next start retries it) and added to `skip`, so it does not block the ones after
    it nor get retried on every poll. Returns how many messages were marked done."""
    count = 0
    for msg in inbox.pending():
        if msg.id in skip:
            continue
        try:
            outcome = handler(msg)
        except Exception:
            log.exception("inbound message %s (%s) failed; it stays pending", msg.id, msg.key)
            skip.add(msg.id)
            continue
        inbox.done(msg.id, outcome)
        count += 1
    return count


async def process_forever(
    home: Home,
    config: Config,
    *,
    poll_s: float = POLL_S,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Process what is pending, then each new journal record as it arrives, one at a time."""
    inbox = Inbox(home)
    skip: set[str] = set()

    def handler(msg: InboundMessage) -> str:
        return handle(home, config, msg)

    await trio.to_thread.run_sync(drain, inbox, handler, skip)
    # Nothing else shortens the journal: each start keeps only what is pending and the
    # keys recent enough to recognise a redelivered message.
    await trio.to_thread.run_sync(lambda: inbox.compact())
    task_status.started()
    while True:
        await trio.sleep(poll_s)
        await trio.to_thread.run_sync(drain, inbox, handler, skip)
