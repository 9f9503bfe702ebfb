"""The Discord gateway: one WebSocket session kept alive for good, and what its events mean.

Protocol (plain JSON, no zlib): HELLO (op 10: heartbeat interval) -> IDENTIFY (op 2: token,
intents) -> READY (session_id, resume_gateway_url, the bot's user) -> dispatches (op 0,
numbered by `s`). Heartbeats (op 1) go every interval, the first after interval * random()
so clients restarting together do not beat in step. A heartbeat due while the last one has
no HEARTBEAT_ACK (op 11) means a zombie connection: close it (not with 1000/1001, which end
the session) and RESUME (op 6) on resume_gateway_url: the missed events come, then RESUMED.
RECONNECT (op 7) asks for that too. INVALID_SESSION (op 9) d=false: wait 1-5 s, IDENTIFY
anew; d=true: resume. Close codes 4004 (bad token) and 4010-4014 are final: GatewayError.

RESUME asks after the last event whose handler finished (a message: journaled), not the
last one read: if storing an event fails, the session resumes from before it and Discord
sends it again (the gateway's version of not advancing a Telegram offset). One task reads
frames and another handles events, so a slow handler never delays a HEARTBEAT_ACK.
`on_progress` tells the owner when that seq or the session changed (it saves them, so the
next process can RESUME: `restore`), and a stop closes with 4000, which keeps the session.
"""

from __future__ import annotations

import contextlib
import json
import logging
import platform
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import trio
from trio_websocket import ConnectionClosed, HandshakeError, open_websocket_url
from wsproto.events import CloseConnection
from wsproto.utilities import LocalProtocolError

from claw.errors import ClawError

log = logging.getLogger("claw.channels.discord")

OP_DISPATCH, OP_HEARTBEAT, OP_IDENTIFY, OP_RESUME = 0, 1, 2, 6
OP_RECONNECT, OP_INVALID_SESSION, OP_HELLO, OP_HEARTBEAT_ACK = 7, 9, 10, 11

# Close codes after which reconnecting cannot help (Discord: "do not reconnect").
FATAL_CLOSE_CODES = {
    4004: "authentication failed: the bot token is wrong or was reset",
    4010: "invalid shard",
    4011: "sharding required: the bot is in too many guilds for one connection",
    4012: "invalid API version (check the v= of channels.discord.gateway_url)",
    4013: "invalid intents: channels.discord.intents is not a valid bit mask",
    4014: "disallowed intents: enable Message Content for the bot in the developer portal",
}
NEW_SESSION_CLOSE_CODES = {4007, 4009}  # invalid seq, session timed out: IDENTIFY again
RESUMABLE_CLOSE = 4000  # any code but 1000/1001 keeps the session open for a RESUME
RESUME_TRIES = 2  # connections in a row that could not resume: IDENTIFY on the main URL
MAX_EVENT_BYTES = 16 * 1024 * 1024  # a READY of a bot in many guilds is large

PROPERTIES = {"os": platform.system().lower(), "browser": "claw", "device": "claw"}
OnDispatch = Callable[[str, dict[str, Any]], Awaitable[None]]


class GatewayError(ClawError):
    """No session: refused for good (bad token, intents) or failing time after time."""


@dataclass(frozen=True)
class GatewayTiming:
    """Time limits; tests shrink them (the heartbeat interval comes from HELLO)."""

    hello_timeout_s: float = 20.0
    connect_timeout_s: float = 15.0
    close_timeout_s: float = 3.0
    invalid_session_delay_s: tuple[float, float] = (1.0, 5.0)  # Discord: random 1-5 s
    backoff_s: tuple[float, float] = (1.0, 60.0)  # first and longest reconnect delay
    max_failures: int = 8  # connections in a row that never got READY/RESUMED


@dataclass(frozen=True)
class _Leave:
    """Why a connection ends and what comes next."""

    why: str
    resume: bool
    delay: float = 0.0
    fatal: GatewayError | None = None


class GatewaySession:
    """Connects, identifies, heartbeats, resumes; hands every dispatch to `on_dispatch`."""

    def __init__(
        self,
        token: str,
        intents: int,
        url: str,
        on_dispatch: OnDispatch,
        *,
        timing: GatewayTiming | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._token = token
        self.intents = intents
        self.url = url
        self.on_dispatch = on_dispatch
        self.timing = timing or GatewayTiming()
        self.rng = rng or random.Random()
        self.session_id: str | None = None
        self.resume_url: str | None = None
        self.seq: int | None = None  # last event fully handled: what RESUME asks after
        self.received_seq: int | None = None  # last event read: what heartbeats carry
        self.connected = False
        self.resumes = self.reconnects = 0
        self.latency_s: float | None = None
        self.last_error: str | None = None
        self._acked, self._heartbeat_sent_at = True, 0.0
        self._leave: _Leave | None = None
        self._scope: trio.CancelScope | None = None
        self._failures = 0  # connections in a row that never became ready
        self._sink_failures = 0  # events in a row that on_dispatch could not handle
        self._task_status: trio.TaskStatus[None] | None = None
        self.on_progress: Callable[[], None] = lambda: None  # session or seq changed

    def restore(self, session_id: str, resume_url: str | None, seq: int) -> None:
        """Start from a session saved by an earlier process: the first connection RESUMEs."""
        self.session_id, self.resume_url = session_id, resume_url
        self.seq = self.received_seq = seq

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Keep a session until cancelled; `task_status.started()` at the first READY."""
        if urlsplit(self.url).scheme not in ("ws", "wss"):
            raise GatewayError("channels.discord.gateway_url must be a ws:// or wss:// URL")
        self._task_status = task_status
        while True:
            resume = self.session_id is not None and self.seq is not None
            url = self._resume_url() if resume else self.url
            leave = await self._connect(url, resume)
            self.connected = False
            if leave.fatal is not None:
                self.last_error = leave.fatal.message
                raise leave.fatal
            self.last_error, self.reconnects = leave.why, self.reconnects + 1
            if leave.resume and self._failures >= RESUME_TRIES and self.session_id:
                log.info("discord gateway: cannot resume (%s); identifying anew", leave.why)
                self.forget_session()  # the resume URL may be gone: the main one is not
            failures = max(self._failures, self._sink_failures)
            if failures >= self.timing.max_failures:
                raise GatewayError(f"Discord gateway: {failures} failures in a row ({leave.why})")
            delay = max(leave.delay, self._backoff(self._failures))
            log.info("discord gateway: %s; reconnecting in %.1f s", leave.why, delay)
            await trio.sleep(delay)

    def _backoff(self, failures: int) -> float:
        if failures <= 0:
            return 0.0
        first, longest = self.timing.backoff_s
        return min(longest, first * 2 ** (failures - 1)) * self.rng.uniform(0.5, 1.0)

    def _resume_url(self) -> str:
        """READY's resume_gateway_url comes without the version and encoding: keep ours."""
        url = self.resume_url or self.url
        query, parts = urlsplit(self.url).query, urlsplit(url)
        if query and not parts.query:
            url = f"{url}{'' if parts.path else '/'}?{query}"
        return url

    def forget_session(self) -> None:
        self.session_id = self.resume_url = self.seq = self.received_seq = None
        self.on_progress()

    async def _connect(self, url: str, resume: bool) -> _Leave:
        """One WebSocket connection, from the handshake to the reason it ended."""
        self._leave = None
        self._failures += 1  # undone by READY / RESUMED
        leave: _Leave | None = None
        try:
            async with open_websocket_url(
                url,
                connect_timeout=self.timing.connect_timeout_s,
                disconnect_timeout=self.timing.close_timeout_s,
                max_message_size=MAX_EVENT_BYTES,
            ) as ws:
                try:
                    leave = await self._session(ws, resume)
                except BaseException:  # a stop (Cancelled, in a group): keep the session
                    await _close_for_resume(ws, self.timing.close_timeout_s)
                    raise
                with trio.move_on_after(self.timing.close_timeout_s):  # aclose: no-op if closed
                    await ws.aclose(code=1000 if leave.fatal else RESUMABLE_CLOSE)
                    await trio.aclose_forcefully(ws._stream)  # left open if the server closed
        except HandshakeError as e:  # refused, unreachable, timed out, or a slow close
            if leave is None:
                cause = e.__cause__ or e.__context__
                leave = _Leave(f"cannot connect ({type(cause or e).__name__})", resume=resume)
        assert leave is not None
        return leave

    async def _session(self, ws: Any, resume: bool) -> _Leave:
        try:
            with trio.fail_after(self.timing.hello_timeout_s):
                hello = _payload(await ws.get_message())
            if hello.get("op") != OP_HELLO:
                return _Leave(f"expected HELLO, got op {hello.get('op')!r}", resume=resume)
            interval = float(hello["d"]["heartbeat_interval"]) / 1000.0
            if not interval > 0:  # 0 or NaN would heartbeat in a busy loop
                raise ValueError("heartbeat_interval")
            if resume:
                d = {"token": self._token, "session_id": self.session_id, "seq": self.seq}
                await self._send(ws, OP_RESUME, d)
            else:
                d = {"token": self._token, "intents": self.intents, "properties": PROPERTIES}
                await self._send(ws, OP_IDENTIFY, d)
        except trio.TooSlowError:
            return _Leave("no HELLO from the gateway", resume=resume)
        except (KeyError, TypeError, ValueError):
            return _Leave("malformed HELLO", resume=resume)
        except ConnectionClosed as e:
            return self._closed(e)
        self._acked = True
        events_in, events_out = trio.open_memory_channel[dict[str, Any]](256)
        async with trio.open_nursery() as nursery:
            self._scope = nursery.cancel_scope
            nursery.start_soon(self._heartbeat, ws, interval)
            nursery.start_soon(self._dispatcher, events_out)
            nursery.start_soon(self._reader, ws, events_in)
        assert self._leave is not None
        return self._leave

    def _end(self, leave: _Leave) -> None:
        """Leave this connection (the first reason wins) and stop its tasks."""
        if self._leave is None:
            self._leave = leave
        if self._scope is not None:
            self._scope.cancel()

    def _closed(self, e: ConnectionClosed) -> _Leave:
        code = getattr(e.reason, "code", None)
        if code in FATAL_CLOSE_CODES:
            message = f"Discord gateway closed the session: {code} {FATAL_CLOSE_CODES[code]}"
            return _Leave(message, resume=False, fatal=GatewayError(message))
        if code in NEW_SESSION_CLOSE_CODES:
            self.forget_session()
            return _Leave(f"session ended by the gateway ({code})", resume=False)
        return _Leave(f"connection closed ({code})", resume=True)

    async def _send(self, ws: Any, op: int, d: Any) -> None:
        await ws.send_message(json.dumps({"op": op, "d": d}, separators=(",", ":")))

    async def _heartbeat(self, ws: Any, interval: float) -> None:
        await trio.sleep(interval * self.rng.random())
        try:
            while True:
                if not self._acked:
                    self._end(_Leave("no HEARTBEAT_ACK: zombie connection", resume=True))
                    return
                await self._beat(ws)
                await trio.sleep(interval)
        except ConnectionClosed as e:
            self._end(self._closed(e))

    async def _beat(self, ws: Any) -> None:
        self._acked = False
        self._heartbeat_sent_at = time.monotonic()
        await self._send(ws, OP_HEARTBEAT, self.received_seq)

    async def _reader(self, ws: Any, events: trio.MemorySendChannel[dict[str, Any]]) -> None:
        """Reads every frame; control opcodes are handled here, dispatches queued in order."""
        try:
            while True:
                try:
                    payload = _payload(await ws.get_message())
                except ValueError:
                    log.warning("discord gateway: skipped a frame that is not a JSON object")
                    continue
                op = payload.get("op")
                if op == OP_DISPATCH:
                    seq = payload.get("s")
                    if isinstance(seq, int):
                        self.received_seq = seq
                    await events.send(payload)
                elif op == OP_HEARTBEAT:  # the gateway asks for one now
                    await self._beat(ws)
                elif op == OP_HEARTBEAT_ACK:
                    self._acked = True
                    self.latency_s = time.monotonic() - self._heartbeat_sent_at
                elif op == OP_RECONNECT:
                    self._end(_Leave("the gateway asked to reconnect", resume=True))
                    return
                elif op == OP_INVALID_SESSION:
                    self._end(self._invalid_session(payload.get("d") is True))
                    return
        except ConnectionClosed as e:
            self._end(self._closed(e))

    def _invalid_session(self, resumable: bool) -> _Leave:
        if resumable:
            return _Leave("invalid session (resumable)", resume=True)
        self.forget_session()
        low, high = self.timing.invalid_session_delay_s
        return _Leave("invalid session", resume=False, delay=self.rng.uniform(low, high))

    async def _dispatcher(self, events: trio.MemoryReceiveChannel[dict[str, Any]]) -> None:
        async for payload in events:
            kind, data, seq = payload.get("t"), payload.get("d"), payload.get("s")
            if not isinstance(kind, str) or not isinstance(data, dict):
                continue
            if kind == "READY":
                self._ready(data)
            try:
                await self.on_dispatch(kind, data)
            except Exception as e:  # not stored: resume from before it, to get it again
                self._sink_failures += 1
                why = f"could not store {kind} #{seq} ({type(e).__name__}: {e})"
                self._end(_Leave(why, resume=True, delay=self._backoff(self._sink_failures)))
                return
            self._sink_failures = 0
            if isinstance(seq, int):
                self.seq = seq
                self.on_progress()
            if kind == "RESUMED":
                self.resumes += 1
            if kind in ("READY", "RESUMED"):
                self._became_ready()  # after the handler: it learns the bot's id first

    def _ready(self, data: dict[str, Any]) -> None:
        self.session_id = data.get("session_id")
        url = data.get("resume_gateway_url")
        ok = isinstance(url, str) and urlsplit(url).scheme in ("ws", "wss")
        self.resume_url = url if ok else None

    def _became_ready(self) -> None:
        self._failures = 0
        self.connected = True
        self.last_error = None
        if self._task_status is not None:
            status, self._task_status = self._task_status, None
            status.started()


async def _close_for_resume(ws: Any, timeout: float) -> None:
    """On a stop: send close 4000 so Discord keeps the session for the next process's RESUME
    (the library's own close says 1000, which ends it), then drop the TCP stream. The reader
    task is cancelled by then, so waiting for the server's close reply would only time out."""
    with trio.CancelScope(shield=True), trio.move_on_after(timeout):
        with contextlib.suppress(ConnectionClosed, trio.BrokenResourceError, LocalProtocolError):
            await ws._send(CloseConnection(code=RESUMABLE_CLOSE))
        await trio.aclose_forcefully(ws._stream)


def _payload(raw: str | bytes) -> dict[str, Any]:
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data
