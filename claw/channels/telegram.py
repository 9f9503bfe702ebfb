"""The Telegram channel: long-polls `getUpdates`, sends with `sendMessage`.

Nothing received is lost: an update's message is journaled (`await inbound(msg)`) before
the offset moves past it, and Telegram forgets an update only when a later `getUpdates`
names a higher offset. The offset lives in memory only; after a restart Telegram sends
every unconfirmed update again and the journal drops the ones it already has (the key is
chat id + message id, which a redelivery keeps).

A long poll that stays silent for `poll_timeout_s + stall_grace_s` is stalled (a
half-open connection, a proxy that swallowed it): its connection is dropped and a fresh one
polls again. A rejected token or another consumer of the same bot (HTTP 409) cannot be
fixed by polling again, so `start` raises and the daemon's supervisor takes over.
"""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import trio

from claw.channels.base import DeliveryError, InboundSink, Outbound, Receipt
from claw.channels.telegram_api import (
    DEFAULT_API_BASE,
    ApiError,
    Bot,
    BotApi,
    TelegramError,
    TransportError,
    delivery_error,
    to_inbound,
)
from claw.errors import ConfigError
from claw.state.config import Config
from claw.state.home import Home

log = logging.getLogger("claw.channels.telegram")

MAX_MESSAGE_CHARS = 4096  # Telegram's limit for one message's text
_CHAT_ID_RE = re.compile(r"-?[0-9]{1,20}|@[A-Za-z][A-Za-z0-9_]{3,31}")


@dataclass(frozen=True)
class Settings:
    """`[channels.telegram]`; the token itself is resolved when the channel first needs it."""

    token_env: str | None = None
    token: str | None = field(default=None, repr=False)  # a secret: never in a repr
    api_base: str = DEFAULT_API_BASE
    poll_timeout_s: float = 30
    stall_grace_s: float = 15
    request_timeout_s: float = 15
    max_message_chars: int = MAX_MESSAGE_CHARS

    @classmethod
    def from_config(cls, config: Config) -> Settings:
        def get(key: str, default: Any) -> Any:
            return config.get(f"channels.telegram.{key}", default)

        return cls(
            token_env=get("token_env", None),
            token=get("token", None),
            api_base=get("api_base", DEFAULT_API_BASE),
            poll_timeout_s=get("poll_timeout_s", 30),
            stall_grace_s=get("stall_grace_s", 15),
            request_timeout_s=get("request_timeout_s", 15),
            max_message_chars=min(get("max_message_chars", MAX_MESSAGE_CHARS), MAX_MESSAGE_CHARS),
        )

    def resolve_token(self) -> str:
        if self.token_env:
            value = os.environ.get(self.token_env, "").strip()
            if value:
                return value
            raise ConfigError(
                f"channels.telegram: environment variable {self.token_env} (token_env) is not set",
                hint="export it with the bot token from @BotFather, then restart the daemon",
            )
        if self.token:
            return self.token.strip()
        raise ConfigError(
            "channels.telegram: no bot token configured",
            hint='set channels.telegram.token_env = "TELEGRAM_BOT_TOKEN" and export it',
        )


def chat_id(to: str) -> int | str:
    """The `chat_id` parameter for `to`: a numeric id, or @channelusername as is."""
    if not _CHAT_ID_RE.fullmatch(to):
        raise DeliveryError(
            f"telegram: {to!r} is not a chat id (a number, or @username)",
            permanent=True,
            reason="bad_chat_id",
        )
    return to if to.startswith("@") else int(to)


def utf16_len(text: str) -> int:
    """The length Telegram's 4,096 limit counts: UTF-16 code units (an emoji is two)."""
    return len(text) + sum(1 for c in text if ord(c) > 0xFFFF)


def _int_or_none(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


class TelegramChannel:
    """One bot. `start` receives; `send`, `typing` and `probe` may run alongside it."""

    name = "telegram"
    max_message_chars = MAX_MESSAGE_CHARS
    measure = staticmethod(utf16_len)  # how replies are cut to fit (claw.delivery.service)

    def __init__(
        self,
        settings: Settings,
        *,
        account: str = "default",
        retry_min_s: float = 1.0,
        retry_max_s: float = 30.0,
    ) -> None:
        self.settings = settings
        self.account = account
        self.max_message_chars = settings.max_message_chars
        self.retry_min_s = retry_min_s  # first wait after a failed poll; doubles up to max
        self.retry_max_s = retry_max_s
        self._api: BotApi | None = None
        self._bot: Bot | None = None
        self._offset: int | None = None  # first unconfirmed update_id; never persisted
        self.connected = False
        self.received = 0
        self.sent = 0
        self.failed = 0
        self.stalls = 0
        self.poll_errors = 0
        self.typing_failed = 0
        self.last_inbound_at: float | None = None
        self.last_send_at: float | None = None
        self.last_error: str | None = None

    @classmethod
    def from_config(cls, home: Home, config: Config) -> TelegramChannel:
        """Cheap: no token lookup and no network until the channel is used."""
        return cls(Settings.from_config(config))

    def api(self) -> BotApi:
        if self._api is None:
            self._api = BotApi(
                self.settings.resolve_token(),
                self.settings.api_base,
                timeout_s=self.settings.request_timeout_s,
            )
        return self._api

    # -- receiving ---------------------------------------------------------------------
    async def identify(self) -> Bot:
        """getMe: proves the token and learns the bot's id and @username (for mentions)."""
        try:
            me = await self.api().call("getMe")
        except ApiError as e:
            raise self._fatal(e) from None
        except TransportError as e:
            self.last_error = str(e)
            raise TelegramError(f"telegram: getMe failed: {e}") from None
        if not isinstance(me, dict) or not isinstance(me.get("id"), int):
            raise TelegramError("telegram: getMe answered without a bot id")
        self._bot = Bot(id=me["id"], username=str(me.get("username") or ""))
        return self._bot

    async def start(
        self, inbound: InboundSink, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        bot = await self.identify()
        client = self.api().new_client()
        failures = 0
        try:
            self.connected = True  # getMe answered; a failed or stalled poll says otherwise
            task_status.started()
            log.info("telegram: receiving as @%s", bot.username)
            while True:
                try:
                    updates = await self._poll(client)
                except (ApiError, TransportError) as e:
                    delay = self._poll_failed(e, failures)
                    failures += 1
                    if isinstance(e, TransportError):
                        client = await self._reconnect(client)
                    await trio.sleep(delay)
                    continue
                if updates is None:  # stalled
                    client = await self._reconnect(client)
                    continue
                failures = 0
                self.connected = True
                await self._deliver(updates, inbound, bot)
        finally:
            self.connected = False
            with trio.CancelScope(shield=True), trio.move_on_after(2):
                await client.aclose()

    async def _poll(self, client: httpx.AsyncClient) -> list[Any] | None:
        """One getUpdates; None when it stayed silent past the stall limit."""
        s = self.settings
        params: dict[str, Any] = {"timeout": int(s.poll_timeout_s), "allowed_updates": ["message"]}
        if self._offset is not None:
            params["offset"] = self._offset
        limit = s.poll_timeout_s + s.stall_grace_s
        with trio.move_on_after(limit):
            result = await self.api().call(
                "getUpdates", params, client=client, timeout=httpx.Timeout(10.0, read=limit + 5)
            )
            return result if isinstance(result, list) else []
        self.stalls += 1
        self.connected = False
        self.last_error = f"getUpdates silent for {limit:g}s: reconnecting"
        log.warning("telegram: the long poll stalled (%gs without an answer); reconnecting", limit)
        return None

    async def _reconnect(self, client: httpx.AsyncClient) -> httpx.AsyncClient:
        """A fresh client: a pooled connection that just failed or hung is not reused."""
        with trio.CancelScope(shield=True), trio.move_on_after(2):
            await client.aclose()
        return self.api().new_client()

    def _poll_failed(self, error: ApiError | TransportError, failures: int) -> float:
        """Seconds to wait before polling again, or raises when polling again is futile."""
        self.connected = False
        self.poll_errors += 1
        self.last_error = str(error)
        if isinstance(error, ApiError):
            if error.status in (401, 404, 409):
                raise self._fatal(error)
            if error.status == 429 and error.retry_after is not None:
                return error.retry_after
        delay = min(self.retry_max_s, self.retry_min_s * 2**failures)
        log.warning("telegram: getUpdates failed (%s); polling again in %gs", error, delay)
        return delay

    def _fatal(self, error: ApiError) -> TelegramError:
        self.last_error = str(error)
        if error.status in (401, 404):
            return TelegramError(
                f"telegram: the bot token was rejected ({error.status} {error.description})",
                hint="check the token from @BotFather (channels.telegram.token_env)",
            )
        if error.status == 409:
            return TelegramError(
                f"telegram: another client receives this bot's updates ({error.description})",
                hint="stop the other poller, or remove the bot's webhook (deleteWebhook)",
            )
        return TelegramError(f"telegram: {error}")

    async def _deliver(self, updates: list[Any], inbound: InboundSink, bot: Bot) -> None:
        """Journal each message, then (only then) move the offset past its update."""
        valid = [u for u in updates if isinstance(u, dict) and isinstance(u.get("update_id"), int)]
        for update in sorted(valid, key=lambda u: u["update_id"]):
            update_id = update["update_id"]
            if self._offset is not None and update_id < self._offset:
                continue  # already confirmed by us; a server should not resend it
            msg = to_inbound(update, bot, self.account)
            if msg is not None:
                try:
                    await inbound(msg)
                except Exception as e:
                    self.last_error = f"journaling update {update_id} failed: {e}"
                    raise
                self.received += 1
                self.last_inbound_at = time.time()
            self._offset = update_id + 1

    # -- sending -----------------------------------------------------------------------
    async def send(self, message: Outbound) -> Receipt:
        params: dict[str, Any] = {"chat_id": chat_id(message.to), "text": message.text}
        if not message.text.strip():
            raise DeliveryError("telegram: empty message", permanent=True, reason="empty_text")
        thread = _int_or_none(message.thread)
        if thread is not None:
            params["message_thread_id"] = thread
        reply_to = _int_or_none(message.reply_to)
        if reply_to is not None and message.part == 0:
            # Quote the message being answered, but deliver even if it was deleted.
            params["reply_parameters"] = {
                "message_id": reply_to,
                "allow_sending_without_reply": True,
            }
        try:
            result = await self._send_following_migration(params)
        except ConfigError as e:
            self.failed += 1
            raise DeliveryError(e.message, permanent=True, reason="no_token") from None
        except (ApiError, TransportError) as e:
            self.failed += 1
            error = delivery_error(e, message.to)
            self.last_error = error.message
            raise error from None
        self.sent += 1
        self.last_send_at = time.time()
        ident = result.get("message_id") if isinstance(result, dict) else None
        return Receipt(message_id=str(ident) if isinstance(ident, int) else None)

    async def _send_following_migration(self, params: dict[str, Any]) -> Any:
        """sendMessage; when the group has become a supergroup, Telegram refuses its old id
        for good and names the new one: send there once instead of losing the reply."""
        try:
            return await self.api().call("sendMessage", params)
        except ApiError as e:
            if e.migrate_to is None:
                raise
            log.info("telegram: chat %s is now supergroup %s; sending there",
                     params["chat_id"], e.migrate_to)  # fmt: skip
            return await self.api().call("sendMessage", {**params, "chat_id": e.migrate_to})

    async def typing(self, to: str, thread: str | None = None) -> None:
        """One "typing..." indicator (Telegram shows it for about 5 s; repeat to keep it).
        A failure raises DeliveryError, classified like a send's, so a caller repeating
        the indicator can stop (a blocked bot stays blocked for the rest of the turn)."""
        params: dict[str, Any] = {"chat_id": chat_id(to), "action": "typing"}
        topic = _int_or_none(thread)
        if topic is not None:
            params["message_thread_id"] = topic
        try:
            await self.api().call("sendChatAction", params, timeout=5.0)
        except ConfigError as e:
            self.typing_failed += 1
            raise DeliveryError(e.message, permanent=True, reason="no_token") from None
        except (ApiError, TransportError) as e:
            self.typing_failed += 1
            raise delivery_error(e, to) from None

    # -- status ------------------------------------------------------------------------
    async def probe(self) -> dict[str, Any]:
        """A live getMe: is the token accepted and the API reachable right now?"""
        started = time.monotonic()
        try:
            bot = await self.identify()
        except (TelegramError, ConfigError) as e:
            return {"ok": False, "error": e.message}
        elapsed_ms = round((time.monotonic() - started) * 1000, 1)
        return {"ok": True, "bot": bot.username, "bot_id": bot.id, "elapsed_ms": elapsed_ms}

    def health(self) -> dict[str, Any]:
        return {
            "channel": self.name,
            "connected": self.connected,
            "bot": self._bot.username if self._bot else None,
            "received": self.received,
            "sent": self.sent,
            "failed": self.failed,
            "stalls": self.stalls,
            "poll_errors": self.poll_errors,
            "typing_failed": self.typing_failed,
            "last_inbound_at": self.last_inbound_at,
            "last_send_at": self.last_send_at,
            "last_error": self.last_error,
        }

    async def aclose(self) -> None:
        api, self._api = self._api, None
        if api is not None:
            await api.aclose()
