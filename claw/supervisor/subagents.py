"""Subagents: one sub-task, its own session, a reduced tool set, a time limit.

A subagent is a plain single-mode turn (claw.agent.turn) in the session
`agent:<agent>:subagent:<id>`, without the tools that reach beyond the task (no
spawning, no messaging: it answers its parent, nobody else). `run_parallel` runs several
under the `subagent` lane (at most `lanes.subagent` at once) and streams SubagentStart /
SubagentEnd events as they happen. Each subagent's time limit counts from when it gets a
slot; one that overruns is stopped and reported as timed out, never silently dropped.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field

from claw.agent.events import AgentEnd, Event, SubagentEnd, SubagentStart
from claw.agent.lanes import LANES
from claw.errors import ClawError, TimedOut
from claw.state.config import Config
from claw.state.home import Home
from claw.supervisor import registry
from claw.supervisor.registry import SubagentRecord

# Tools a subagent does not get: it must not start more agents nor talk to anyone.
SUBAGENT_DENY = ("spawn", "message", "send_message", "sessions_send", "notify")
GRACE_S = 2.0  # past its limit, how long a subagent may take to notice and stop
SUBAGENT_PROMPT = (
    "You are a subagent: you work on one part of a larger request, in your own session. "
    "Do the task you are given and reply with its result only (no greeting, no questions "
    "back: nobody can answer them). If you cannot do it, say exactly why."
)


@dataclass
class Outcome:
    rec: SubagentRecord
    status: str  # ok | error | timeout | interrupted
    text: str
    duration_ms: int = 0


@dataclass
class _Slot:
    rec: SubagentRecord
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    started: float | None = None
    outcome: Outcome | None = None

    def begin(self, home: Home) -> bool:
        """Mark it running, unless it already has an outcome (it was stopped)."""
        with self.lock:
            if self.outcome is not None or self.stop.is_set():
                return False
            self.started = time.monotonic()
            registry.mark(home, self.rec, "running")
            return True

    def settle(self, home: Home, status: str, text: str) -> Outcome | None:
        """The first ending wins (the subagent's own, or the supervisor's timeout). Its
        record is written under the lock: once anyone can see an outcome, or a later
        `settle` returns, the record on disk is final (a process that exits right after
        must not leave it "running", for the next daemon to run again)."""
        with self.lock:
            if self.outcome is not None:
                return None
            ms = int((time.monotonic() - (self.started or time.monotonic())) * 1000)
            self.outcome = Outcome(self.rec, status, text, ms)
            registry.mark(home, self.rec, status, text)
            return self.outcome


def run_one(
    home: Home,
    config: Config,
    rec: SubagentRecord,
    *,
    model: str | None = None,
    stop: threading.Event | None = None,
) -> tuple[str, str]:
    """Run the subagent's turn (the caller holds its lane slot): (status, text)."""
    from claw.agent.turn import TurnRequest, run_turn
    from claw.state.sessions import SessionStore

    store = SessionStore.configured(home, config)
    req = TurnRequest(
        rec.task,
        agent_id=rec.agent,
        session_key=rec.key,
        model=model,
        timeout_s=rec.timeout_s,
        lane="",  # the slot is held by the caller
        abort=stop,
        live=False,
        mode="single",
        deny_tools=SUBAGENT_DENY,
        context=[SUBAGENT_PROMPT],
    )
    result = None
    try:
        for event in run_turn(home, config, store, req):
            if isinstance(event, AgentEnd):
                result = event.result
    except TimedOut as e:
        return "timeout", e.message
    except ClawError as e:
        return "error", e.message
    except Exception as e:  # a bug must end this subagent, not its parent's turn
        return "error", f"{type(e).__name__}: {e}"
    finally:
        store.close()
    if result is None:
        return "error", "the subagent ended without an answer"
    if result.status in ("interrupted", "timeout"):
        return result.status, result.text or f"{result.status} before any result"
    if result.status != "ok":
        return "error", result.text or "no answer"
    return "ok", result.text


def run_parallel(
    home: Home,
    config: Config,
    records: list[SubagentRecord],
    *,
    model: str | None = None,
    abort: threading.Event | None = None,
) -> Generator[Event, None, list[Outcome]]:
    """Run the subagents at once (capped by lanes.subagent); yield their progress; return
    every outcome in the order given (a timed-out or failed one included)."""
    cap = config.get("lanes.subagent")
    slots = [_Slot(r) for r in records]
    events: queue.Queue[tuple[_Slot, Outcome | None]] = queue.Queue()

    def work(slot: _Slot) -> None:
        with LANES.slot("subagent", cap):
            if not slot.begin(home):  # stopped while it waited for a slot
                return
            events.put((slot, None))
            status, text = run_one(home, config, slot.rec, model=model, stop=slot.stop)
        events.put((slot, slot.settle(home, status, text)))

    for slot in slots:
        name = f"claw-subagent-{slot.rec.id}"
        threading.Thread(target=work, args=(slot,), name=name, daemon=True).start()
    try:
        yield from _watch(home, slots, events, abort)
    finally:  # also when our caller stops listening: no subagent is left running unowned
        for slot in slots:
            slot.stop.set()  # nothing to stop for one that has ended
            # Through the lock, so a worker still writing its own ending finishes first.
            slot.settle(home, "interrupted", "stopped: the parent turn ended")
    return [s.outcome for s in slots if s.outcome is not None]


def _watch(
    home: Home,
    slots: list[_Slot],
    events: queue.Queue[tuple[_Slot, Outcome | None]],
    abort: threading.Event | None,
) -> Iterator[Event]:
    """Turn the workers' reports into events until every subagent has an outcome; stop
    (and report) the ones that overrun their limit or whose parent was aborted."""
    open_ = set(range(len(slots)))
    while open_:
        try:
            slot, outcome = events.get(timeout=0.05)
        except queue.Empty:
            slot, outcome = None, None
        if slot is not None and outcome is None and slot.outcome is None:
            yield SubagentStart(slot.rec.id, slot.rec.key, slot.rec.task)
        elif outcome is not None:
            open_.discard(slots.index(slot))
            yield _end(outcome)
        for i in list(open_):
            late = _overdue(slots[i], abort)
            if late is not None:
                slots[i].stop.set()
                ended = slots[i].settle(home, *late)
                if ended is not None:
                    open_.discard(i)
                    yield _end(ended)


def _overdue(slot: _Slot, abort: threading.Event | None) -> tuple[str, str] | None:
    if abort is not None and abort.is_set():
        return "interrupted", "stopped: the parent turn was interrupted"
    if slot.started is None:
        return None
    if time.monotonic() - slot.started > slot.rec.timeout_s + GRACE_S:
        return "timeout", f"no result within {slot.rec.timeout_s:g}s"
    return None


def _end(o: Outcome) -> SubagentEnd:
    return SubagentEnd(o.rec.id, o.rec.key, o.status, o.duration_ms, o.text)
