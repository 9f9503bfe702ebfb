"""A protocol-faithful fake of Discord's gateway and REST API, on 127.0.0.1, in threads.

Gateway (websockets' sync server): HELLO, IDENTIFY -> READY (+ GUILD_CREATE per guild),
heartbeats answered by HEARTBEAT_ACK (unless `ack_heartbeats` is off: a zombie), RESUME ->
the missed events replayed then RESUMED, or INVALID_SESSION when the session is gone (a
client close with 1000/1001 ends it, as on Discord; a dropped connection or any other code
keeps it). Sessions live in the fake, not in a connection: a RESUME from a new connection,
even from another process (a restarted daemon), gets what the session missed;
close 4004 for a wrong token, 4014 for disallowed intents. Every dispatch of a session is
kept, numbered, so a client that resumes from `seq` gets exactly what followed it.
REST (http.server): GET /users/@me, POST /users/@me/channels, POST /channels/{id}/messages
(2,000 characters at most, nonces with enforce_nonce deduplicated, unknown channel 404
10003), GET /channels/{id}/messages?after= (every user message pushed is kept per channel;
one pushed while no session is live reaches only this history, as a message sent while a
bot's session is gone reaches only Discord's REST API), POST /channels/{id}/typing;
scripted failures, 429s per route and global, and optional per-route buckets with
X-RateLimit-* headers. A request made while a limit holds
counts as a `violation`: a client that honours the limits makes none.

Everything runs in background threads and every method is thread-safe, so a test can
drive it from trio (through trio.to_thread) or point a `claw serve` subprocess at it
(`channels.discord.gateway_url = fake.gateway_url`, `api_base = fake.api_base`) and wait
with `wait_for_messages(n, timeout)`.
"""

from __future__ import annotations

import contextlib
import json
import math
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve

TOKEN = "fake-discord-token"
BOT_ID = "1000000000000000001"
DISCORD_EPOCH_MS = 1_420_070_400_000


@dataclass
class Session:
    id: str
    events: list[dict[str, Any]] = field(default_factory=list)
    seq: int = 0
    conn: Conn | None = None
    valid: bool = True


@dataclass
class Conn:
    ws: ServerConnection
    path: str
    session: Session | None = None
    send_lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, payload: dict[str, Any]) -> None:
        # ConnectionClosed: a dropped client, nothing to do
        with self.send_lock, contextlib.suppress(ConnectionClosed):
            self.ws.send(json.dumps(payload))


@dataclass
class Script:
    """A scripted answer for requests to one channel (None: any route), `times` times."""

    channel: str | None
    status: int
    body: dict[str, Any]
    times: int | None
    retry_after: float = 0.0
    is_global: bool = False


class FakeDiscord:
    def __init__(
        self,
        *,
        token: str = TOKEN,
        bot_id: str = BOT_ID,
        heartbeat_interval_ms: int = 41_250,
        disallowed_intents: int = 0,
        guilds: dict[str, list[dict[str, Any]]] | None = None,
    ) -> None:
        self.token, self.bot_id = token, bot_id
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.disallowed_intents = disallowed_intents
        self.guilds = guilds or {}  # guild id -> its active threads (GUILD_CREATE)
        self.ack_heartbeats = True
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self._last_id = 0
        self.sessions: dict[str, Session] = {}
        self.current: Session | None = None
        self.conns: list[Conn] = []
        self.paths: list[str] = []  # the path of each gateway connection, in order
        self.identifies: list[dict[str, Any]] = []
        self.resumes: list[dict[str, Any]] = []
        self.heartbeats: list[tuple[float, Any]] = []
        self.closes: list[int | None] = []  # close codes the client sent
        self.messages: list[dict[str, Any]] = []
        self.history: dict[str, list[dict[str, Any]]] = {}  # channel -> users' messages
        self.typing: list[str] = []
        self.requests: list[tuple[float, str, str]] = []
        self.channels: set[str] = set()
        self.dms: dict[str, str] = {}
        self.violations = 0
        self.scripts: list[Script] = []
        self.bucket: tuple[int, float] | None = None  # (limit, window_s) per route
        self._buckets: dict[str, tuple[float, int]] = {}  # route -> (window start, used)
        self._holds: dict[str, float] = {}  # route ("*" global) -> monotonic deadline
        self._ws_server = serve(self._gateway, "127.0.0.1", 0, ping_interval=None)
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._http.daemon_threads = True
        self._threads: list[threading.Thread] = []

    # -- lifecycle ---------------------------------------------------------------------
    @property
    def ws_port(self) -> int:
        return self._ws_server.socket.getsockname()[1]

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}/?v=10&encoding=json"

    @property
    def resume_url(self) -> str:  # what READY advertises; distinct so tests see it used
        return f"ws://127.0.0.1:{self.ws_port}/resume"

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}/api/v10"

    def start(self) -> FakeDiscord:
        for target in (self._ws_server.serve_forever, self._serve_http):
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _serve_http(self) -> None:
        self._http.serve_forever(poll_interval=0.02)  # a quick stop() between tests

    def stop(self) -> None:
        with self.lock:
            conns = list(self.conns)
        for conn in conns:
            _abort(conn.ws)
        self._ws_server.shutdown()
        self._http.shutdown()
        self._http.server_close()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> FakeDiscord:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def new_id(self, at: float | None = None) -> str:
        """A snowflake: milliseconds since Discord's epoch << 22, unique and increasing
        (a message's age is read from its id). `at`: an id from that time (not unique)."""
        ms = int((time.time() if at is None else at) * 1000) - DISCORD_EPOCH_MS
        if at is not None:
            return str(ms << 22)
        with self.lock:
            self._last_id = max(self._last_id + 1, ms << 22)
            return str(self._last_id)

    # -- waiting -----------------------------------------------------------------------
    def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
        """Block until predicate() (called under the lock) is truthy; TimeoutError if not."""
        with self.changed:
            result = self.changed.wait_for(predicate, timeout)
        if not result:
            raise TimeoutError(f"fake Discord: timed out waiting for {what or predicate}")
        return result

    def wait_for_messages(self, n: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        self.wait_for(lambda: len(self.messages) >= n, timeout, f"{n} message(s)")
        with self.lock:
            return list(self.messages)

    def wait_ready(self, sessions: int = 1, timeout: float = 10.0) -> None:
        """Until `sessions` sessions were identified and one is live."""
        self.wait_for(
            lambda: len(self.identifies) >= sessions and self.live() is not None,
            timeout,
            f"{sessions} identified session(s)",
        )

    def live(self) -> Conn | None:
        with self.lock:
            session = self.current
            return session.conn if session is not None and session.valid else None

    def _notify(self) -> None:
        with self.changed:
            self.changed.notify_all()

    # -- gateway: server side ----------------------------------------------------------
    def _gateway(self, ws: ServerConnection) -> None:
        conn = Conn(ws, ws.request.path if ws.request else "")
        with self.lock:
            self.conns.append(conn)
            self.paths.append(conn.path)
        conn.send({"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval_ms}})
        try:
            for raw in ws:
                self._on_frame(conn, json.loads(raw))
        except ConnectionClosed:
            pass
        finally:
            with self.lock:
                rcvd = ws.protocol.close_rcvd
                self.closes.append(rcvd.code if rcvd is not None else None)
                self.conns.remove(conn)
                if conn.session is not None and conn.session.conn is conn:
                    conn.session.conn = None
                    if rcvd is not None and rcvd.code in (1000, 1001):
                        conn.session.valid = False  # Discord: a normal close ends the session
            self._notify()

    def _on_frame(self, conn: Conn, payload: dict[str, Any]) -> None:
        op, d = payload.get("op"), payload.get("d")
        if op == 1:
            with self.lock:
                self.heartbeats.append((time.monotonic(), d))
                ack = self.ack_heartbeats
            if ack:
                conn.send({"op": 11})
        elif op == 2:
            self._identify(conn, d)
        elif op == 6:
            self._resume(conn, d)
        else:
            conn.ws.close(4001, "Unknown opcode.")
        self._notify()

    def _identify(self, conn: Conn, d: dict[str, Any]) -> None:
        with self.lock:
            self.identifies.append(d)
            if d.get("token") != self.token:
                conn.ws.close(4004, "Authentication failed.")
                return
            if conn.session is not None:
                conn.ws.close(4005, "Already authenticated.")
                return
            if int(d.get("intents", 0)) & self.disallowed_intents:
                conn.ws.close(4014, "Disallowed intent(s).")
                return
            session = Session(uuid.uuid4().hex)
            self.sessions[session.id] = session
            conn.session, session.conn, self.current = session, conn, session
            ready = {
                "v": 10,
                "user": {"id": self.bot_id, "username": "claw-test", "bot": True},
                "guilds": [{"id": g, "unavailable": True} for g in self.guilds],
                "session_id": session.id,
                "resume_gateway_url": self.resume_url,
                "application": {"id": self.bot_id},
            }
            self._emit(session, "READY", ready)
            for guild, threads in self.guilds.items():
                self._emit(session, "GUILD_CREATE", {"id": guild, "threads": threads})

    def _resume(self, conn: Conn, d: dict[str, Any]) -> None:
        with self.lock:
            self.resumes.append(d)
            session = self.sessions.get(str(d.get("session_id")))
            seq = d.get("seq")
            if d.get("token") != self.token:
                conn.ws.close(4004, "Authentication failed.")
                return
            if session is None or not session.valid or not isinstance(seq, int):
                conn.send({"op": 9, "d": False})
                return
            if seq > session.seq:
                conn.ws.close(4007, "Invalid seq.")
                return
            if session.conn is not None and session.conn is not conn:
                _abort(session.conn.ws)  # the old connection of a resumed session is gone
            conn.session, session.conn, self.current = session, conn, session
            for event in session.events:
                if event["s"] > seq:
                    conn.send(event)
            self._emit(session, "RESUMED", {})

    def _emit(self, session: Session, kind: str, d: dict[str, Any]) -> int:
        """Number an event, keep it for replay, and send it if the session is connected."""
        with self.lock:
            session.seq += 1
            event = {"op": 0, "t": kind, "s": session.seq, "d": d}
            session.events.append(event)
            if session.conn is not None:
                session.conn.send(event)
            return session.seq

    # -- gateway: what a test does ---------------------------------------------------------
    def dispatch(self, kind: str, d: dict[str, Any]) -> int:
        """Send an event in the current session (kept for a resume if it is disconnected)."""
        with self.lock:
            if self.current is None or not self.current.valid:
                raise RuntimeError("fake Discord: no session to dispatch in")
            seq = self._emit(self.current, kind, d)
        self._notify()
        return seq

    def push_message(
        self,
        content: str,
        *,
        channel_id: str,
        author_id: str = "2000000000000000001",
        username: str = "alice",
        guild_id: str | None = None,
        bot: bool = False,
        mention_bot: bool = False,
        reply_to_bot: bool = False,
        message_type: int = 0,
        nick: str | None = None,
    ) -> str:
        """A MESSAGE_CREATE from a user; returns its message id."""
        message_id = self.new_id()
        author = {"id": author_id, "username": username, "global_name": username.title()}
        if bot:
            author["bot"] = True
        d: dict[str, Any] = {
            "id": message_id,
            "channel_id": channel_id,
            "author": author,
            "content": content,
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000000+00:00", time.gmtime()),
            "type": message_type,
            "mentions": [{"id": self.bot_id, "username": "claw-test", "bot": True}]
            if mention_bot
            else [],
            "mention_everyone": False,
            "attachments": [],
            "embeds": [],
        }
        if guild_id is not None:
            d["guild_id"] = guild_id
            d["member"] = {"nick": nick, "roles": []}
        if reply_to_bot:
            d["type"] = 19
            d["message_reference"] = {"message_id": self.new_id(), "channel_id": channel_id}
            d["referenced_message"] = {"id": self.new_id(), "author": {"id": self.bot_id}}
        with self.lock:
            self.channels.add(channel_id)
            self.history.setdefault(channel_id, []).append(d)
            if self.current is None or not self.current.valid:
                return message_id  # no session receives it: only GET .../messages shows it
        self.dispatch("MESSAGE_CREATE", d)
        return message_id

    def dm_channel(self, user_id: str) -> str:
        """The DM channel between the bot and a user (created on first use)."""
        with self.lock:
            if user_id not in self.dms:
                self.dms[user_id] = self.new_id()
                self.channels.add(self.dms[user_id])
            return self.dms[user_id]

    def push_dm(self, content: str, *, author_id: str = "2000000000000000001", **kw: Any) -> str:
        return self.push_message(
            content, channel_id=self.dm_channel(author_id), author_id=author_id, **kw
        )

    def create_thread(self, guild_id: str, parent_id: str) -> str:
        thread_id = self.new_id()
        with self.lock:
            self.channels.add(thread_id)
        thread = {"id": thread_id, "guild_id": guild_id, "parent_id": parent_id, "type": 11}
        self.dispatch("THREAD_CREATE", {**thread, "name": "a thread"})
        return thread_id

    def drop(self) -> None:
        """Cut the live connection without a close frame (the client sees 1006)."""
        conn = self.live()
        if conn is not None:
            _abort(conn.ws)

    def expire_session(self) -> None:
        """The session ends while the client is away: its RESUME gets INVALID_SESSION."""
        with self.lock:
            session = self.current
            if session is not None:
                session.valid = False
            conn = session.conn if session is not None else None
        if conn is not None:
            _abort(conn.ws)

    def close(self, code: int, reason: str = "") -> None:
        conn = self.live()
        if conn is not None:  # in a thread: the closing handshake waits for the client
            threading.Thread(target=conn.ws.close, args=(code, reason), daemon=True).start()

    def send_op(self, op: int, d: Any = None) -> None:
        """A control opcode on the live connection: 1 heartbeat request, 7 reconnect, 9..."""
        conn = self.live()
        if conn is None:
            raise RuntimeError("fake Discord: no live connection")
        with self.lock:
            if op == 9 and d is False and conn.session is not None:
                conn.session.valid = False
        conn.send({"op": op, "d": d})

    # -- REST --------------------------------------------------------------------------
    def fail(
        self, channel: str | None, status: int, code: int, message: str, times: int | None = 1
    ) -> None:
        """Answer requests to `channel` (None: any) with an error, `times` times."""
        with self.lock:
            self.scripts.append(Script(channel, status, {"message": message, "code": code}, times))

    def rate_limit(
        self, channel: str | None, retry_after: float, *, is_global: bool = False, times: int = 1
    ) -> None:
        """Answer with 429 and hold the route (or, global, every route) for retry_after."""
        body = {"message": "You are being rate limited.", "retry_after": retry_after}
        body["global"] = is_global
        with self.lock:
            self.scripts.append(Script(channel, 429, body, times, retry_after, is_global))

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._answer(*fake._rest("GET", self.path, self.headers.get("Authorization"), {}))

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw) if raw else {}
                except ValueError:
                    body = None
                auth = self.headers.get("Authorization")
                self._answer(*fake._rest("POST", self.path, auth, body))

            def _answer(self, status: int, body: Any, headers: dict[str, str]) -> None:
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                if data:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def _rest(
        self, method: str, path: str, auth: str | None, body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        path, _, query = path.removeprefix("/api/v10").partition("?")
        with self.lock:
            self.requests.append((time.monotonic(), method, path))
            try:
                if method == "GET" and path.startswith("/channels/"):
                    return self._route(method, path, auth, parse_qs(query))
                return self._route(method, path, auth, body)
            finally:
                self.changed.notify_all()

    def _route(
        self, method: str, path: str, auth: str | None, body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        if auth != f"Bot {self.token}":
            return 401, {"message": "401: Unauthorized", "code": 0}, {}
        if body is None:
            return 400, {"message": "The request body contains invalid JSON.", "code": 50109}, {}
        parts = path.strip("/").split("/")
        channel = parts[1] if len(parts) >= 3 and parts[0] == "channels" else None
        route = f"{method} {path}"
        limited = self._limits(route, channel)
        if limited is not None:
            return limited
        headers = self._bucket_headers(route)
        if method == "GET" and path == "/users/@me":
            return 200, {"id": self.bot_id, "username": "claw-test", "bot": True}, headers
        if method == "POST" and path == "/users/@me/channels":
            user = str(body.get("recipient_id", ""))
            if not user.isdigit():
                return 400, {"message": "Invalid Form Body", "code": 50035}, headers
            dm = {"id": self.dm_channel(user), "type": 1, "recipients": [{"id": user}]}
            return 200, dm, headers
        if channel is not None and channel not in self.channels:
            return 404, {"message": "Unknown Channel", "code": 10003}, headers
        if method == "POST" and parts[2:] == ["typing"]:
            self.typing.append(channel or "")
            return 204, None, headers
        if method == "POST" and parts[2:] == ["messages"]:
            return self._create_message(channel or "", body, headers)
        if method == "GET" and parts[2:] == ["messages"]:
            return self._list_messages(channel or "", body, headers)
        return 404, {"message": "404: Not Found", "code": 0}, {}

    def _limits(self, route: str, channel: str | None) -> tuple[int, Any, dict[str, str]] | None:
        now = time.monotonic()
        for key, is_global in (("*", True), (route, False)):
            if self._holds.get(key, 0.0) > now:
                self.violations += 1
                return self._too_many(self._holds[key] - now, is_global)
        if self.bucket is not None:
            limit, window = self.bucket
            start, used = self._buckets.get(route, (now, 0))
            if now - start >= window:
                start, used = now, 0
            if used >= limit:
                self.violations += 1
                return self._too_many(window - (now - start), False)
            self._buckets[route] = (start, used + 1)
        for script in self.scripts:
            if script.channel in (None, channel) and script.times != 0:
                if script.times is not None:
                    script.times -= 1
                if script.status != 429:
                    return script.status, script.body, {}
                self._holds["*" if script.is_global else route] = now + script.retry_after
                return self._too_many(script.retry_after, script.is_global)
        return None

    def _too_many(self, seconds: float, is_global: bool) -> tuple[int, Any, dict[str, str]]:
        body = {"message": "You are being rate limited.", "retry_after": round(seconds, 3)}
        body["global"] = is_global
        headers = {"Retry-After": str(math.ceil(seconds)), "X-RateLimit-Scope": "user"}
        if is_global:
            headers.update({"X-RateLimit-Global": "true", "X-RateLimit-Scope": "global"})
        return 429, body, headers

    def _bucket_headers(self, route: str) -> dict[str, str]:
        if self.bucket is None or route not in self._buckets:
            return {}
        limit, window = self.bucket
        start, used = self._buckets[route]
        return {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(limit - used),
            "X-RateLimit-Reset-After": f"{max(0.0, window - (time.monotonic() - start)):.3f}",
            "X-RateLimit-Bucket": "fake-" + route.split()[1].replace("/", "-"),
        }

    def _list_messages(
        self, channel: str, query: dict[str, list[str]], headers: dict[str, str]
    ) -> tuple[int, Any, dict[str, str]]:
        """GET /channels/{id}/messages?after=&limit=: the `limit` (1-100, default 50)
        messages right after `after`, newest first, as REST message objects (no guild_id,
        no member: those come only with gateway events)."""
        after = int((query.get("after") or ["0"])[0])
        limit = max(1, min(100, int((query.get("limit") or ["50"])[0])))
        found = sorted(
            (m for m in self.history.get(channel, []) if int(m["id"]) > after),
            key=lambda m: int(m["id"]),
        )[:limit]
        rest = [{k: v for k, v in m.items() if k not in ("guild_id", "member")} for m in found]
        return 200, rest[::-1], headers

    def _create_message(
        self, channel: str, body: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, Any, dict[str, str]]:
        content = body.get("content")
        if not isinstance(content, str) or not content.strip():
            return 400, {"message": "Cannot send an empty message", "code": 50006}, headers
        if len(content) > 2000:
            error = {"message": "Invalid Form Body", "code": 50035, "errors": {"content": {}}}
            return 400, error, headers
        nonce = body.get("nonce")
        if body.get("enforce_nonce") and nonce is not None:
            for old in self.messages:
                if old["nonce"] == nonce and old["channel_id"] == channel:
                    return 200, old, headers  # Discord returns the earlier message
        message = {
            "id": self.new_id(),
            "channel_id": channel,
            "content": content,
            "author": {"id": self.bot_id, "username": "claw-test", "bot": True},
            "nonce": nonce,
            "type": 19 if body.get("message_reference") else 0,
            "message_reference": body.get("message_reference"),
            "allowed_mentions": body.get("allowed_mentions"),
        }
        self.messages.append(message)
        return 200, message, headers


def _abort(ws: ServerConnection) -> None:
    """Close the TCP connection under a WebSocket without a closing handshake."""
    with contextlib.suppress(OSError):
        ws.socket.shutdown(socket.SHUT_RDWR)
