"""The supervisor's entry point: decide the mode, run the turn in it, say so.

`supervise` is what turns from people go through (claw send, claw chat, the gateway's
chat.send / chat.send_stream, messages from channels); cron and heartbeat turns call
the single-mode loop directly. Its event stream is run_turn's, preceded by a
ModeDecision (and another one when fast mode escalates or a plan has one part), with
the subagents' SubagentStart / SubagentEnd in multi mode. The decision is also stored
on the reply's transcript record (`mode`, `route`), and the result says `mode`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from claw.agent.events import AgentEnd, AgentStart, Event, ModeDecision
from claw.agent.selection import check_text
from claw.state.config import Config
from claw.state.home import Home
from claw.state.sessions import SessionStore
from claw.supervisor.classifier import Decision
from claw.supervisor.decide import decide


def supervise(home: Home, config: Config, store: SessionStore, req: Any) -> Iterator[Event]:
    check_text(req.text)
    decision = decide(config, req.text, req.mode, home=home)
    held = [_event(decision)]  # shown right after AgentStart: streams start with chat.start
    if decision.mode == "fast":
        from claw.supervisor.fast import Escalate, run_fast

        try:
            yield from _tagged(run_fast(home, config, store, req, _route(decision)), "fast", held)
            return
        except Escalate as e:
            decision = Decision(
                "single", decision.intent, decision.score, "escalated", reason=e.reason
            )
            held.append(_event(decision))
    if decision.mode == "multi":
        from claw.supervisor.multi import run_multi

        yield from held  # multi mode's progress comes before its answer's AgentStart
        yield from _tagged(run_multi(home, config, store, req, _route(decision)), "multi", [])
        return
    from claw.agent.turn import run_turn

    single = replace(req, record=_route(decision))
    yield from _tagged(run_turn(home, config, store, single), "single", held)


def _route(d: Decision) -> dict[str, Any]:
    """What the reply's transcript record keeps of the decision."""
    return {"mode": d.mode, "route": {"intent": d.intent, "score": d.score, "source": d.source}}


def _event(d: Decision) -> ModeDecision:
    return ModeDecision(d.mode, d.intent, d.score, d.source, d.reason)


def _tagged(events: Iterator[Event], mode: str, held: list[ModeDecision]) -> Iterator[Event]:
    """The events, the `held` decisions right after AgentStart, and the mode the turn
    ended up in set on its result."""
    try:
        for event in events:
            if isinstance(event, ModeDecision):
                mode = event.mode
            elif isinstance(event, AgentEnd):
                event.result.mode = mode
            yield event
            if isinstance(event, AgentStart) and held:
                yield from held
                held.clear()
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()
