"""The Telegram Bot API over httpx: one call, its answer, what a failure means, and how
an update becomes an InboundMessage.

Every call is `POST {api_base}/bot<token>/<method>` with a JSON body. Telegram answers
`{"ok": true, "result": ...}` or `{"ok": false, "error_code": N, "description": "...",
"parameters": {"retry_after": S, "migrate_to_chat_id": ID}}`, usually with the HTTP status
equal to error_code. The token is part of the URL path, so it is checked to be a token
(it cannot smuggle a path or a host into the URL) and kept out of every log line (a filter
on the "httpx" logger), every error message, `repr` and health report.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from claw import __version__
from claw.channels.base import DeliveryError
from claw.delivery.inbox import InboundMessage
from claw.errors import ClawError, ConfigError

# "<bot id>:<secret>" as BotFather issues it; anything else is refused before any request.
TOKEN_RE = re.compile(r"[0-9]{1,20}:[A-Za-z0-9_-]{1,200}")
DEFAULT_API_BASE = "https://api.telegram.org"
CALL_TIMEOUT_S = 15.0


class TelegramError(ClawError):
    """The channel cannot receive: a rejected token, another poller, an unreachable API.
    Raised from `start` (the daemon's supervisor restarts the channel with backoff)."""


class ApiError(Exception):
    """A call Telegram answered with ok=false (or with a non-JSON error status)."""

    def __init__(
        self,
        method: str,
        status: int,
        description: str,
        *,
        retry_after: float | None = None,
        migrate_to: int | None = None,
    ) -> None:
        super().__init__(f"{method}: {status} {description}")
        self.method = method
        self.status = status
        self.description = description
        self.retry_after = retry_after
        self.migrate_to = migrate_to


class TransportError(Exception):
    """No answer at all: `reason` is "timeout" or "network" (never the URL: it holds the
    token)."""

    def __init__(self, method: str, reason: str, cause: BaseException) -> None:
        super().__init__(f"{method}: {reason} ({type(cause).__name__})")
        self.method = method
        self.reason = reason


def check_token(token: str) -> str:
    if not TOKEN_RE.fullmatch(token):
        raise ConfigError(
            "channels.telegram: the bot token does not look like '<digits>:<letters>' "
            "(as BotFather issues it)"
        )
    return token


def check_api_base(api_base: str) -> str:
    parts = urlsplit(api_base)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        raise ConfigError(
            f"channels.telegram.api_base {api_base!r}: an http(s) URL without a query, "
            f"e.g. {DEFAULT_API_BASE}"
        )
    return api_base.rstrip("/")


def parse_answer(method: str, response: httpx.Response) -> Any:
    """The `result` of a successful call; otherwise raises ApiError."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        data = {}
    if response.status_code == 200 and data.get("ok") is True:
        return data.get("result")
    code = data.get("error_code")
    status = code if isinstance(code, int) and not isinstance(code, bool) else None
    if status is None:
        status = response.status_code if response.status_code != 200 else 502
    description = data.get("description")
    if not isinstance(description, str) or not description:
        description = response.reason_phrase or "error"
    params = data.get("parameters") if isinstance(data.get("parameters"), dict) else {}
    retry_after = params.get("retry_after")
    migrate_to = params.get("migrate_to_chat_id")
    raise ApiError(
        method,
        status,
        description[:300],
        retry_after=float(retry_after) if _is_number(retry_after) else None,
        migrate_to=migrate_to if isinstance(migrate_to, int) else None,
    )


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0


def delivery_error(error: ApiError | TransportError, chat: str) -> DeliveryError:
    """What the delivery queue should do about a failed send to `chat`."""
    if isinstance(error, TransportError):
        what = "timed out" if error.reason == "timeout" else "could not reach the Bot API"
        return DeliveryError(
            f"telegram: sending to chat {chat} {what}", permanent=False, reason=error.reason
        )
    status, text = error.status, error.description.lower()
    message = f"telegram: sending to chat {chat} failed: {status} {error.description}"
    if status == 429:
        return DeliveryError(
            message, permanent=False, retry_after=error.retry_after, reason="rate_limited"
        )
    if status == 408 or status >= 500:
        return DeliveryError(message, permanent=False, reason=f"http_{status}")
    reason = f"http_{status}"
    if status == 403:
        reason = (
            "bot_blocked"
            if "blocked" in text
            else "user_deactivated"
            if "deactivated" in text
            else "forbidden"
        )
    elif status in (401, 404):
        reason = "unauthorized"  # Telegram answers 404 for a malformed or unknown token
    elif status == 400:
        if error.migrate_to is not None:
            reason = "chat_migrated"
            message += f" (the group is now chat {error.migrate_to})"
        elif "chat not found" in text:
            reason = "chat_not_found"
        elif "thread not found" in text:
            reason = "thread_not_found"
        elif "too long" in text:
            reason = "message_too_long"
    return DeliveryError(message, permanent=True, reason=reason)


class _HideTokens(logging.Filter):
    """httpx logs each request's URL at INFO, and a Bot API URL holds the token: replace
    it with "<token>" in any record of the "httpx" logger."""

    def __init__(self) -> None:
        super().__init__()
        self.tokens: set[str] = set()

    def _redact(self, value: object) -> object:
        text = str(value)
        if not any(token in text for token in self.tokens):
            return value
        for token in self.tokens:
            text = text.replace(token, "<token>")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if self.tokens:
            record.msg = self._redact(record.msg)
            if isinstance(record.args, tuple):
                record.args = tuple(self._redact(a) for a in record.args)
            elif isinstance(record.args, dict):
                record.args = {k: self._redact(v) for k, v in record.args.items()}
        return True


_TOKEN_FILTER = _HideTokens()
logging.getLogger("httpx").addFilter(_TOKEN_FILTER)


class BotApi:
    """Calls for one bot. Sends share one pooled client; the long poll uses its own
    (`new_client`), so a stalled poll can be dropped without touching sends."""

    def __init__(
        self, token: str, api_base: str = DEFAULT_API_BASE, *, timeout_s: float = CALL_TIMEOUT_S
    ) -> None:
        self.api_base = check_api_base(api_base)
        self.timeout_s = timeout_s  # one call (not the long poll, which sets its own)
        _TOKEN_FILTER.tokens.add(check_token(token))
        self._url = f"{self.api_base}/bot{token}/"
        self._client: httpx.AsyncClient | None = None

    def __repr__(self) -> str:
        return f"BotApi(api_base={self.api_base!r})"

    def new_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            follow_redirects=False, headers={"User-Agent": f"claw/{__version__}"}
        )

    async def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        timeout: float | httpx.Timeout | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> Any:
        """The call's `result`; raises ApiError (Telegram said no) or TransportError."""
        if client is None:
            if self._client is None:
                self._client = self.new_client()
            client = self._client
        try:
            response = await client.post(
                self._url + method,
                json=params or {},
                timeout=self.timeout_s if timeout is None else timeout,
            )
        except httpx.TimeoutException as e:
            raise TransportError(method, "timeout", e) from None
        except httpx.HTTPError as e:  # connect/read errors, a broken protocol, ...
            raise TransportError(method, "network", e) from None
        return parse_answer(method, response)

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()


# -- updates -> inbound messages -------------------------------------------------------
@dataclass(frozen=True)
class Bot:
    """Who the bot is (from getMe): its own messages are skipped, its @username is how a
    group mentions it."""

    id: int
    username: str


def to_inbound(update: dict[str, Any], bot: Bot, account: str) -> InboundMessage | None:
    """The InboundMessage for a `message` update, or None for what nobody needs to answer:
    other update kinds, messages from bots (this one included; anonymous group admins
    too, who post as @GroupAnonymousBot), channels, and messages with neither text nor
    caption (stickers, service messages such as a member joining)."""
    message = update.get("message")
    if not isinstance(message, dict):
        return None
    chat = message.get("chat") if isinstance(message.get("chat"), dict) else {}
    sender = message.get("from") if isinstance(message.get("from"), dict) else {}
    chat_id, sender_id = chat.get("id"), sender.get("id")
    message_id = message.get("message_id")
    if not all(isinstance(v, int) for v in (chat_id, sender_id, message_id)):
        return None
    if sender.get("is_bot") or sender_id == bot.id:
        return None
    chat_type = chat.get("type")
    if chat_type not in ("private", "group", "supergroup"):
        return None
    text, entities = message.get("text"), message.get("entities")
    if not isinstance(text, str):
        text, entities = message.get("caption"), message.get("caption_entities")
    if not isinstance(text, str) or not text.strip():
        return None
    topic = message.get("message_thread_id")
    # message_thread_id alone also marks a reply chain in an ordinary group; only
    # is_topic_message says the message belongs to a forum topic.
    thread = str(topic) if message.get("is_topic_message") and isinstance(topic, int) else None
    meta: dict[str, Any] = {
        "mentioned": mentions_bot(message, text, entities, bot),
        "chat_type": chat_type,
    }
    if isinstance(sender.get("username"), str):
        meta["username"] = sender["username"]
    group = None if chat_type == "private" else str(chat_id)
    return InboundMessage(
        channel="telegram",
        account=account,
        channel_message_id=f"{chat_id}:{message_id}",  # message ids are unique per chat only
        peer=str(sender_id),
        text=text,
        peer_kind="direct" if group is None else "group",
        group=group,
        thread=thread,
        sender_name=display_name(sender),
        reply_to=str(message_id),
        meta=meta,
    )


def display_name(user: dict[str, Any]) -> str | None:
    parts = [user.get("first_name"), user.get("last_name")]
    name = " ".join(p for p in parts if isinstance(p, str) and p).strip()
    username = user.get("username")
    return name or (f"@{username}" if isinstance(username, str) and username else None)


def mentions_bot(message: dict[str, Any], text: str, entities: object, bot: Bot) -> bool:
    """True when the message replies to the bot or names it: an @username mention, a
    /command@username, or a text_mention of the bot's user. Entity offsets count UTF-16
    code units, so the text is sliced in UTF-16."""
    reply = message.get("reply_to_message")
    # In a forum, a message without an explicit reply "replies" to its topic's creation
    # message; that is not addressing whoever created the topic.
    if isinstance(reply, dict) and "forum_topic_created" not in reply:
        author = reply.get("from")
        if isinstance(author, dict) and author.get("id") == bot.id:
            return True
    if not isinstance(entities, list):
        return False
    units = text.encode("utf-16-le")
    handle = f"@{bot.username}".lower()
    for entity in entities:
        if not isinstance(entity, dict):
            continue
        kind, offset, length = entity.get("type"), entity.get("offset"), entity.get("length")
        if kind == "text_mention":
            user = entity.get("user")
            if isinstance(user, dict) and user.get("id") == bot.id:
                return True
        if kind not in ("mention", "bot_command") or not bot.username:
            continue
        if not isinstance(offset, int) or not isinstance(length, int):
            continue
        piece = units[2 * offset : 2 * (offset + length)].decode("utf-16-le", "replace").lower()
        if (kind == "mention" and piece == handle) or (
            kind == "bot_command" and piece.endswith(handle)
        ):
            return True
    return False
