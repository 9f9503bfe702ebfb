"""The gateway's JSON-RPC methods and the state they share (DESIGN §5–§6).

Transports (claw.gateway.app) decide who may call what; this module only does the work.
A turn is a sync generator, so it runs in a worker thread under a bounded limiter and its
events cross back into trio one by one: a slow model never blocks the event loop, and a
thousand clients never mean a thousand threads.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import trio

from claw import __version__
from claw.agent.events import AgentEnd
from claw.agent.hooks import session_ended
from claw.agent.lanes import LANES
from claw.agent.selection import check_agent, check_text
from claw.agent.session_lane import when_idle
from claw.agent.turn import TurnRequest
from claw.errors import UsageError
from claw.gateway import rpc_errors as codes
from claw.gateway.idempotency import IdempotencyStore, validate_key
from claw.gateway.protocol import Id, Methods
from claw.gateway.relay import EventRelay, abort_on_cancel
from claw.gateway.rpc_errors import RpcError, invalid_params
from claw.gateway.turn_events import event_params
from claw.state.config import Config
from claw.state.home import Home
from claw.state.names import validate_session_key
from claw.state.session_keys import agent_for, main_key
from claw.state.sessions import SessionStore
from claw.state.transcript import now_iso
from claw.supervisor.decide import CHOICES as MODES
from claw.supervisor.dispatch import supervise
from claw.supervisor.registry import parents_of

METHODS = Methods()
T = TypeVar("T")
Notify = Callable[[dict[str, Any]], None]  # sync: enqueue or raise (a slow reader)


@dataclass
class Gateway:
    """Everything the methods share. One per daemon; only touched from the trio thread,
    except `store()` which worker threads call (SQLite connections are per thread)."""

    home: Home
    config: Config
    idem: IdempotencyStore
    limiter: trio.CapacityLimiter = field(default_factory=lambda: trio.CapacityLimiter(16))
    running: dict[str, threading.Event] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    connections: int = 0
    closing: bool = False  # set on shutdown: new turns are refused with -32007
    worker: Any = None  # the delivery worker (claw.delivery.worker.Worker), when running
    ticker: Any = None  # the heartbeat ticker (claw.heartbeat.ticker.Ticker), when running
    cron: Any = None  # the cron scheduler (claw.cron.scheduler.Scheduler), when running
    channels: Any = None  # the receiving channels (claw.channels.runtime.ChannelRuntime)
    nursery: trio.Nursery | None = None  # the daemon's: turns that outlive their caller
    _local: threading.local = field(default_factory=threading.local)

    def store(self) -> SessionStore:
        # SessionStore's index holds a sqlite3 connection bound to its creating thread.
        store = getattr(self._local, "store", None)
        if store is None:
            store = self._local.store = SessionStore.configured(self.home, self.config)
        return store


@dataclass
class Caller:
    """Who is calling: the request id (to tag stream events) and the transport's hooks."""

    request_id: Id = None
    notify: Notify | None = None
    authenticate: Callable[[str], Any] | None = None  # async (token) -> None; raises if wrong
    subscribe: Callable[[set[str]], None] | None = None  # events.subscribe, WebSocket only


_sync = trio.to_thread.run_sync  # blocking store I/O goes off the event loop


@dataclass
class AuthParams:
    token: str


THINKING = ("off", "low", "medium", "high")


@dataclass
class ChatParams:
    text: str
    session_key: str | None = None
    agent_id: str | None = None
    model: str | None = None
    idempotency_key: str | None = None
    thinking: str | None = None  # off | low | medium | high (default: model.thinking)
    timeout_s: float | None = None  # the turn's deadline (default: model.timeout_s)
    mode: str | None = None  # auto (default: the supervisor decides) | fast | single | multi


@dataclass
class HistoryParams:
    session_key: str
    limit: int = 50
    before: str | None = None


@dataclass
class KeyParams:
    session_key: str


@dataclass
class ListParams:
    agent_id: str | None = None
    limit: int = 50


@METHODS.method("health", auth=False)
async def health(gw: Gateway, caller: Caller, p: None) -> dict[str, Any]:
    return {"ok": True, "version": __version__}


@METHODS.method("auth", params=AuthParams, auth=False)
async def auth(gw: Gateway, caller: Caller, p: AuthParams) -> dict[str, Any]:
    """First-frame auth for browsers; over HTTP it only checks the token (no session)."""
    if caller.authenticate is not None:
        await caller.authenticate(p.token)
    return {"authenticated": True}


@METHODS.method("status")
async def status(gw: Gateway, caller: Caller, p: None) -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "uptime_s": round(time.monotonic() - gw.started, 3),
        "connections": gw.connections,
        "active_turns": {lane: n for lane, n in LANES.active.items() if n},
        "running_sessions": sorted(gw.running),
        "queue": gw.worker.status() if gw.worker is not None else None,
        "cron": gw.cron.status() if gw.cron is not None else None,
    }


@METHODS.method("agents.list")
async def agents_list(gw: Gateway, caller: Caller, p: None) -> dict[str, Any]:
    ids = gw.config.agent_ids()
    return {"agents": [{"id": a, "model": gw.config.agent_model(a)} for a in ids]}


def _limit(value: int) -> int:
    if not 1 <= value <= 1000:
        raise invalid_params("limit", "must be between 1 and 1000")
    return value


@METHODS.method("sessions.list", params=ListParams)
async def sessions_list(gw: Gateway, caller: Caller, p: ListParams) -> dict[str, Any]:
    def read() -> list[dict[str, Any]]:
        rows = gw.store().list(agent=p.agent_id, limit=_limit(p.limit))
        parents = parents_of(gw.home, [r.key for r in rows])  # subagent sessions' parents
        return [
            r.to_dict() | ({"parent": parents[r.key]} if r.key in parents else {}) for r in rows
        ]

    return {"sessions": await _sync(read)}


def _param(name: str, check: Callable[[str], str], value: str) -> str:
    """`check(value)`; its UsageError as -32602 naming the param (clients read data.param),
    with its message kept whole, as a UsageError from the turn has it."""
    try:
        return check(value)
    except UsageError as e:
        data = {"param": name, "reason": e.message}
        raise RpcError(codes.INVALID_PARAMS, e.message, data) from None


def _session_key(key: str) -> str:
    return _param("session_key", validate_session_key, key)


def _idle_key(gw: Gateway, key: str) -> str:
    key = _session_key(key)
    if key in gw.running:
        raise RpcError(codes.BUSY, data={"reason": "a turn is running on this session"})
    return key


@METHODS.method("sessions.delete", params=KeyParams)
async def sessions_delete(gw: Gateway, caller: Caller, p: KeyParams) -> dict[str, Any]:
    key = _idle_key(gw, p.session_key)
    await _sync(lambda: when_idle(gw.store(), key, gw.store().delete))  # any process's turn
    await _sync(lambda: session_ended(list(gw.config.get("plugins") or []), key))
    return {"deleted": True, "session_key": key}


@METHODS.method("chat.clear", params=KeyParams)
async def chat_clear(gw: Gateway, caller: Caller, p: KeyParams) -> dict[str, Any]:
    key = _idle_key(gw, p.session_key)
    await _sync(lambda: when_idle(gw.store(), key, gw.store().clear))  # any process's turn
    await _sync(lambda: session_ended(list(gw.config.get("plugins") or []), key))
    return {"cleared": True, "session_key": key}


@METHODS.method("chat.abort", params=KeyParams)
async def chat_abort(gw: Gateway, caller: Caller, p: KeyParams) -> dict[str, Any]:
    event = gw.running.get(_session_key(p.session_key))
    if event is not None:
        event.set()
    return {"aborted": event is not None}


@METHODS.method("chat.history", params=HistoryParams)
async def chat_history(gw: Gateway, caller: Caller, p: HistoryParams) -> dict[str, Any]:
    key, limit = _session_key(p.session_key), _limit(p.limit)

    def read() -> list[dict[str, Any]]:
        if p.before is None:
            return gw.store().tail(key, limit).messages[-limit:]
        messages = gw.store().read(key).messages
        ids = [m.get("id") for m in messages]
        if p.before not in ids:
            raise invalid_params("before", "no message with this id in the session")
        return messages[: ids.index(p.before)][-limit:]

    return {"session_key": key, "messages": await _sync(read)}


@METHODS.method("chat.send", params=ChatParams)
async def chat_send(gw: Gateway, caller: Caller, p: ChatParams) -> dict[str, Any]:
    return await run_chat(gw, p, None)


@METHODS.method("chat.send_stream", params=ChatParams)
async def chat_send_stream(gw: Gateway, caller: Caller, p: ChatParams) -> dict[str, Any]:
    send, rid = caller.notify, caller.request_id  # events carry the id: streams can overlap
    notify = None if send is None else lambda params: send({"request_id": rid} | params)
    return await run_chat(gw, p, notify)


async def run_chat(gw: Gateway, p: ChatParams, notify: Notify | None) -> dict[str, Any]:
    """One turn with idempotency; the session is reserved before any await so two
    requests for one session cannot both start (the second gets -32003)."""
    if gw.closing:
        raise RpcError(codes.SHUTTING_DOWN)
    if p.thinking is not None and p.thinking not in THINKING:
        raise invalid_params("thinking", f"must be one of {', '.join(THINKING)}")
    if p.timeout_s is not None and not 0 < p.timeout_s <= 86_400:
        raise invalid_params("timeout_s", "must be a number of seconds, > 0 and <= 86400")
    if p.mode is not None and p.mode not in MODES:
        raise invalid_params("mode", f"must be one of {', '.join(MODES)}")
    _param("text", check_text, p.text)
    if p.idempotency_key is not None:
        _param("idempotency_key", validate_key, p.idempotency_key)
    owner = _param("session_key", lambda k: agent_for(p.agent_id, k), p.session_key)
    agent_id = check_agent(gw.config, owner or "main")
    key = _session_key(p.session_key or main_key(agent_id))
    if key in gw.running:
        raise RpcError(codes.BUSY, data={"reason": "a turn is running on this session"})
    abort = gw.running[key] = threading.Event()
    job = partial(_claimed_turn, gw, p, agent_id, key, abort)
    if p.idempotency_key is None or gw.nursery is None:
        return await job(notify)
    # The client that loses its connection retries with the key and must get this turn's
    # reply, not a second turn: its leaving does not stop the turn (nor do its events).
    return await _outlive_caller(gw.nursery, partial(job, notify and _quiet(notify)))


async def _claimed_turn(
    gw: Gateway,
    p: ChatParams,
    agent_id: str,
    key: str,
    abort: threading.Event,
    notify: Notify | None,
) -> dict[str, Any]:
    """The turn on the reserved session `key`, with its idempotency claim; frees `key`."""
    ikey = p.idempotency_key
    try:
        if ikey is not None:
            claim = await _sync(gw.idem.begin, ikey, _request_scope(key, p.text))
            if claim.kind == "replay":
                return dict(claim.result or {}, replayed=True)
            if claim.kind == "in_progress":
                raise RpcError(codes.BUSY, data={"reason": "this idempotency_key is running"})
            if claim.kind == "conflict":
                reason = "already used for another request (another session or text)"
                raise invalid_params("idempotency_key", reason)
        try:
            req = TurnRequest(
                p.text,
                agent_id,
                key,
                p.model,
                thinking=p.thinking,
                timeout_s=p.timeout_s,
                abort=abort,
                live=notify is not None,  # chat.send wants only the reply: nothing to watch
                mode=p.mode or "auto",
            )
            out = await _turn(gw, req, abort, notify)
        except BaseException:
            if ikey is not None:
                with trio.CancelScope(shield=True):
                    await _sync(gw.idem.abandon, ikey)
            raise
        if ikey is not None:
            await _sync(gw.idem.finish, ikey, out)
        return out
    finally:
        if gw.running.get(key) is abort:
            del gw.running[key]


def _quiet(notify: Notify) -> Notify:
    def send(params: dict[str, Any]) -> None:
        with contextlib.suppress(Exception):  # the client is gone or too slow: no events
            notify(params)

    return send


async def _outlive_caller(nursery: trio.Nursery, job: Callable[[], Awaitable[T]]) -> T:
    """`await job()`, but run in `nursery`: cancelling the caller leaves the job to finish."""
    done, box = trio.Event(), dict[str, Any]()

    async def run() -> None:
        try:
            box["value"] = await job()
        except Exception as e:  # for the caller to raise, if it is still there
            box["error"] = e
        finally:
            done.set()

    nursery.start_soon(run)
    await done.wait()
    if "error" in box:
        raise box["error"]
    if "value" not in box:  # the daemon cancelled it: it is stopping
        raise RpcError(codes.SHUTTING_DOWN)
    return box["value"]


def _request_scope(key: str, text: str) -> str:
    """What an idempotency key is bound to: the session and the message. A retry repeats
    both; the same key with another text is another request, not a retry to replay."""
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{key} {digest}"  # a session key has no spaces


async def _turn(
    gw: Gateway, req: TurnRequest, abort: threading.Event, notify: Notify | None
) -> dict[str, Any]:
    relay = None if notify is None else EventRelay(notify, abort)

    def work() -> Any:
        events = supervise(gw.home, gw.config, gw.store(), req)
        result = None
        try:
            for event in events:
                if isinstance(event, AgentEnd):
                    result = event.result
                if relay is not None and (params := event_params(event)) is not None:
                    relay.put(params)  # a refused event sets `abort`: the turn stops
        finally:
            events.close()
        return result

    async with trio.open_nursery() as nursery:
        nursery.start_soon(abort_on_cancel, abort)
        if relay is not None:
            nursery.start_soon(relay.run)
        result = await trio.to_thread.run_sync(work, limiter=gw.limiter)
        nursery.cancel_scope.cancel()
    if relay is not None:
        relay.flush()  # what the worker queued last goes before the result
    if result.status == "error":
        raise RpcError(codes.FAILED, result.text)
    if result.status in ("interrupted", "timeout") and gw.closing:
        raise RpcError(codes.SHUTTING_DOWN, data={"message_id": result.message_id})
    usage = {k: v for k, v in result.usage.items() if isinstance(v, int)}
    tokens = usage.get("total_tokens") or sum(usage.values())
    keys = ("message_id", "text", "session_key", "status", "model", "duration_ms", "mode")
    out = {k: getattr(result, k) for k in keys}
    return out | {"timestamp": now_iso(), "tokens_used": tokens, "usage": usage}
