"""The Discord channel: messages in through the gateway, replies out through REST.

Inbound: a `GatewaySession` (discord_gateway.py) keeps the WebSocket; each MESSAGE_CREATE
from a person becomes an InboundMessage, journaled before the session's sequence number
moves past it. Bots (this one included) are ignored, so two bots never answer each other.
The session is saved under the state directory (discord_session_state.py), so a restarted
daemon RESUMEs it and Discord replays what came meanwhile; when it cannot be resumed, the
new session fetches the gap over REST (discord_backfill.py).

Outbound: one `POST /channels/{id}/messages` per part (the queue's chunker already split
the reply to 2,000 characters). A part carries a nonce derived from its idempotency key
with `enforce_nonce`, so a part resent after a crash is recognised by Discord instead of
posted twice. Rate limits are Discord's: a bucket at `X-RateLimit-Remaining: 0` is waited
out before its next request, a short 429 is waited out and retried, and a global 429
(`"global": true` / `X-RateLimit-Global`) holds every request of this channel. A wait
longer than `max_rate_wait_s` becomes a transient DeliveryError with `retry_after`, so the
queue reschedules the part instead of holding a worker.
"""

from __future__ import annotations

import logging
import os
import time
from typing import TYPE_CHECKING, Any

import httpx
import trio

from claw import __version__
from claw.channels.base import DeliveryError, InboundSink, Outbound, Receipt
from claw.channels.discord_backfill import DEFAULT_BACKFILL_MAX_AGE_S, Seen, backfill
from claw.channels.discord_events import Events
from claw.channels.discord_gateway import GatewaySession, GatewayTiming
from claw.channels.discord_rest import (
    _SNOWFLAKE,
    MAX_429_RETRIES,
    RateLimits,
    _json,
    _seconds,
    _transport_error,
    classify,
    nonce_of,
    snowflake,
)
from claw.channels.discord_session_state import (
    DEFAULT_RESUME_WINDOW_S,
    SessionFile,
    session_path,
)
from claw.errors import ConfigError
from claw.state.config import Config
from claw.state.home import Home

if TYPE_CHECKING:
    from pathlib import Path

log = logging.getLogger("claw.channels.discord")

DEFAULT_API_BASE = "https://discord.com/api/v10"
DEFAULT_GATEWAY_URL = "wss://gateway.discord.gg/?v=10&encoding=json"
DEFAULT_INTENTS = 37377  # GUILDS | GUILD_MESSAGES | DIRECT_MESSAGES | MESSAGE_CONTENT
MAX_MESSAGE_CHARS = 2000  # Discord refuses longer content


class DiscordChannel:
    """A bot account: REST for sending, the gateway (from `start`) for receiving."""

    name = "discord"

    def __init__(
        self,
        *,
        token: str | None,
        token_env: str | None = None,
        api_base: str = DEFAULT_API_BASE,
        gateway_url: str = DEFAULT_GATEWAY_URL,
        intents: int = DEFAULT_INTENTS,
        max_message_chars: int = MAX_MESSAGE_CHARS,
        account: str = "default",
        timing: GatewayTiming | None = None,
        max_rate_wait_s: float = 10.0,
        timeout_s: float = 15.0,
        session_file: Path | None = None,
        resume_window_s: float = DEFAULT_RESUME_WINDOW_S,
        backfill_max_age_s: float = DEFAULT_BACKFILL_MAX_AGE_S,
    ) -> None:
        self._token_value = token
        self.token_env = token_env
        self.api_base = api_base.rstrip("/")
        self.gateway_url = gateway_url
        self.intents = intents
        self.max_message_chars = min(max_message_chars, MAX_MESSAGE_CHARS)
        self.account = account
        self.session_file = (  # None: no saved session (a restart identifies anew)
            SessionFile(session_file, resume_window_s=resume_window_s) if session_file else None
        )
        self.timing = timing
        self.timeout_s = timeout_s
        self.limits = RateLimits(max_rate_wait_s)
        self.gateway: GatewaySession | None = None
        self._client: httpx.AsyncClient | None = None
        self._inbound: InboundSink | None = None
        self.backfill_max_age_s = backfill_max_age_s
        self.seen = Seen()  # channels people talk in, with their last journaled message
        self.events = Events(account)  # the bot's id, threads' parents, users' DM channels
        self.sent = self.failed = self.received = self.backfilled = 0
        self.last_inbound_at: float | None = None
        self.last_send_at: float | None = None
        self.last_error: str | None = None

    @classmethod
    def from_config(cls, home: Home, config: Config) -> DiscordChannel:
        def get(key: str, default: Any) -> Any:
            return config.get(f"channels.discord.{key}", default)

        return cls(
            token=get("token", None),
            token_env=get("token_env", None),
            api_base=get("api_base", DEFAULT_API_BASE),
            gateway_url=get("gateway_url", DEFAULT_GATEWAY_URL),
            intents=int(get("intents", DEFAULT_INTENTS)),
            max_message_chars=int(get("max_message_chars", MAX_MESSAGE_CHARS)),
            session_file=session_path(home, "default") if home is not None else None,
            resume_window_s=float(get("resume_window_s", DEFAULT_RESUME_WINDOW_S)),
            backfill_max_age_s=float(get("backfill_max_age_s", DEFAULT_BACKFILL_MAX_AGE_S)),
        )

    def token(self) -> str:
        """The bot token, read from the environment at use (rotating it needs no restart)."""
        value = os.environ.get(self.token_env, "").strip() if self.token_env else ""
        if value or self._token_value:
            return value or str(self._token_value)
        where = f"the environment variable {self.token_env} is empty" if self.token_env else ""
        raise ConfigError(
            f"discord: no bot token{f' ({where})' if where else ''}",
            hint="set channels.discord.token_env to the name of an environment variable "
            "holding it (or channels.discord.token)",
        )

    # -- REST --------------------------------------------------------------------------
    async def _request(
        self, method: str, path: str, route: str, json: Any = None
    ) -> httpx.Response:
        """One REST call, rate limits honoured; network failures classified."""
        try:
            token = self.token()
        except ConfigError as e:
            raise DeliveryError(e.message, permanent=True, reason="missing_token") from None
        headers = {
            "Authorization": f"Bot {token}",
            "User-Agent": f"DiscordBot (claw, {__version__})",
        }
        if self._client is None:
            self._client = httpx.AsyncClient(follow_redirects=False)
        async with self.limits.lock(route):
            for attempt in range(MAX_429_RETRIES + 1):
                await self.limits.wait(route)
                try:
                    response = await self._client.request(
                        method,
                        self.api_base + path,
                        json=json,
                        headers=headers,
                        timeout=self.timeout_s,
                    )
                except (httpx.TransportError, httpx.InvalidURL) as e:
                    raise _transport_error(e) from None
                self.limits.update(route, response.headers)
                if response.status_code != 429:
                    return response
                wait, is_global = self._rate_limited(route, response)
                if wait > self.limits.max_wait_s or attempt == MAX_429_RETRIES:
                    raise DeliveryError(
                        f"discord: rate limited{' (global)' if is_global else ''}",
                        permanent=False,
                        retry_after=wait,
                        reason="rate_limited",
                    )
        raise AssertionError("unreachable")

    def _rate_limited(self, route: str, response: httpx.Response) -> tuple[float, bool]:
        body = _json(response)
        wait = _seconds(body.get("retry_after"))
        if wait is None:
            wait = _seconds(response.headers.get("retry-after")) or 1.0
        is_global = body.get("global") is True or (
            response.headers.get("x-ratelimit-global", "").lower() == "true"
        )
        self.limits.limited(route, wait, is_global)
        log.info("discord: rate limited on %s for %.2f s (global: %s)", route, wait, is_global)
        return wait, is_global

    async def _channel_for(self, to: str, thread: str | None) -> str:
        """Where a part goes: the thread, a DM opened for `user:<id>`, or a channel id."""
        if thread:
            return snowflake(thread, "thread id")
        if to.startswith("user:"):
            return await self.open_dm(snowflake(to.removeprefix("user:"), "user id"))
        return self.events.dms.get(to) or snowflake(to, "channel id")

    async def open_dm(self, user_id: str) -> str:
        """The DM channel with a user (POST /users/@me/channels), cached."""
        if user_id in self.events.dms:
            return self.events.dms[user_id]
        response = await self._request(
            "POST", "/users/@me/channels", "dm", json={"recipient_id": user_id}
        )
        if response.status_code >= 300:
            raise classify(response, f"opening a DM with user {user_id}")
        channel_id = snowflake(str(_json(response).get("id", "")), "DM channel id")
        self.events.dms.put(user_id, channel_id)
        return channel_id

    async def send(self, message: Outbound) -> Receipt:
        try:
            return await self._send(message)
        except DeliveryError as e:
            self.failed += 1
            self.last_error = f"{e.reason}: {e.message}"
            raise

    async def _send(self, message: Outbound) -> Receipt:
        if not message.text.strip():
            raise DeliveryError("discord: empty message", permanent=True, reason="empty")
        if len(message.text) > MAX_MESSAGE_CHARS:
            raise DeliveryError(
                f"discord: a part of {len(message.text)} characters (limit {MAX_MESSAGE_CHARS})",
                permanent=True,
                reason="too_long",
            )
        channel_id = await self._channel_for(message.to, message.thread)
        body: dict[str, Any] = {
            "content": message.text,
            "allowed_mentions": {"parse": ["users"]},  # a reply never pings @everyone/roles
        }
        if message.idempotency_key:
            body["nonce"] = nonce_of(message.idempotency_key)
            body["enforce_nonce"] = True
        if message.reply_to and _SNOWFLAKE.fullmatch(message.reply_to):
            body["message_reference"] = {
                "message_id": message.reply_to,
                "fail_if_not_exists": False,  # the question may be deleted by now
            }
        path = f"/channels/{channel_id}/messages"
        response = await self._request("POST", path, f"POST {path}", json=body)
        if response.status_code >= 300:
            raise classify(response, f"sending to channel {channel_id}")
        self.sent += 1
        self.last_send_at = time.time()
        ident = _json(response).get("id")
        return Receipt(message_id=str(ident) if ident else None)

    async def typing(self, to: str, thread: str | None) -> None:
        """One typing indicator (Discord shows it ~10 s); skipped while rate limited."""
        channel_id = await self._channel_for(to, thread)
        path = f"/channels/{channel_id}/typing"
        if self.limits.delay(f"POST {path}") > 0:
            return  # cosmetic: never wait (nor queue) for it
        response = await self._request("POST", path, f"POST {path}")
        if response.status_code >= 300:
            raise classify(response, f"typing in channel {channel_id}")

    async def probe(self) -> dict[str, Any]:
        """A cheap live check of the token and the API: GET /users/@me."""
        started = time.monotonic()
        try:
            response = await self._request("GET", "/users/@me", "me")
            if response.status_code >= 300:
                raise classify(response, "checking the bot account")
        except DeliveryError as e:
            return {"ok": False, "error": f"{e.reason}: {e.message}"}
        me, elapsed_ms = _json(response), round((time.monotonic() - started) * 1000, 1)
        return {
            "ok": True,
            "bot": me.get("username"),
            "bot_id": me.get("id"),
            "elapsed_ms": elapsed_ms,
        }

    # -- the gateway -------------------------------------------------------------------
    async def start(
        self, inbound: InboundSink, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Receive until cancelled; ready once the gateway said READY (the token is good)."""
        self._inbound = inbound
        try:
            self.gateway = gw = GatewaySession(
                self.token(), self.intents, self.gateway_url, self._on_dispatch, timing=self.timing
            )
            saved = self.session_file.load() if self.session_file else None
            if saved is not None:
                if saved.session_id is not None and saved.seq is not None:
                    gw.restore(saved.session_id, saved.resume_url, saved.seq)  # RESUME it
                self.events.restore(saved.user_id, saved.username, saved.threads, saved.roles)
                self.seen = Seen.from_json(saved.channels)  # for a backfill after a READY
            if self.session_file is None:
                await gw.run(task_status=task_status)
                return
            gw.on_progress = self.session_file.poke
            failed: Exception | None = None
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self.session_file.keep, gw, self.events, self.seen)
                try:
                    await gw.run(task_status=task_status)
                except Exception as e:  # raised as itself, not in a nursery's group
                    failed = e
                nursery.cancel_scope.cancel()  # the keeper writes the session a last time
            if failed is not None:
                raise failed
        except Exception as e:
            self.last_error = str(e)
            raise
        finally:
            if self.gateway is not None:
                self.gateway.connected = False

    async def _on_dispatch(self, kind: str, data: dict[str, Any]) -> None:
        self.events.observe(kind, data)
        if kind == "MESSAGE_CREATE":
            await self.accept(data)
        elif kind == "READY" and self.seen and self.backfill_max_age_s > 0:
            self.backfilled += await backfill(self, self.backfill_max_age_s)  # fetch the gap

    async def accept(self, data: dict[str, Any]) -> int:
        """A message from the gateway or a backfill: journaled (then, and only then, the
        sequence number and the channel's last journaled message move on); 1 if it was."""
        msg = self.events.message(data)
        if msg is None or self._inbound is None:
            return 0
        await self._inbound(msg)
        self.received += 1
        self.last_inbound_at = time.time()
        self.seen.note(str(data.get("channel_id", "")), msg.guild, msg.channel_message_id)
        return 1

    def health(self) -> dict[str, Any]:
        gw = self.gateway
        return {
            "channel": self.name,
            "connected": bool(gw and gw.connected),
            "bot": self.events.username,
            "bot_id": self.events.user_id,
            "received": self.received,
            "backfilled": self.backfilled,  # of those, fetched over REST after a lost session
            "sent": self.sent,
            "failed": self.failed,
            "last_inbound_at": self.last_inbound_at,
            "last_send_at": self.last_send_at,
            "last_error": self.last_error or (gw.last_error if gw else None),
            "reconnects": gw.reconnects if gw else 0,
            "resumes": gw.resumes if gw else 0,
            "heartbeat_latency_ms": round(gw.latency_s * 1000, 1) if gw and gw.latency_s else None,
            "rate_limited_s": round(max(0.0, self.limits.global_until - time.monotonic()), 1),
        }

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
