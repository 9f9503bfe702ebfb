"""A fake Telegram Bot API on 127.0.0.1 that behaves like the real one where claw cares.

It runs in a background thread (stdlib ThreadingHTTPServer, HTTP/1.1 keep-alive), so a
test can drive the channel in-process under trio or point a real `claw serve` subprocess
at it (`channels.telegram.api_base = fake.url`, the token in `fake.token`). Every method
is thread-safe; `wait_for_*` block the calling thread until something happened.

Faithful parts: `/bot<token>/<method>` with JSON, form or query parameters; the answer
envelope `{"ok": ..., "result"|"error_code"+"description"+"parameters"}`; getUpdates
offset semantics (an update is forgotten once a getUpdates names a higher offset; none
given: from the earliest unconfirmed one; a negative offset keeps the last -offset), long
polling with `timeout`, `limit`, and 409 for a poll superseded by a newer one; message ids
per chat; sends to chats the bot has never seen fail with "chat not found"; topics; the
4,096-character limit; @mention entities with UTF-16 offsets, as Telegram computes them.
Scripted: failures per chat or per method, and polls that never answer (a stalled poll).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

DEFAULT_TOKEN = "123456789:TEST-fake_token_for_tests"
T = TypeVar("T")

FAILURES: dict[str, tuple[int, str]] = {
    "rate_limited": (429, "Too Many Requests: retry after {retry_after}"),
    "blocked": (403, "Forbidden: bot was blocked by the user"),
    "chat_not_found": (400, "Bad Request: chat not found"),
    "thread_not_found": (400, "Bad Request: message thread not found"),
    "server_error": (500, "Internal Server Error"),
    "bad_gateway": (502, "Bad Gateway"),
}


@dataclass
class ApiFailure(Exception):
    """An answer with ok=false; scripted ones carry how many more calls they fail."""

    status: int
    description: str
    retry_after: int | None = None
    times: int | None = None  # scripted: None fails until cleared
    migrate_to: int | None = None  # a group that became a supergroup: its new id


@dataclass(frozen=True)
class Sent:
    chat_id: int | str
    text: str
    message_id: int
    message_thread_id: int | None
    reply_to: int | None
    params: dict[str, Any]


@dataclass(frozen=True)
class Action:
    chat_id: int | str
    action: str
    message_thread_id: int | None


@dataclass(frozen=True)
class Poll:
    offset: int | None
    timeout: int
    client_port: int  # a new port means the client opened a new connection
    at: float


@dataclass
class _Chat:
    id: int
    type: str
    title: str | None = None
    is_forum: bool = False
    topics: set[int] = field(default_factory=set)
    messages: set[int] = field(default_factory=set)
    next_message_id: int = 1

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.title:
            data["title"] = self.title
        if self.is_forum:
            data["is_forum"] = True
        return data


def mention_entities(text: str) -> list[dict[str, Any]]:
    """The entities Telegram attaches for @usernames and /commands, in UTF-16 offsets."""
    entities = []
    for m in re.finditer(r"(?<![\w@/])(@[A-Za-z][A-Za-z0-9_]{3,31}|/[A-Za-z0-9_]+(@\w+)?)", text):
        start = len(text[: m.start()].encode("utf-16-le")) // 2
        length = len(m.group(0).encode("utf-16-le")) // 2
        kind = "mention" if m.group(0).startswith("@") else "bot_command"
        entities.append({"type": kind, "offset": start, "length": length})
    return entities


class FakeTelegram:
    def __init__(
        self, token: str = DEFAULT_TOKEN, *, bot_id: int = 424242, username: str = "claw_test_bot"
    ) -> None:
        self.token = token
        self.bot = {"id": bot_id, "is_bot": True, "first_name": "Claw", "username": username}
        self._cond = threading.Condition()
        self._stopping = False
        self._updates: list[dict[str, Any]] = []  # unconfirmed, in order
        self._update_ids = itertools.count(700_000_001)
        self._chats: dict[int, _Chat] = {}
        self._sent: list[Sent] = []
        self._actions: list[Action] = []
        self._polls: list[Poll] = []
        self._poll_generation = 0
        self._hang_polls = 0
        self._failures: dict[tuple[str, object], list[ApiFailure]] = {}  # ("chat", id) ...
        self._delays: dict[str, float] = {}
        self.confirmed_offset: int | None = None  # highest offset a getUpdates named
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> FakeTelegram:
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()  # hung and long polls return
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> FakeTelegram:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- scripting ---------------------------------------------------------------------
    def add_chat(self, chat_id: int, *, type: str | None = None, forum: bool = False) -> None:
        """Make a chat known to the bot (Telegram refuses sends to chats it never saw)."""
        with self._cond:
            self._chat(chat_id, type, forum)

    def push_message(
        self,
        chat_id: int,
        text: str | None,
        *,
        from_id: int | None = None,
        first_name: str = "Ada",
        username: str | None = None,
        is_bot: bool = False,
        chat_type: str | None = None,
        forum: bool = False,
        thread: int | None = None,
        reply_to_bot: bool = False,
        caption: bool = False,
        entities: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """A user's message as an update; returns it (update_id, message.message_id)."""
        with self._cond:
            chat = self._chat(chat_id, chat_type, forum or thread is not None)
            sender_id = from_id if from_id is not None else chat_id
            sender: dict[str, Any] = {"id": sender_id, "is_bot": is_bot, "first_name": first_name}
            if username:
                sender["username"] = username
            message: dict[str, Any] = {
                "message_id": self._new_message_id(chat),
                "from": sender,
                "chat": chat.as_dict(),
                "date": int(time.time()),
            }
            if thread is not None:
                chat.topics.add(thread)
                message |= {"message_thread_id": thread, "is_topic_message": True}
            if reply_to_bot:  # to an earlier answer of the bot's
                earlier = {"message_id": self._new_message_id(chat), "text": "earlier"}
                message["reply_to_message"] = earlier | {"from": self.bot, "chat": chat.as_dict()}
            if text is not None:
                found = mention_entities(text) if entities is None else entities
                message["caption" if caption else "text"] = text
                if found:
                    message["caption_entities" if caption else "entities"] = found
            return self._push({"message": message})

    def push_update(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Any other update kind (edited_message, callback_query, ...), given its body."""
        with self._cond:
            return self._push(dict(payload))

    def fail_chat(
        self, chat_id: int, kind: str, *, times: int | None = 1, retry_after: int = 1
    ) -> None:
        """The next `times` sends (and typing actions) to `chat_id` fail like Telegram's
        `kind` (see FAILURES); times=None: until `clear_failures`."""
        status, description = FAILURES[kind]
        retry = retry_after if status == 429 else None
        failure = ApiFailure(status, description.format(retry_after=retry_after), retry, times)
        with self._cond:
            self._failures.setdefault(("chat", chat_id), []).append(failure)

    def migrate_chat(self, old: int, new: int) -> None:
        """Group `old` became supergroup `new`: every send to `old` fails as Telegram's
        does, naming the new id (`parameters.migrate_to_chat_id`)."""
        failure = ApiFailure(
            400, "Bad Request: group chat was upgraded to a supergroup chat", migrate_to=new
        )
        with self._cond:
            self._chat(new, "supergroup", False)
            self._failures.setdefault(("chat", old), []).append(failure)

    def fail_method(
        self, method: str, status: int, description: str, *, times: int | None = 1, **kw: Any
    ) -> None:
        """The next `times` calls of `method` answer `status` (kw: retry_after=S)."""
        with self._cond:
            failure = ApiFailure(status, description, kw.get("retry_after"), times)
            self._failures.setdefault(("method", method), []).append(failure)

    def clear_failures(self) -> None:
        with self._cond:
            self._failures.clear()

    def hang_polls(self, count: int = 1) -> None:
        """The next `count` getUpdates are accepted but never answered (until stop)."""
        with self._cond:
            self._hang_polls = count

    def delay(self, method: str, seconds: float) -> None:
        """Answer `method` only after `seconds` (to make a client time out)."""
        with self._cond:
            self._delays[method] = seconds

    # -- observing ---------------------------------------------------------------------
    sent = property(lambda self: self._copy(self._sent), doc="sendMessage calls: [Sent]")
    actions = property(lambda self: self._copy(self._actions), doc="sendChatAction: [Action]")
    polls = property(lambda self: self._copy(self._polls), doc="getUpdates calls: [Poll]")
    unconfirmed = property(lambda self: self._copy(self._updates), doc="updates kept")

    def _copy(self, items: list[T]) -> list[T]:
        with self._cond:
            return list(items)

    def wait_until(self, check: Callable[[], T], timeout: float = 10.0) -> T:
        """Block until `check()` (called under the lock) is truthy; returns its value."""
        with self._cond:
            value = self._cond.wait_for(check, timeout)
        if not value:
            raise TimeoutError(f"fake telegram: condition not met within {timeout}s")
        return value

    def wait_for_sent(self, count: int, timeout: float = 10.0) -> list[Sent]:
        return self.wait_until(lambda: len(self._sent) >= count and list(self._sent), timeout)

    def wait_for_actions(self, count: int, timeout: float = 10.0) -> list[Action]:
        return self.wait_until(lambda: len(self._actions) >= count and list(self._actions), timeout)

    def wait_for_polls(self, count: int, timeout: float = 10.0) -> list[Poll]:
        return self.wait_until(lambda: len(self._polls) >= count and list(self._polls), timeout)

    def wait_confirmed(self, update: dict[str, Any], timeout: float = 10.0) -> None:
        """Block until a getUpdates has confirmed `update` (named an offset past it)."""
        uid = update["update_id"]
        self.wait_until(lambda: (self.confirmed_offset or 0) > uid, timeout)

    # -- state (called with the lock held) ---------------------------------------------
    def _chat(self, chat_id: int, type: str | None, forum: bool) -> _Chat:
        chat = self._chats.get(chat_id)
        if chat is None:
            kind = type or ("private" if chat_id > 0 else "supergroup")
            title = None if kind == "private" else f"group {chat_id}"
            chat = self._chats[chat_id] = _Chat(chat_id, kind, title)
        chat.is_forum = chat.is_forum or forum
        return chat

    def _new_message_id(self, chat: _Chat) -> int:
        message_id = chat.next_message_id
        chat.next_message_id += 1
        chat.messages.add(message_id)
        return message_id

    def _push(self, payload: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": next(self._update_ids), **payload}
        self._updates.append(update)
        self._cond.notify_all()
        return update

    def _scripted(self, key: tuple[str, object]) -> None:
        failures = self._failures.get(key)
        if not failures:
            return
        failure = failures[0]
        if failure.times is not None:
            failure.times -= 1
            if failure.times <= 0:
                failures.pop(0)
        raise failure

    # -- methods (called without the lock) ---------------------------------------------
    def _call(self, method: str, params: dict[str, Any], port: int) -> Any:
        with self._cond:
            delay = self._delays.get(method, 0.0)
            if delay and self._cond.wait_for(lambda: self._stopping, delay):
                raise ApiFailure(503, "Service Unavailable: shutting down")
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            raise ApiFailure(404, "Not Found")
        with self._cond:
            if method == "getUpdates":  # every attempt, answered or failed
                offset = _opt_int(params.get("offset"))
                timeout = _opt_int(params.get("timeout")) or 0
                self._polls.append(Poll(offset, timeout, port, time.monotonic()))
                self._cond.notify_all()
            self._scripted(("method", method))
        return handler(params, port)

    def _m_getMe(self, params: dict[str, Any], port: int) -> Any:
        return dict(self.bot, can_join_groups=True, can_read_all_group_messages=False)

    def _m_getUpdates(self, params: dict[str, Any], port: int) -> Any:
        offset = _opt_int(params.get("offset"))
        timeout = max(0, _opt_int(params.get("timeout")) or 0)
        limit = min(100, max(1, _opt_int(params.get("limit")) or 100))
        with self._cond:
            self._poll_generation += 1
            generation = self._poll_generation
            if offset is not None and offset < 0:
                self._updates = self._updates[offset:]
            elif offset is not None:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
                self.confirmed_offset = max(self.confirmed_offset or 0, offset)
            self._cond.notify_all()
            if self._hang_polls > 0:
                self._hang_polls -= 1
                self._cond.wait_for(lambda: self._stopping)
                raise ApiFailure(503, "Service Unavailable: shutting down")
            deadline = time.monotonic() + timeout
            while not self._updates and not self._stopping:
                if self._poll_generation != generation:
                    raise ApiFailure(
                        409,
                        "Conflict: terminated by other getUpdates request; make sure that "
                        "only one bot instance is running",
                    )
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            return self._updates[:limit]

    def _m_sendMessage(self, params: dict[str, Any], port: int) -> Any:
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ApiFailure(400, "Bad Request: message text is empty")
        if len(text.encode("utf-16-le")) // 2 > 4096:  # Telegram counts UTF-16 units
            raise ApiFailure(400, "Bad Request: message is too long")
        with self._cond:
            chat, thread = self._target(params)
            reply = params.get("reply_parameters")
            reply_to = _opt_int(reply.get("message_id")) if isinstance(reply, dict) else None
            if reply_to is not None and reply_to not in chat.messages:
                if not reply.get("allow_sending_without_reply"):  # type: ignore[union-attr]
                    raise ApiFailure(400, "Bad Request: message to be replied not found")
                reply_to = None
            message_id = self._new_message_id(chat)
            self._sent.append(Sent(chat.id, text, message_id, thread, reply_to, dict(params)))
            self._cond.notify_all()
        result: dict[str, Any] = {
            "message_id": message_id,
            "from": self.bot,
            "chat": chat.as_dict(),
            "date": int(time.time()),
            "text": text,
        }
        if thread is not None:
            result |= {"message_thread_id": thread, "is_topic_message": True}
        return result

    def _m_sendChatAction(self, params: dict[str, Any], port: int) -> Any:
        action = params.get("action")
        if action not in ("typing", "upload_photo", "record_voice", "upload_document"):
            raise ApiFailure(400, "Bad Request: wrong parameter action in request")
        with self._cond:
            chat, thread = self._target(params)
            self._actions.append(Action(chat.id, action, thread))
            self._cond.notify_all()
        return True

    def _target(self, params: dict[str, Any]) -> tuple[_Chat, int | None]:
        """The chat and topic a send goes to, or the error Telegram gives (lock held)."""
        raw = params.get("chat_id")
        if raw in (None, ""):
            raise ApiFailure(400, "Bad Request: chat_id is empty")
        chat_id = _opt_int(raw)
        chat = self._chats.get(chat_id) if chat_id is not None else None
        self._scripted(("chat", chat_id))
        if chat is None:
            raise ApiFailure(400, "Bad Request: chat not found")
        thread = _opt_int(params.get("message_thread_id"))
        if thread is not None and (not chat.is_forum or thread not in chat.topics):
            raise ApiFailure(400, "Bad Request: message thread not found")
        return chat, thread

    # -- HTTP --------------------------------------------------------------------------
    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self
        route = re.compile(r"/bot([^/]+)/([A-Za-z]+)")

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self._serve()

            def do_POST(self) -> None:
                self._serve()

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                m = route.fullmatch(parts.path)
                try:
                    if m is None:
                        raise ApiFailure(404, "Not Found")
                    if m.group(1) != fake.token:
                        raise ApiFailure(401, "Unauthorized")
                    params = _params(parts.query, body, self.headers.get("Content-Type", ""))
                    result = fake._call(m.group(2), params, self.client_address[1])
                    status, answer = 200, {"ok": True, "result": result}
                except ApiFailure as e:
                    status = e.status
                    answer = {"ok": False, "error_code": e.status, "description": e.description}
                    if e.retry_after is not None:
                        answer["parameters"] = {"retry_after": e.retry_after}
                    if e.migrate_to is not None:
                        answer["parameters"] = {"migrate_to_chat_id": e.migrate_to}
                data = json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up (a poll it considered stalled)
                    self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def _params(query: str, body: bytes, content_type: str) -> dict[str, Any]:
    """Bot API parameters from the query string, a JSON body or a form body; outside
    JSON, object parameters arrive JSON-serialized, as Telegram expects."""
    params: dict[str, Any] = dict(parse_qsl(query))
    if body and content_type.startswith("application/json"):
        try:
            data = json.loads(body)
        except ValueError:
            raise ApiFailure(400, "Bad Request: can't parse JSON") from None
        if isinstance(data, dict):
            params.update(data)
        return params
    if body:
        params.update(parse_qsl(body.decode("utf-8", "replace")))
    for key in ("reply_parameters", "allowed_updates"):
        if isinstance(params.get(key), str):
            try:
                params[key] = json.loads(params[key])
            except ValueError:
                raise ApiFailure(400, f"Bad Request: can't parse {key}") from None
    return params


def _opt_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
        return int(value)
    return None
