"""The Telegram channel against the fake Bot API (tests/channels/fake_telegram.py)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import httpx
import pytest
import trio

from claw.channels.base import DeliveryError, Outbound
from claw.channels.telegram import Settings, TelegramChannel
from claw.channels.telegram_api import (
    ApiError,
    Bot,
    BotApi,
    TelegramError,
    delivery_error,
    parse_answer,
    to_inbound,
)
from claw.delivery.inbox import InboundMessage
from claw.errors import ConfigError
from claw.state.config import Config
from tests.channels.fake_telegram import DEFAULT_TOKEN, FakeTelegram

USER = 5551234
GROUP = -1001234567890


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram() as f:
        yield f


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)


def channel_for(fake: FakeTelegram, **overrides: Any) -> TelegramChannel:
    """Short intervals: a poll answers within 1 s, a stall is noticed within 1.5 s."""
    settings = Settings(
        token=fake.token,
        api_base=fake.url,
        poll_timeout_s=1,
        stall_grace_s=0.5,
        request_timeout_s=2,
    )
    return TelegramChannel(replace(settings, **overrides), retry_min_s=0.05, retry_max_s=0.2)


def run(main: Callable[[], Awaitable[None]], limit: float = 8) -> None:
    async def wrapped() -> None:
        with trio.fail_after(limit):
            await main()

    trio.run(wrapped)


class Sink:
    """Records what the channel hands over; `fail` raises once, `gate` holds it."""

    def __init__(self) -> None:
        self.messages: list[InboundMessage] = []
        self.fail: Exception | None = None
        self.gate: trio.Event | None = None
        self.entered = trio.Event()

    async def __call__(self, msg: InboundMessage) -> None:
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            error, self.fail = self.fail, None
            raise error
        self.messages.append(msg)


async def eventually(check: Callable[[], object], timeout: float = 5) -> None:
    with trio.fail_after(timeout):
        while not check():
            await trio.sleep(0.01)


@asynccontextmanager
async def receiving(channel: TelegramChannel, sink: Sink) -> AsyncIterator[None]:
    async with trio.open_nursery() as nursery:
        await nursery.start(channel.start, sink)
        yield
        nursery.cancel_scope.cancel()
    await channel.aclose()


# -- receiving ---------------------------------------------------------------------------
def test_direct_message_is_journaled_then_confirmed(fake):
    update = fake.push_message(USER, "hello there", first_name="Ada", username="ada")
    channel, sink = channel_for(fake), Sink()

    async def main() -> None:
        async with receiving(channel, sink):
            await eventually(lambda: sink.messages)
            await trio.to_thread.run_sync(fake.wait_confirmed, update)
            assert channel.health()["connected"] is True

    run(main)
    (msg,) = sink.messages
    mid = update["message"]["message_id"]
    assert (msg.channel, msg.account, msg.peer, msg.peer_kind) == (
        "telegram",
        "default",
        str(USER),
        "direct",
    )
    assert msg.channel_message_id == f"{USER}:{mid}"
    assert (msg.text, msg.group, msg.thread, msg.reply_to) == ("hello there", None, None, str(mid))
    assert msg.sender_name == "Ada" and msg.chat == str(USER)
    assert msg.meta == {"mentioned": False, "chat_type": "private", "username": "ada"}
    msg.validate()  # what the journal will check
    assert fake.unconfirmed == []
    assert fake.polls[0].offset is None  # the first poll asks for whatever is unconfirmed
    health = channel.health()
    assert health["received"] == 1 and health["bot"] == "claw_test_bot"
    assert health["connected"] is False and health["last_inbound_at"] is not None


def test_group_mentions_replies_and_captions(fake):
    plain = fake.push_message(GROUP, "just chatting", from_id=USER)
    fake.push_message(GROUP, "hey @Claw_Test_Bot what's up", from_id=USER)
    fake.push_message(GROUP, "hey @someone_else", from_id=USER)
    fake.push_message(GROUP, "thanks!", from_id=USER, reply_to_bot=True)
    fake.push_message(GROUP, "/ask@claw_test_bot now", from_id=USER)
    fake.push_message(GROUP, "look @claw_test_bot", from_id=USER, caption=True)
    channel, sink = channel_for(fake), Sink()

    async def main() -> None:
        async with receiving(channel, sink):
            await eventually(lambda: len(sink.messages) == 6)

    run(main)
    assert [m.meta["mentioned"] for m in sink.messages] == [False, True, False, True, True, True]
    first = sink.messages[0]
    assert (first.peer, first.peer_kind, first.group) == (str(USER), "group", str(GROUP))
    assert first.chat == str(GROUP) and first.meta["chat_type"] == "supergroup"
    assert first.channel_message_id == f"{GROUP}:{plain['message']['message_id']}"
    assert sink.messages[5].text == "look @claw_test_bot"


def test_mentions_are_found_by_utf16_offsets():
    bot = Bot(id=99, username="claw_bot")
    text = "🦀🦀 @claw_bot hi"  # each crab is two UTF-16 code units
    update = {
        "update_id": 1,
        "message": {
            "message_id": 7,
            "from": {"id": 1, "is_bot": False, "first_name": "A"},
            "chat": {"id": -5, "type": "group"},
            "text": text,
            "entities": [{"type": "mention", "offset": 5, "length": 9}],
        },
    }
    msg = to_inbound(update, bot, "default")
    assert msg is not None and msg.meta["mentioned"] is True
    update["message"]["entities"] = [
        {"type": "text_mention", "offset": 0, "length": 2, "user": {"id": 99, "is_bot": True}}
    ]
    assert to_inbound(update, bot, "default").meta["mentioned"] is True
    # A forum message "replies" to its topic's creation message: not a reply to the bot.
    update["message"] |= {
        "entities": [],
        "reply_to_message": {"message_id": 1, "from": {"id": 99}, "forum_topic_created": {}},
    }
    assert to_inbound(update, bot, "default").meta["mentioned"] is False


def test_forum_topics_are_threads(fake):
    fake.push_message(GROUP, "in a topic", from_id=USER, thread=42)
    # A reply chain in an ordinary group carries message_thread_id but is no topic.
    fake.push_update(
        {
            "message": {
                "message_id": 900,
                "message_thread_id": 899,
                "from": {"id": USER, "is_bot": False, "first_name": "Ada"},
                "chat": {"id": -77, "type": "group", "title": "g"},
                "date": 0,
                "text": "a reply",
            }
        }
    )
    channel, sink = channel_for(fake), Sink()

    async def main() -> None:
        async with receiving(channel, sink):
            await eventually(lambda: len(sink.messages) == 2)
        topic = sink.messages[0]
        await channel.send(Outbound(to=topic.chat, text="answer", thread=topic.thread))
        await channel.typing(topic.chat, topic.thread)
        with pytest.raises(DeliveryError) as info:
            await channel.send(Outbound(to=str(GROUP), text="x", thread="43"))
        assert info.value.reason == "thread_not_found" and info.value.permanent
        await channel.aclose()

    run(main)
    assert [m.thread for m in sink.messages] == ["42", None]
    assert fake.sent[0].message_thread_id == 42 and fake.sent[0].chat_id == GROUP
    assert fake.actions[0].message_thread_id == 42 and fake.actions[0].action == "typing"


def test_bots_edits_and_empty_messages_are_confirmed_but_skipped(fake):
    fake.push_message(USER, "from a bot", is_bot=True)
    fake.push_update({"edited_message": {"message_id": 1, "text": "changed"}})
    fake.push_message(USER, None)  # a sticker: no text, no caption
    last = fake.push_message(USER, "a real one")
    channel, sink = channel_for(fake), Sink()

    async def main() -> None:
        async with receiving(channel, sink):
            await trio.to_thread.run_sync(fake.wait_confirmed, last)

    run(main)
    assert [m.text for m in sink.messages] == ["a real one"]
    assert fake.unconfirmed == []


def test_offset_moves_only_after_the_sink_returns(fake):
    update = fake.push_message(USER, "hold on")
    channel, sink = channel_for(fake), Sink()
    sink.gate = trio.Event()

    async def main() -> None:
        async with receiving(channel, sink):
            await sink.entered.wait()
            await trio.sleep(0.3)  # the channel must not poll (and so confirm) meanwhile
            assert all(p.offset is None for p in fake.polls)
            assert fake.unconfirmed == [update]
            sink.gate.set()
            await trio.to_thread.run_sync(fake.wait_confirmed, update)

    run(main)
    assert fake.polls[-1].offset == update["update_id"] + 1


def test_a_failing_sink_gets_the_update_again(fake):
    update = fake.push_message(USER, "do not lose me")
    channel, sink = channel_for(fake), Sink()
    sink.fail = OSError("disk full")

    async def main() -> None:
        with pytest.raises(OSError, match="disk full"):
            await channel.start(sink)
        assert fake.unconfirmed == [update]  # never confirmed: Telegram keeps it
        # The supervisor starts the same channel again: the update must come again.
        async with receiving(channel, sink):
            await trio.to_thread.run_sync(fake.wait_confirmed, update)
        assert "disk full" in (channel.health()["last_error"] or "")

    run(main)
    assert [m.text for m in sink.messages] == ["do not lose me"]
    # A fresh process (no offset in memory) is offered only what is still unconfirmed.
    restarted, again = channel_for(fake), Sink()
    fake.push_message(USER, "next")

    async def after_restart() -> None:
        async with receiving(restarted, again):
            await eventually(lambda: again.messages)

    run(after_restart)
    assert [m.text for m in again.messages] == ["next"]


def test_a_stalled_poll_is_dropped_and_polled_again(fake):
    fake.hang_polls(1)
    fake.push_message(USER, "are you there?")
    # Short polling (timeout 0): the hung poll is given up 0.3 s after it was sent.
    channel, sink = channel_for(fake, poll_timeout_s=0, stall_grace_s=0.3), Sink()

    async def main() -> None:
        started = time.monotonic()
        async with receiving(channel, sink):
            await eventually(lambda: sink.messages)
        assert 0.3 <= time.monotonic() - started < 3  # noticed well before httpx's timeout

    run(main)
    polls = fake.polls
    assert channel.stalls == 1 and channel.health()["stalls"] == 1
    assert polls[1].client_port != polls[0].client_port  # a new connection
    assert [m.text for m in sink.messages] == ["are you there?"]


def test_poll_failures_back_off_and_honour_retry_after(fake):
    fake.fail_method("getUpdates", 502, "Bad Gateway")
    fake.fail_method("getUpdates", 429, "Too Many Requests: retry after 1", retry_after=1)
    fake.push_message(USER, "after the storm")
    channel, sink = channel_for(fake), Sink()

    async def main() -> None:
        async with receiving(channel, sink):
            await eventually(lambda: sink.messages)

    run(main)
    polls = fake.polls
    assert len(polls) >= 3 and polls[2].at - polls[1].at >= 0.95  # waited retry_after
    assert channel.poll_errors == 2 and "429" in (channel.last_error or "")


@pytest.mark.parametrize(
    ("status", "description", "words"),
    [
        (401, "Unauthorized", "token was rejected"),
        (409, "Conflict: can't use getUpdates method while webhook is active", "another client"),
    ],
)
def test_unrecoverable_poll_errors_raise(fake, status, description, words):
    fake.fail_method("getUpdates", status, description)

    async def main() -> None:
        with pytest.raises(TelegramError, match=words):
            await channel_for(fake).start(Sink())

    run(main)


def test_a_rejected_token_stops_start_before_polling(fake):
    channel = channel_for(fake, token="1:not-the-right-token")

    async def main() -> None:
        with pytest.raises(TelegramError, match="token was rejected") as info:
            await channel.start(Sink())
        assert "not-the-right" not in str(info.value)
        probe = await channel.probe()
        assert probe["ok"] is False and "rejected" in probe["error"]
        await channel.aclose()

    run(main)
    assert fake.polls == []


# -- sending -----------------------------------------------------------------------------
def test_send_parts_with_reply_and_receipt(fake):
    asked = fake.push_message(USER, "question")["message"]["message_id"]
    channel = channel_for(fake)
    long_part = "x" * 4096

    async def main() -> None:
        first = Outbound(to=str(USER), text="part one", reply_to=str(asked), parts=2)
        receipt = await channel.send(first)
        await channel.send(replace(first, text=long_part, part=1))
        await channel.send(Outbound(to=str(USER), text="gone", reply_to="99999"))
        assert receipt.message_id == str(fake.sent[0].message_id)
        await channel.aclose()

    run(main)
    one, two, three = fake.sent
    assert (one.text, one.reply_to, one.chat_id) == ("part one", asked, USER)
    assert one.params["reply_parameters"]["allow_sending_without_reply"] is True
    assert two.text == long_part and "reply_parameters" not in two.params
    assert three.text == "gone" and three.reply_to is None  # deleted message: sent anyway
    assert channel.health()["sent"] == 3 and channel.health()["last_send_at"]


@pytest.mark.parametrize(
    ("kind", "permanent", "reason", "retry_after"),
    [
        ("rate_limited", False, "rate_limited", 3.0),
        ("blocked", True, "bot_blocked", None),
        ("chat_not_found", True, "chat_not_found", None),
        ("server_error", False, "http_500", None),
        ("bad_gateway", False, "http_502", None),
    ],
)
def test_send_failures_are_classified(fake, kind, permanent, reason, retry_after):
    fake.add_chat(USER)
    fake.fail_chat(USER, kind, retry_after=3)
    channel = channel_for(fake)

    async def main() -> None:
        with pytest.raises(DeliveryError) as info:
            await channel.send(Outbound(to=str(USER), text="hi"))
        e = info.value
        assert (e.permanent, e.reason, e.retry_after) == (permanent, reason, retry_after)
        await channel.send(Outbound(to=str(USER), text="hi again"))  # the next one works
        await channel.aclose()

    run(main)
    assert [s.text for s in fake.sent] == ["hi again"]
    assert channel.health()["failed"] == 1


def test_a_reply_to_a_group_that_became_a_supergroup_goes_to_its_new_id(fake):
    """Telegram refuses the old id for good and names the new one: the reply follows it
    rather than being lost."""
    fake.add_chat(-4001, type="group")
    fake.migrate_chat(-4001, -1004001)
    channel = channel_for(fake)

    async def main() -> None:
        receipt = await channel.send(Outbound(to="-4001", text="still here"))
        assert receipt.message_id == str(fake.sent[0].message_id)
        await channel.aclose()

    run(main)
    assert [(s.chat_id, s.text) for s in fake.sent] == [(-1004001, "still here")]
    assert channel.health()["sent"] == 1 and channel.health()["failed"] == 0


def test_unknown_chats_and_bad_ids_fail_for_good(fake):
    channel = channel_for(fake)

    async def main() -> None:
        for to, reason in [("777", "chat_not_found"), ("../etc", "bad_chat_id")]:
            with pytest.raises(DeliveryError) as info:
                await channel.send(Outbound(to=to, text="hi"))
            assert info.value.permanent and info.value.reason == reason
        await channel.aclose()

    run(main)


def test_timeouts_and_network_errors_are_transient(fake):
    fake.add_chat(USER)
    fake.delay("sendMessage", 1.0)
    channel = channel_for(fake, request_timeout_s=0.2)

    async def main() -> None:
        with pytest.raises(DeliveryError) as info:
            await channel.send(Outbound(to=str(USER), text="slow"))
        assert (info.value.permanent, info.value.reason) == (False, "timeout")
        fake.stop()
        with pytest.raises(DeliveryError) as info:
            await channel.send(Outbound(to=str(USER), text="nobody home"))
        assert (info.value.permanent, info.value.reason) == (False, "network")
        await channel.aclose()

    run(main)


def test_migrated_groups_and_unauthorized_are_permanent():
    request = httpx.Request("POST", "http://x/bot1:a/sendMessage")
    migrated = httpx.Response(
        400,
        request=request,
        json={
            "ok": False,
            "error_code": 400,
            "description": "Bad Request: group chat was upgraded to a supergroup chat",
            "parameters": {"migrate_to_chat_id": -100777},
        },
    )
    with pytest.raises(ApiError) as info:
        parse_answer("sendMessage", migrated)
    e = delivery_error(info.value, "-5")
    assert (e.permanent, e.reason) == (True, "chat_migrated") and "-100777" in e.message
    html = httpx.Response(502, request=request, text="<html>bad gateway</html>")
    with pytest.raises(ApiError) as info:
        parse_answer("sendMessage", html)
    assert delivery_error(info.value, "-5").reason == "http_502"
    unauthorized = ApiError("sendMessage", 401, "Unauthorized")
    assert delivery_error(unauthorized, "1").reason == "unauthorized"


def test_typing_is_one_action_and_failures_are_classified(fake):
    fake.add_chat(USER)
    channel = channel_for(fake)

    async def main() -> None:
        await channel.typing(str(USER), None)
        fake.fail_chat(USER, "blocked")
        with pytest.raises(DeliveryError) as info:  # the caller stops repeating it
            await channel.typing(str(USER), None)
        assert (info.value.permanent, info.value.reason) == (True, "bot_blocked")
        await channel.aclose()

    run(main)
    (action,) = fake.actions
    assert (action.chat_id, action.action, action.message_thread_id) == (USER, "typing", None)
    assert channel.health()["typing_failed"] == 1 and channel.health()["failed"] == 0


# -- configuration, secrets, probe ----------------------------------------------------------
def test_the_token_never_shows(fake, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")  # litellm turns httpx down to WARNING
    fake.add_chat(USER)
    fake.fail_chat(USER, "blocked")
    fake.push_message(USER, "hi")
    channel, sink = channel_for(fake), Sink()

    async def main() -> None:
        async with receiving(channel, sink):
            await eventually(lambda: sink.messages)
        with pytest.raises(DeliveryError) as info:
            await channel.send(Outbound(to=str(USER), text="x"))
        assert DEFAULT_TOKEN not in info.value.message
        assert (await channel.probe())["ok"] is True
        await channel.aclose()

    run(main)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "getUpdates" in logged and "<token>" in logged  # httpx did log the URLs
    secret = DEFAULT_TOKEN.split(":")[1]
    assert secret not in logged
    assert secret not in repr(channel.health()) and secret not in repr(channel.api())
    assert secret not in repr(channel.settings) and secret not in repr(channel)


def test_settings_from_config(home, fake, monkeypatch):
    # Built directly: the keys' schema (and its defaults) is the config module's business.
    table = {"token_env": "TG_TEST_TOKEN", "api_base": f"{fake.url}/", "poll_timeout_s": 5}
    table |= {"stall_grace_s": 2, "max_message_chars": 9000}
    config = Config(data={"channels": {"telegram": table}})
    channel = TelegramChannel.from_config(home, config)  # no token needed to build it
    assert channel.max_message_chars == 4096  # Telegram's own limit wins
    assert (channel.settings.poll_timeout_s, channel.settings.stall_grace_s) == (5, 2)

    async def missing() -> None:
        with pytest.raises(DeliveryError) as info:
            await channel.send(Outbound(to=str(USER), text="hi"))
        assert info.value.permanent and info.value.reason == "no_token"
        with pytest.raises(ConfigError, match="TG_TEST_TOKEN"):
            await channel.start(Sink())

    run(missing)
    monkeypatch.setenv("TG_TEST_TOKEN", fake.token)
    channel = TelegramChannel.from_config(home, config)

    async def present() -> None:
        assert (await channel.probe())["bot"] == "claw_test_bot"
        await channel.aclose()

    run(present)
    with pytest.raises(ConfigError, match="does not look like"):
        BotApi("123:abc/../../evil", fake.url)
    with pytest.raises(ConfigError, match="api_base"):
        BotApi(fake.token, "ftp://example.com")


def test_the_fake_speaks_the_bot_api(fake):
    """What the adapter relies on, checked against the fake with a plain HTTP client."""
    base = f"{fake.url}/bot{fake.token}"
    for i in range(3):
        fake.push_message(USER, f"m{i}")
    with httpx.Client(timeout=5) as client:
        got = client.get(f"{base}/getUpdates", params={"limit": 2}).json()
        assert got["ok"] is True and [u["message"]["text"] for u in got["result"]] == ["m0", "m1"]
        last = client.post(f"{base}/getUpdates", data={"offset": "-1"}).json()["result"]
        assert [u["message"]["text"] for u in last] == ["m2"]
        assert len(fake.unconfirmed) == 1  # a negative offset forgets the rest
        bad = client.post(f"{fake.url}/bot1:wrong/getMe").json()
        assert bad == {"ok": False, "error_code": 401, "description": "Unauthorized"}
        empty = client.post(f"{base}/sendMessage", json={"chat_id": USER, "text": " "})
        assert empty.status_code == 400 and "text is empty" in empty.json()["description"]
    assert fake.wait_for_polls(2, timeout=1)[0].offset is None
    # A newer long poll ends an older one with 409, as when two bot instances run.
    after_all = {"offset": fake.unconfirmed[-1]["update_id"] + 1}
    with httpx.Client(timeout=5) as one, httpx.Client(timeout=5) as two:
        answers: list[httpx.Response] = []
        waiting = threading.Thread(
            target=lambda: answers.append(
                one.post(f"{base}/getUpdates", json={**after_all, "timeout": 3})
            )
        )
        waiting.start()
        fake.wait_for_polls(3, timeout=2)
        assert two.post(f"{base}/getUpdates", json=after_all).json()["result"] == []
        waiting.join(timeout=3)
    assert answers[0].status_code == 409 and "terminated by other" in answers[0].text


def test_a_long_reply_with_emoji_fits_telegrams_utf16_limit(home, fake, monkeypatch):
    """Telegram counts 4,096 UTF-16 units, and an emoji is two: parts cut at 4,096 Python
    characters were refused for good ("message is too long") and the reply was lost."""
    from claw.delivery.service import enqueue_reply, run_flush

    fake.push_message(USER, "tell me a long story")  # the chat exists
    monkeypatch.setenv("TG_TEST_TOKEN", fake.token)
    table = {"token_env": "TG_TEST_TOKEN", "api_base": fake.url, "request_timeout_s": 5}
    config = Config(data={"channels": {"telegram": table}})
    text = "".join(f"line {i} \U0001f600\U0001f389 ok\n" for i in range(700))  # 12,000 units
    delivery = enqueue_reply(home, config, f"telegram:{USER}", text)
    report = run_flush(home, config)
    assert report.outcomes["delivered"] == 1 and not report.outcomes["failed"], report
    sent = fake.wait_for_sent(len(delivery.parts))
    assert len(sent) == len(delivery.parts) >= 3
    assert all(len(s.text.encode("utf-16-le")) // 2 <= 4096 for s in sent)
    assert "".join(s.text.replace("\n", "") for s in sent) == text.replace("\n", "")
