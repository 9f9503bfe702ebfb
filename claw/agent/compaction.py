"""Compaction: when a conversation no longer fits the model, summarise its oldest part.

The summary is written to the transcript as a `compaction` record (its `first_kept_id`
names the first message kept verbatim), so replaying the transcript gives exactly the
compacted history the model saw — a resumed session never silently grows back. The cut
is always at a user message, so a tool call is never separated from its result.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from claw.agent import completion
from claw.agent.events import CompactionEnd, CompactionStart, Event
from claw.agent.models import ModelInfo
from claw.agent.reasoning import strip_reasoning
from claw.state import transcript

log = logging.getLogger(__name__)

KEEP_FRACTION = 0.4  # of the history budget kept word for word
SUMMARY_INSTRUCTIONS = (
    "You compress conversations. Summarise the conversation below so that an assistant "
    "can continue it: the user's goals and preferences, facts and decisions, open "
    "questions and tasks, results of tool calls that still matter. Be concise and "
    "factual; write in the language of the conversation; no preamble."
)
TOOL_RESULT_CHARS = 2_000


@dataclass
class Plan:
    older: list[dict[str, Any]]  # messages to summarise
    first_kept_id: str | None
    kept: int  # messages kept verbatim


def plan(pairs: list[tuple[str | None, dict[str, Any]]], budget_tokens: int) -> Plan | None:
    """Where to cut: keep the newest messages in KEEP_FRACTION of the budget."""
    messages = [m for _, m in pairs]
    start = transcript.fit_start(messages, int(budget_tokens * KEEP_FRACTION))
    # The kept part must begin with a user message (never a tool result or a reply).
    while start < len(messages) and messages[start]["role"] != "user":
        start += 1
    if start >= len(messages):  # only the newest user message: keep it whole
        start = max(i for i, m in enumerate(messages) if m["role"] == "user")
    if start == 0:
        return None
    return Plan(messages[:start], pairs[start][0], len(messages) - start)


def render(messages: list[dict[str, Any]], max_chars: int) -> str:
    """The older messages as plain text for the summariser, newest kept if too long."""
    lines: list[str] = []
    for m in messages:
        role = m["role"]
        content = str(m.get("content") or "")
        if role == "tool":
            content = content[:TOOL_RESULT_CHARS]
            lines.append(f"[tool result {m.get('name') or ''}]: {content}")
            continue
        if m.get("tool_calls"):
            calls = ", ".join(
                f"{c['function']['name']}({c['function'].get('arguments', '')})"
                for c in m["tool_calls"]
            )
            content = f"{content}\n[called tools: {calls}]".strip()
        label = {"user": "User", "assistant": "Assistant", "system": "Earlier summary"}.get(
            role, role
        )
        lines.append(f"{label}: {content}")
    text = "\n\n".join(lines)
    return text if len(text) <= max_chars else "…" + text[-max_chars:]


def summary_messages(older: list[dict[str, Any]], max_chars: int) -> list[dict[str, Any]]:
    return [
        {"role": "system", "content": SUMMARY_INSTRUCTIONS},
        {"role": "user", "content": render(older, max_chars)},
    ]


def summarise(
    info: ModelInfo,
    older: list[dict[str, Any]],
    max_tokens: int,
    opts: completion.CallOptions,
    abort: threading.Event | None = None,
) -> str:
    """The model's summary of `older`, without its reasoning ('' if it gave none).
    Raises completion.Aborted when `abort` is set while it streams."""
    max_chars = max(2000, (info.context_window - max_tokens) * 3)
    summary_opts = completion.CallOptions(
        max_tokens=min(max_tokens, 1024),
        timeout=opts.timeout,
        api_key=opts.api_key,
        api_base=opts.api_base,
    )
    text = completion.complete_text(info, summary_messages(older, max_chars), summary_opts, abort)
    return strip_reasoning(text)  # a reasoning model's thoughts are not the summary


def describe(p: Plan) -> str:
    return json.dumps({"summarised": len(p.older), "kept": p.kept})


def compact_turn(
    turn: Any, info: ModelInfo, opts: completion.CallOptions
) -> Generator[Event, None, bool]:
    """Compact a running turn's session (claw.agent.turn's `_Turn`) for `info`: plan,
    summarise, write the compaction record. False when there is nothing to compact or
    the summary came back empty (failover then moves on to the next model)."""
    pairs = turn.store.history_pairs(turn.key, 10**9)
    cut = plan(pairs, turn._budget(info))
    if cut is None:
        return False
    yield CompactionStart("overflow", len(pairs))
    turn.env.hooks.before_compaction(turn.env.hook_ctx, cut.older)
    summary = summarise(info, cut.older, turn.max_tokens, opts, turn.signal)
    if not summary:  # written, it would make the model forget the older part for good
        log.warning("compaction: %s returned an empty summary; nothing compacted", info.name)
        return False
    record = transcript.compaction(summary, cut.first_kept_id)
    turn.store.append(turn.key, [record], agent=turn.agent_id)
    turn.env.hooks.after_compaction(turn.env.hook_ctx, summary)
    yield CompactionEnd(len(summary), cut.kept)
    return True
