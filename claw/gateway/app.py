"""The gateway's ASGI app: `GET /health`, `POST /rpc` and the `/ws` WebSocket.

A small Starlette app does the routing, the lifespan and the 404s. The two transports
are raw ASGI endpoints under it: every limit (body size, frame size, send buffer, auth
deadline) is enforced right where bytes arrive or leave, and both feed the same
`protocol.dispatch`, so behaviour cannot drift between them.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import trio
from starlette.applications import Starlette
from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute

from claw import __version__
from claw.gateway import (
    channel_methods,  # noqa: F401  (registers channels.status)
    memory_methods,  # noqa: F401  (registers memory.recall)
    queue_methods,  # noqa: F401  (registers the queue.* methods)
    task_methods,  # noqa: F401  (registers the tasks.* methods)
)
from claw.gateway import rpc_errors as codes
from claw.gateway.auth_wait import AuthWait
from claw.gateway.hooks import HookError, HookLimits
from claw.gateway.hooks import receive as receive_hook
from claw.gateway.http_io import CLOSE, Receive, Scope, Send, client_ip, read_body, reply
from claw.gateway.methods import METHODS, Caller, Gateway
from claw.gateway.protocol import (
    Job,
    MethodSpec,
    Request,
    Response,
    dispatch,
    encode,
    error,
    notification,
    parse,
)
from claw.gateway.rpc_errors import RpcError, rate_limited
from claw.gateway.security import AuthThrottle, RateLimiter, bearer_from_headers, check_token

log = logging.getLogger("claw.gateway")

CLOSE_UNAUTHORIZED = 4401
CLOSE_TOO_BIG = 1009
CLOSE_TRY_LATER = 1013
CLOSE_POLICY = 1008
CLOSE_GOING_AWAY = 1001


@dataclass
class Limits:
    """Transport limits; the defaults are the documented ones (issue #4 §6)."""

    max_body: int = 1024 * 1024
    max_frame: int = 1024 * 1024
    max_connections: int = 1024
    max_unauthenticated: int = 64  # of them, waiting for a first-frame `auth` (strangers too)
    auth_timeout_s: float = 5.0
    rate_per_s: float = 50.0
    burst: int = 100
    send_queue: int = 256


class SlowReader(Exception):
    """The client does not read its messages; it is dropped instead of buffered."""


class _Raw:
    """A raw ASGI endpoint for Starlette's router (which wraps plain functions and methods
    into Request/Response handlers, but mounts any other callable as it is)."""

    def __init__(self, handler: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.handler(scope, receive, send)


async def _health(request: HttpRequest) -> JSONResponse:
    return JSONResponse({"ok": True, "version": __version__})


async def _not_found(request: HttpRequest, exc: Exception) -> JSONResponse:
    return JSONResponse({"error": "not found"}, status_code=404)


async def _refuse_ws(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "websocket.close", "code": CLOSE_POLICY})


class GatewayApp:
    def __init__(self, gw: Gateway, token: str, limits: Limits | None = None) -> None:
        self.gw, self.token = gw, token
        self.limits = limits or Limits()
        self.throttle = AuthThrottle()
        self.auth_wait = AuthWait(self.throttle)
        self.conns: set[WsConn] = set()
        self.unauthenticated = 0  # connections without a token yet: a stranger holds these
        self.http_rates: OrderedDict[str, RateLimiter] = OrderedDict()  # per client IP
        self.hook_limits = HookLimits()
        self.router = Starlette(
            routes=[
                Route("/health", _health, methods=["GET"]),
                Route("/rpc", _Raw(self._rpc)),
                WebSocketRoute("/ws", _Raw(self._ws)),
                Route("/hooks/{name}", _Raw(self._hook)),
                WebSocketRoute("/{path:path}", _Raw(_refuse_ws)),
            ],
            exception_handlers={404: _not_found},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.router(scope, receive, send)

    def broadcast(self, topic: str, params: dict[str, Any]) -> None:
        """An event to every connection subscribed to `topic` (slow readers are dropped)."""
        for conn in list(self.conns):
            if topic in conn.topics:
                with contextlib.suppress(SlowReader):
                    conn.notify(params)

    async def _ws(self, scope: Scope, receive: Receive, send: Send) -> None:
        await WsConn(self, scope, receive, send).run()

    async def authenticate(self, client: str, token: str | None) -> bool:
        """Constant-time check, slowed per client IP after repeated failures."""
        async with self.auth_wait.turn(client):
            if check_token(token, self.token):
                self.throttle.succeeded(client)
                return True
            self.throttle.failed(client)
            return False

    async def _rpc(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("method") != "POST":
            await reply(send, 405, encode({"error": "use POST"}), [(b"allow", b"POST")])
            return
        # Only the header counts: a `?token=` in the URL is ignored, never accepted.
        token = bearer_from_headers(scope["headers"])
        denied = encode(error(None, RpcError(codes.UNAUTHORIZED)))
        if token is not None and not await self.authenticate(client_ip(scope), token):
            await reply(send, 401, denied, CLOSE)
            return
        body = await read_body(scope, receive, self.limits.max_body)
        if body is None:
            too_big = RpcError(codes.PAYLOAD_TOO_LARGE, data={"max_bytes": self.limits.max_body})
            await reply(send, 413, encode(error(None, too_big)), CLOSE)
            return
        parsed = parse(body)
        # No token: only methods for anyone (`health`), as over WebSocket before `auth`.
        if token is None and not METHODS.public(parsed):
            await self.authenticate(client_ip(scope), None)  # a failed attempt: counted, slowed
            await reply(send, 401, denied)
            return
        refused: list[int] = []  # retry_after_ms of each request refused by the rate limit
        bucket = self._http_bucket(client_ip(scope))

        async def check(spec: MethodSpec, request: Request) -> None:
            wait = bucket.take()
            if wait > 0:
                refused.append(max(1, math.ceil(wait * 1000)))
                raise rate_limited(refused[-1])

        async def verify(given: str) -> None:  # `auth` over HTTP: is this token the right one
            if token is None and not await self.authenticate(client_ip(scope), given):
                raise RpcError(codes.UNAUTHORIZED, data={"reason": "wrong token"})

        caller = self._caller(functools.partial(Caller, authenticate=verify))
        out = await dispatch(parsed, METHODS, caller, check=check, run_all=run_all)
        if refused and not parsed.batch and out is not None:
            # A single refused request: also say it the HTTP way, for plain HTTP clients.
            retry = [(b"retry-after", b"%d" % math.ceil(refused[0] / 1000))]
            await reply(send, 429, out, retry)
            return
        await reply(send, 200 if out is not None else 204, out or b"")

    async def _hook(self, scope: Scope, receive: Receive, send: Send) -> None:
        """`POST /hooks/<name>`: an inbound webhook message (claw.gateway.hooks)."""
        if scope.get("method") != "POST":
            await reply(send, 405, encode({"error": "use POST"}), [(b"allow", b"POST")])
            return
        async with self.auth_wait.turn(client_ip(scope)):  # after wrong tokens
            pass
        body = await read_body(scope, receive, self.limits.max_body)
        if body is None:
            await reply(send, 413, encode({"error": "body too large"}), CLOSE)
            return
        name = str(scope.get("path_params", {}).get("name", ""))
        try:
            answer = await receive_hook(
                self.gw.channels,
                self.gw.config,
                name,
                scope["headers"],
                body,
                self.token,
                self.hook_limits,
            )
        except HookError as e:
            if e.status == 401:
                self.throttle.failed(client_ip(scope))
            extra = []
            if e.retry_after is not None:
                extra = [(b"retry-after", b"%d" % max(1, math.ceil(e.retry_after)))]
            await reply(send, e.status, encode({"error": e.message}), extra)
            return
        await reply(send, 200, encode(answer))

    def _http_bucket(self, client: str) -> RateLimiter:
        """The rate limit of one client address over HTTP (WebSockets have one each);
        the least recently seen addresses are forgotten beyond 4,096."""
        bucket = self.http_rates.get(client)
        if bucket is None:
            bucket = self.http_rates[client] = RateLimiter(
                self.limits.rate_per_s, self.limits.burst
            )
            if len(self.http_rates) > 4096:
                self.http_rates.popitem(last=False)
        else:
            self.http_rates.move_to_end(client)
        return bucket

    def _caller(self, make: Callable[[Any], Caller]) -> Any:
        async def call(spec: MethodSpec, params: Any, request: Request) -> Any:
            return await spec.handler(self.gw, make(request.id), params)

        return call


class WsConn:
    """One WebSocket: a receive loop, a sender draining a bounded queue, and per-request
    tasks (so `chat.abort` is answered while that connection's stream is running)."""

    def __init__(self, app: GatewayApp, scope: Scope, receive: Receive, send: Send) -> None:
        self.app, self.scope, self.receive, self.send = app, scope, receive, send
        self.client = client_ip(scope)
        self.authed = False
        self.pending = False  # counted in app.unauthenticated
        self.topics: set[str] = set()  # events.subscribe
        self.close_after: int | None = None
        lim = app.limits
        self.rate = RateLimiter(lim.rate_per_s, lim.burst)
        self.out, self.out_rx = trio.open_memory_channel[bytes | int](lim.send_queue)
        self.scope_cs = trio.CancelScope()

    async def run(self) -> None:
        app = self.app
        if (await self.receive())["type"] != "websocket.connect":
            return
        await self.send({"type": "websocket.accept"})
        if len(app.conns) >= app.limits.max_connections or app.gw.closing:
            await self.send({"type": "websocket.close", "code": CLOSE_TRY_LATER})
            return
        header = bearer_from_headers(self.scope["headers"])
        if header is None and app.unauthenticated >= app.limits.max_unauthenticated:
            await self.send({"type": "websocket.close", "code": CLOSE_TRY_LATER})
            return  # strangers cannot fill the connections that clients with tokens need
        app.conns.add(self)  # before any await: the limits cannot be overshot
        app.gw.connections += 1
        self.pending = header is None
        app.unauthenticated += self.pending
        try:
            if header is not None and not await app.authenticate(self.client, header):
                await self.send({"type": "websocket.close", "code": CLOSE_UNAUTHORIZED})
                return
            self.authed = header is not None
            with self.scope_cs:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._sender)
                    if not self.authed:
                        nursery.start_soon(self._auth_deadline)
                    if await self._receive_loop(nursery):
                        nursery.cancel_scope.cancel()  # the client left: stop its work
        finally:
            app.conns.discard(self)
            app.gw.connections -= 1
            self._unpend()

    def _unpend(self) -> None:
        if self.pending:
            self.pending = False
            self.app.unauthenticated -= 1

    def close(self, code: int) -> None:
        """Close after the queued messages; at once when even that cannot be queued."""
        try:
            self.out.send_nowait(code)
        except (trio.WouldBlock, trio.ClosedResourceError, trio.BrokenResourceError):
            self.scope_cs.cancel()

    def enqueue(self, message: bytes) -> None:
        try:
            self.out.send_nowait(message)
        except trio.WouldBlock:
            self.scope_cs.cancel()  # a full queue means a slow reader: drop it
            raise SlowReader from None

    def notify(self, params: dict[str, Any]) -> None:
        self.enqueue(encode(notification("event", params)))

    async def _sender(self) -> None:
        try:
            async for item in self.out_rx:
                if isinstance(item, int):
                    await self.send({"type": "websocket.close", "code": item})
                    break
                await self.send({"type": "websocket.send", "text": item.decode("utf-8")})
        except Exception as e:  # the client vanished (the ASGI server refuses the send)
            log.debug("websocket send failed: %r", e)
        self.scope_cs.cancel()

    async def _auth_deadline(self) -> None:
        await trio.sleep(self.app.limits.auth_timeout_s)
        if not self.authed:
            self.close(CLOSE_UNAUTHORIZED)

    async def _receive_loop(self, nursery: trio.Nursery) -> bool:
        """True when the client disconnected; False when we are closing (let the queue flush)."""
        while True:
            msg = await self.receive()
            if msg["type"] != "websocket.receive":
                return True
            data = msg.get("text")
            raw = data.encode("utf-8") if data is not None else msg.get("bytes") or b""
            if len(raw) > self.app.limits.max_frame:
                limit = {"max_bytes": self.app.limits.max_frame}
                self.enqueue(encode(error(None, RpcError(codes.PAYLOAD_TOO_LARGE, data=limit))))
                self.close(CLOSE_TOO_BIG)
                return False
            if self.authed:
                nursery.start_soon(self._handle, raw)
            else:
                await self._handle(raw)  # the auth frame must settle before the next one

    async def _handle(self, raw: bytes) -> None:
        out = await dispatch(
            parse(raw),
            METHODS,
            self.app._caller(self._make_caller),
            check=self._check,
            run_all=run_all,
        )
        if out is not None:
            with contextlib.suppress(SlowReader):  # enqueue already dropped the connection
                self.enqueue(out)
        if self.close_after is not None:
            self.close(self.close_after)

    def _make_caller(self, request_id: Any) -> Caller:
        return Caller(request_id, self.notify, self._auth, self.topics.update)

    async def _check(self, spec: MethodSpec, request: Request) -> None:
        wait = self.rate.take()
        if wait > 0:
            raise rate_limited(max(1, math.ceil(wait * 1000)))
        if spec.auth and not self.authed:
            raise RpcError(codes.UNAUTHORIZED, data={"reason": "send an auth request first"})

    async def _auth(self, token: str) -> None:
        if self.authed:
            return
        if not await self.app.authenticate(self.client, token):
            self.close_after = CLOSE_UNAUTHORIZED  # once the error answer is queued
            raise RpcError(codes.UNAUTHORIZED, data={"reason": "wrong token"})
        self.authed = True
        self._unpend()


async def run_all(jobs: Sequence[Job]) -> list[Response | None]:
    """Batch members run concurrently; answers keep the request order."""
    results: list[Response | None] = [None] * len(jobs)

    async def one(i: int, job: Job) -> None:
        results[i] = await job()

    async with trio.open_nursery() as nursery:
        for i, job in enumerate(jobs):
            nursery.start_soon(one, i, job)
    return results
