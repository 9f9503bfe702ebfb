"""Helpers for tests against the real gateway on 127.0.0.1, port 0."""

from __future__ import annotations

import functools
import itertools
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import trio
from trio_websocket import WebSocketConnection, open_websocket_url

from claw.gateway.methods import METHODS
from claw.gateway.security import load_token
from claw.gateway.serve import serve
from claw.state.config import load
from claw.state.home import Home

_ids = itertools.count(1)


@METHODS.method("test.boom")
async def _boom(gw: Any, caller: Any, p: None) -> None:  # a bug in a method: -32603, no text
    raise RuntimeError("secret /path/to/thing")


def run(main: Callable[[], Awaitable[None]], timeout: float = 20) -> None:
    """A sync test body: the whole scenario under a hard deadline."""

    async def wrapped() -> None:
        with trio.fail_after(timeout):
            await main()

    trio.run(wrapped)


def rate_limit_error() -> Exception:
    import httpx
    import litellm

    request = httpx.Request("POST", "https://api.example.test/v1")
    response = httpx.Response(429, headers={"retry-after": "30"}, request=request)
    return litellm.RateLimitError("slow down", "scripted", "test", response=response)


@dataclass
class Server:
    port: int
    token: str
    nursery: trio.Nursery

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def auth(self) -> list[tuple[bytes, bytes]]:
        return [(b"authorization", f"Bearer {self.token}".encode())]


@asynccontextmanager
async def running(home: Home, **kw: Any) -> AsyncIterator[Server]:
    config = load(home.config_file)
    async with trio.open_nursery() as nursery:
        start = functools.partial(serve, home, config, host="127.0.0.1", port=0, **kw)
        port = await nursery.start(start)
        yield Server(port, load_token(home), nursery)
        nursery.cancel_scope.cancel()


@asynccontextmanager
async def ws_client(server: Server, *, auth: bool = True) -> AsyncIterator[WebSocketConnection]:
    headers = server.auth() if auth else []
    async with open_websocket_url(server.ws, extra_headers=headers, max_message_size=4 << 20) as ws:
        yield ws


async def recv(ws: WebSocketConnection) -> Any:
    return json.loads(await ws.get_message())


async def call(
    ws: WebSocketConnection, method: str, params: Any = None, *, events: list | None = None
) -> dict[str, Any]:
    """One request; notifications met on the way are collected into `events`."""
    rid = next(_ids)
    msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": rid}
    if params is not None:
        msg["params"] = params
    await ws.send_message(json.dumps(msg))
    while True:
        reply = await recv(ws)
        if reply.get("id") == rid and "method" not in reply:
            return reply
        if events is not None and reply.get("method") == "event":
            events.append(reply["params"])


async def reply_or_close(ws: WebSocketConnection, rid: int) -> dict[str, Any] | str:
    """The reply to request `rid` (events skipped), or "closed" if the server closes first."""
    from trio_websocket import ConnectionClosed

    try:
        while True:
            msg = await recv(ws)
            if msg.get("id") == rid:
                return msg
    except ConnectionClosed:
        return "closed"


def transcript_messages(home: Home, key: str) -> list[dict[str, Any]]:
    from claw.state.sessions import SessionStore

    return SessionStore(home).read(key).messages
