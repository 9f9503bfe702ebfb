"""Multi mode: plan, run the parts as parallel subagents, answer from their results.

1. The planner (the agent's model, no tools) splits the request into 2 to
   `supervisor.max_subagents` self-contained sub-tasks, as a JSON array. A plan of one
   part means the request was one task after all: it runs in single mode.
2. Each sub-task runs as a subagent (claw.supervisor.subagents), in parallel under the
   `subagent` lane, each with `supervisor.subagent_timeout_s`.
3. The final answer is a single-mode turn in the user's session, without tools, with the
   results in its system prompt. A sub-task that failed or timed out is named in a
   footer appended to the answer, whatever the model wrote: never silently dropped.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from claw.agent import completion
from claw.agent.events import Event, ModeDecision
from claw.agent.lanes import TurnSignal
from claw.agent.selection import candidates_for, check_agent
from claw.errors import ModelError
from claw.state.config import Config
from claw.state.home import Home
from claw.state.names import validate_session_key
from claw.state.session_keys import main_key
from claw.state.sessions import SessionStore
from claw.supervisor import registry
from claw.supervisor.history import text_window
from claw.supervisor.modelcall import ask
from claw.supervisor.subagents import Outcome, run_parallel

PLAN_PROMPT = (
    "You are the supervisor of several assistants working in parallel. Split the user's "
    "latest request into independent sub-tasks that can each be done on its own. Reply "
    "with a JSON array of 2 to {n} strings and nothing else; each string is a complete "
    "instruction that includes every detail it needs (the assistants do not see this "
    "conversation). If the request is really a single task, reply with a JSON array "
    "holding that one task."
)
ANSWER_PROMPT = (
    "The user's request was split into sub-tasks that subagents have worked on; their "
    "results follow. Write the final answer to the user's request from these results: "
    "combine them, do not redo the work, do not mention subagents unless a part is "
    "missing. Where a sub-task failed or timed out, say plainly that this part is missing."
)
MAX_RESULT_CHARS = 6000  # of each subagent's answer, in the final prompt


def parse_plan(text: str, limit: int) -> list[str]:
    """The sub-tasks of a planner reply: a JSON array of strings, else numbered lines."""
    found = re.search(r"\[.*\]", text, re.DOTALL)
    tasks: list[str] | None = None
    if found:
        try:
            value = json.loads(found.group(0))
        except ValueError:
            value = None
        if isinstance(value, list):
            tasks = [str(v).strip() for v in value if isinstance(v, str | int | float)]
    if tasks is None:
        lines = [re.sub(r"^\s*(?:\d+[.)、]|[-*•])\s*", "", ln) for ln in text.splitlines()]
        tasks = [ln.strip() for ln in lines if ln.strip()]
    return [t for t in tasks if t][:limit]


def run_multi(
    home: Home, config: Config, store: SessionStore, req: Any, route: dict[str, Any]
) -> Iterator[Event]:
    from claw.agent.turn import run_turn

    agent_id = check_agent(config, req.agent_id)
    key = validate_session_key(req.session_key or main_key(agent_id))
    limit = int(config.get("supervisor.max_subagents", 4))
    signal = TurnSignal(float(req.timeout_s or config.get("model.timeout_s")), req.abort)
    candidates = candidates_for(config, agent_id, req.model)
    history = text_window(store, key, int(config.get("supervisor.fast_history", 6)))
    messages = [
        {"role": "system", "content": PLAN_PROMPT.format(n=limit)},
        *history,
        {"role": "user", "content": req.text},
    ]
    try:
        plan = ask(
            home,
            config,
            candidates,
            messages,
            max_tokens=1024,
            timeout=signal.remaining(),
            abort=signal,
        )
        tasks, reason = parse_plan(plan.text, limit), "the plan has one part"
    except ModelError as e:  # single mode retries and, if it fails too, records why
        tasks, reason = [], f"planning failed: {e.reason}"
    except completion.Aborted:
        tasks, reason = [], "interrupted while planning"  # the turn below ends at once
    if len(tasks) < 2:
        route = dict(route, mode="single")
        r = route["route"]
        yield ModeDecision("single", r["intent"], r["score"], "plan", reason)
        yield from run_turn(home, config, store, _left(req, signal, record=route))
        return
    timeout_s = float(config.get("supervisor.subagent_timeout_s", 120))
    records = [registry.create(home, agent_id, key, t, "multi", timeout_s) for t in tasks]
    outcomes = yield from run_parallel(home, config, records, model=req.model, abort=signal)
    route = dict(route, subagents=[{"id": o.rec.id, "status": o.status} for o in outcomes])
    final = _left(
        req,
        signal,
        tools=False,
        context=[ANSWER_PROMPT + "\n\n" + results_block(outcomes)],
        footer=footer(outcomes),
        record=route,
    )
    yield from run_turn(home, config, store, final)


def _left(req: Any, signal: TurnSignal, **changes: Any) -> Any:
    """The request for a turn that gets what is left of this one's time (a turn started
    after the deadline records the message, then stops as timed out)."""
    return replace(req, timeout_s=max(0.001, signal.deadline - time.monotonic()), **changes)


def results_block(outcomes: list[Outcome]) -> str:
    parts = []
    for n, o in enumerate(outcomes, 1):
        body = o.text if len(o.text) <= MAX_RESULT_CHARS else o.text[:MAX_RESULT_CHARS] + " […]"
        parts.append(f"## Sub-task {n} ({o.status}): {o.rec.task}\n{body.strip()}")
    return "\n\n".join(parts)


def footer(outcomes: list[Outcome]) -> str:
    """One line per sub-task without a result, appended to the answer."""
    lines = []
    for n, o in enumerate(outcomes, 1):
        if o.status == "ok":
            continue
        why = {"timeout": "timed out", "interrupted": "was interrupted"}.get(o.status, "failed")
        detail = f": {o.text.strip()[:200]}" if o.text.strip() else ""
        lines.append(f"- sub-task {n} ({o.rec.task[:80]}) {why}{detail}")
    return "\n\nNot done:\n" + "\n".join(lines) if lines else ""
