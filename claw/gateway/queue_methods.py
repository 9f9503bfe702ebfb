"""Gateway methods of the delivery queue (`queue.*`) and event subscriptions.

`events.subscribe` lets a WebSocket client ask for server-side events that are not
answers to its own requests; the first is `queue.failed`, sent when a delivery fails for
good (so a dashboard or a script can tell someone); `subagent.report` carries a spawned
subagent's report-back reply.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import trio

from claw.delivery.queue import QueueStore
from claw.gateway import rpc_errors as codes
from claw.gateway.methods import METHODS, Caller, Gateway
from claw.gateway.rpc_errors import RpcError, invalid_params

TOPICS = ("queue.failed", "cron.disabled", "channels.error", "subagent.report")

_sync = trio.to_thread.run_sync


@dataclass
class QueueListParams:
    failed: bool = False
    limit: int = 100


@dataclass
class QueueRetryParams:
    id: str | None = None
    all: bool = False


@dataclass
class SubscribeParams:
    topics: list[str]


def _store(gw: Gateway) -> QueueStore:
    return QueueStore(gw.home)


@METHODS.method("queue.list", params=QueueListParams)
async def queue_list(gw: Gateway, caller: Caller, p: QueueListParams) -> dict[str, Any]:
    if not 1 <= p.limit <= 10_000:
        raise invalid_params("limit", "must be between 1 and 10000")
    entries = await _sync(lambda: _store(gw).entries(failed=p.failed)[: p.limit])
    return {"entries": [e.summary() for e in entries]}


@METHODS.method("queue.retry", params=QueueRetryParams)
async def queue_retry(gw: Gateway, caller: Caller, p: QueueRetryParams) -> dict[str, Any]:
    if (p.id is None) == (not p.all):
        raise invalid_params("id", "give an id, or all: true")
    store = _store(gw)

    def retry() -> list[str]:
        ids = store.ids(failed=True) if p.all else [p.id or ""]
        return [store.retry(i).id for i in ids]

    return {"retried": await _sync(retry)}


@METHODS.method("queue.stats")
async def queue_stats(gw: Gateway, caller: Caller, p: None) -> dict[str, Any]:
    stats = (await _sync(_store(gw).stats)).to_dict()
    if gw.worker is not None:
        stats["worker"] = gw.worker.status()
    return stats


@METHODS.method("events.subscribe", params=SubscribeParams)
async def events_subscribe(gw: Gateway, caller: Caller, p: SubscribeParams) -> dict[str, Any]:
    unknown = [t for t in p.topics if t not in TOPICS]
    if unknown:
        raise invalid_params("topics", f"unknown topic {unknown[0]!r}; topics: {', '.join(TOPICS)}")
    if caller.subscribe is None:
        raise RpcError(codes.FAILED, "events need a WebSocket connection (not HTTP)")
    caller.subscribe(set(p.topics))
    return {"topics": sorted(p.topics)}


def failed_event(entry: Any, error: str) -> dict[str, Any]:
    """The `queue.failed` event's params: what failed, where to, and why."""
    data = asdict(entry)
    keep = ("id", "channel", "account", "to", "attempts", "failed_reason", "agent", "session_key")
    return {"type": "queue.failed", "error": error} | {k: data[k] for k in keep}
