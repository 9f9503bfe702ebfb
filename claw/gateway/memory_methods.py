"""Gateway method of memory: `memory.recall` (query, k, agent).

The daemon's watcher keeps the index in step with transcripts; a recall also brings the
agent's notes up to date first (cheap), so a note saved a moment ago is found. A bad
query or k is -32602 with `data.reason`; memory turned off is -32000 with a hint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import trio

from claw.agent.selection import check_agent
from claw.gateway.methods import METHODS, Caller, Gateway
from claw.gateway.rpc_errors import invalid_params

MAX_K = 50


@dataclass
class MemoryRecallParams:
    query: str
    k: int | None = None
    agent: str | None = None  # default: every agent's memory


@METHODS.method("memory.recall", params=MemoryRecallParams)
async def memory_recall(gw: Gateway, caller: Caller, p: MemoryRecallParams) -> dict[str, Any]:
    from claw.memory.service import recall

    if not p.query.strip():
        raise invalid_params("query", "must not be empty")
    if p.k is not None and not 1 <= p.k <= MAX_K:
        raise invalid_params("k", f"must be between 1 and {MAX_K}")
    agent = check_agent(gw.config, p.agent) if p.agent is not None else None
    found = await trio.to_thread.run_sync(
        lambda: recall(gw.home, gw.config, p.query, agent=agent, k=p.k, sync="notes")
    )
    return found.to_dict()
