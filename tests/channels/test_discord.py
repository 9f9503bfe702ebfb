"""The Discord channel against a fake gateway + REST API on 127.0.0.1 (tests/channels/
fake_discord.py): the gateway's handshake, heartbeats, every way a connection ends and
what must follow it, inbound mapping, and sending with Discord's limits and failures."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

from claw.agent.chunker import chunk_text
from claw.channels.base import DeliveryError, Outbound
from claw.channels.discord import DEFAULT_INTENTS, DiscordChannel
from claw.channels.discord_gateway import GatewayError, GatewaySession, GatewayTiming
from claw.delivery.inbox import InboundMessage
from claw.errors import ConfigError
from claw.state.config import Config
from claw.state.home import Home
from tests.channels.fake_discord import BOT_ID, FakeDiscord

pytestmark = pytest.mark.timeout(30)

FAST = GatewayTiming(
    hello_timeout_s=2,
    connect_timeout_s=2,
    close_timeout_s=0.5,
    invalid_session_delay_s=(0.05, 0.1),
    backoff_s=(0.05, 0.2),
    max_failures=3,
)
GUILD, TEXT = "900000000000000001", "900000000000000002"
USER = "2000000000000000001"
EXPIRE = FakeDiscord.expire_session


@pytest.fixture
def fake() -> Iterator[FakeDiscord]:
    with FakeDiscord(heartbeat_interval_ms=100) as f:
        f.channels.update({TEXT, "55", "56"})
        yield f


def make(fake: FakeDiscord, **kw: Any) -> DiscordChannel:
    kw.setdefault("token", fake.token)
    return DiscordChannel(api_base=fake.api_base, gateway_url=fake.gateway_url, timing=FAST, **kw)


def run(fn: Callable[[], Any], limit: float = 10.0) -> None:
    async def main() -> None:
        with trio.fail_after(limit):
            await fn()

    trio.run(main)


class Sink:
    """The journal's stand-in: records messages; fails the first `fail` calls."""

    def __init__(self, fail: int = 0) -> None:
        self.messages: list[InboundMessage] = []
        self.fail = fail
        self.calls = 0

    async def __call__(self, msg: InboundMessage) -> None:
        self.calls += 1
        if self.fail > 0:
            self.fail -= 1
            raise OSError("disk full")
        self.messages.append(msg)

    async def wait(self, n: int) -> list[InboundMessage]:
        while len(self.messages) < n:
            await trio.sleep(0.01)
        return self.messages


async def until(fake: FakeDiscord, predicate: Callable[[], Any], what: str = "") -> None:
    await trio.to_thread.run_sync(lambda: fake.wait_for(predicate, 5.0, what))


@asynccontextmanager
async def running(ch: DiscordChannel, sink: Sink) -> AsyncIterator[trio.Nursery]:
    async with trio.open_nursery() as nursery:
        await nursery.start(ch.start, sink)
        yield nursery
        nursery.cancel_scope.cancel()
    await ch.aclose()


# -- the gateway session -----------------------------------------------------------------
def test_identify_ready_and_heartbeats(fake: FakeDiscord) -> None:
    ch, sink = make(fake), Sink()

    async def main() -> None:
        started = time.monotonic()
        async with running(ch, sink):
            assert ch.events.user_id == BOT_ID  # READY's user: its own messages are skipped
            await until(fake, lambda: len(fake.heartbeats) >= 4, "heartbeats")
            health = ch.health()
        (ident,) = fake.identifies
        assert ident["intents"] == DEFAULT_INTENTS and ident["token"] == fake.token
        assert ident["properties"]["browser"] == "claw"
        times = [t for t, _ in fake.heartbeats]
        assert times[0] - started < 0.1 + 0.5  # the first within one (jittered) interval
        mean_gap = (times[-1] - times[1]) / (len(times) - 2)
        assert mean_gap > 0.08, times  # then every interval, not faster
        assert fake.heartbeats[-1][1] >= 1  # the last sequence number received
        assert health["connected"] and health["heartbeat_latency_ms"] is not None
        assert (health["bot"], health["bot_id"]) == ("claw-test", BOT_ID)
        assert fake.token not in repr(health)

    run(main)


def test_first_heartbeat_is_jittered_and_op1_asks_for_one_now() -> None:
    class Rng:
        def random(self) -> float:
            return 0.5

        def uniform(self, a: float, b: float) -> float:
            return a

    with FakeDiscord(heartbeat_interval_ms=600) as fake:

        async def on_dispatch(kind: str, data: dict[str, Any]) -> None:
            pass

        async def main() -> None:
            gw = GatewaySession(fake.token, 1, fake.gateway_url, on_dispatch, rng=Rng())  # type: ignore[arg-type]
            async with trio.open_nursery() as nursery:
                t0 = time.monotonic()
                await nursery.start(gw.run)
                await until(fake, lambda: fake.heartbeats, "first heartbeat")
                first = fake.heartbeats[0][0] - t0
                assert 0.25 < first < 0.55, first  # interval (0.6 s) * random() (0.5)
                t1 = time.monotonic()
                fake.send_op(1)  # the gateway asks for a heartbeat now
                await until(fake, lambda: len(fake.heartbeats) >= 2, "requested heartbeat")
                assert fake.heartbeats[1][0] - t1 < 0.4  # the next regular one: 0.6 s later
                nursery.cancel_scope.cancel()

        run(main)


def test_dropped_connection_resumes_and_replays_what_was_missed(fake: FakeDiscord) -> None:
    ch, sink = make(fake), Sink()

    async def main() -> None:
        async with running(ch, sink):
            fake.push_dm("before")
            await sink.wait(1)
            seq = ch.gateway.seq if ch.gateway else None
            fake.drop()  # no close frame: the client sees 1006
            await until(fake, lambda: fake.live() is None, "the drop")
            fake.push_dm("while away")  # kept by the session for the RESUME
            await sink.wait(2)
        assert [m.text for m in sink.messages] == ["before", "while away"]
        assert len(fake.identifies) == 1  # resumed, not a new session
        (resume,) = fake.resumes
        assert resume["seq"] == seq and resume["session_id"] in fake.sessions
        assert fake.paths[1].startswith("/resume?v=10")  # READY's resume_gateway_url
        assert ch.health()["resumes"] == 1

    run(main)


def test_an_event_the_sink_cannot_store_comes_again(fake: FakeDiscord) -> None:
    ch, sink = make(fake), Sink(fail=1)

    async def main() -> None:
        async with running(ch, sink):
            fake.push_dm("keep me")
            await sink.wait(1)
        assert [m.text for m in sink.messages] == ["keep me"] and sink.calls == 2
        assert 4000 in fake.closes  # closed so the session stays resumable
        assert fake.resumes and len(fake.identifies) == 1

    run(main)


def test_missing_heartbeat_ack_is_a_zombie_resumed(fake: FakeDiscord) -> None:
    ch, sink = make(fake), Sink()

    async def main() -> None:
        async with running(ch, sink):
            fake.ack_heartbeats = False
            await until(fake, lambda: 4000 in fake.closes, "the client to give up")
            fake.ack_heartbeats = True
            await until(fake, lambda: fake.resumes and fake.live(), "the resume")
            fake.push_dm("after")
            await sink.wait(1)
        assert len(fake.identifies) == 1

    run(main)


@pytest.mark.parametrize(
    ("action", "resumed"),
    [
        (lambda f: f.send_op(7), True),  # RECONNECT
        (lambda f: f.send_op(9, True), True),  # INVALID_SESSION, resumable
        (lambda f: f.close(4000, "unknown error"), True),
        (lambda f: f.send_op(9, False), False),  # INVALID_SESSION: identify anew
        (lambda f: f.close(4009, "session timed out"), False),
        (EXPIRE, False),  # RESUME -> INVALID_SESSION -> IDENTIFY
    ],
    ids=[
        "reconnect",
        "invalid-resumable",
        "close-4000",
        "invalid-session",
        "close-4009",
        "resume-too-late",
    ],
)
def test_how_a_connection_ends_decides_resume_or_identify(
    fake: FakeDiscord, action: Callable[[FakeDiscord], None], resumed: bool
) -> None:
    ch, sink = make(fake), Sink()

    async def main() -> None:
        async with running(ch, sink):
            action(fake)
            if resumed:
                await until(fake, lambda: fake.resumes and fake.live(), "a resume")
            else:
                await until(fake, lambda: len(fake.identifies) == 2 and fake.live(), "identify")
            fake.push_dm("still here")
            await sink.wait(1)
        assert len(fake.identifies) == (1 if resumed else 2)
        assert len(fake.resumes) == (1 if resumed or action is EXPIRE else 0)

    run(main)


@pytest.mark.parametrize(
    ("kw", "code", "words"),
    [
        ({"token": "wrong-token-123"}, 4004, "authentication failed"),
        ({}, 4014, "Message Content"),
    ],
)
def test_final_close_codes_raise(kw: dict[str, Any], code: int, words: str, tmp_path: Path) -> None:
    with FakeDiscord(heartbeat_interval_ms=100, disallowed_intents=1 << 15) as fake:
        if code == 4004:
            fake.disallowed_intents = 0
        ch = make(fake, session_file=tmp_path / "s.json", **kw)

        async def main() -> None:
            with pytest.raises(GatewayError) as err:
                await ch.start(Sink())
            assert str(code) in err.value.message and words in err.value.message
            assert "wrong-token-123" not in str(err.value) and len(fake.identifies) == 1
            assert ch.health()["last_error"]

        run(main)


def test_an_unreachable_gateway_raises_after_the_retries(fake: FakeDiscord) -> None:
    with FakeDiscord() as gone:
        url = gone.gateway_url  # a port nothing listens on once it stops
    ch = DiscordChannel(token="t", api_base=fake.api_base, gateway_url=url, timing=FAST)

    async def main() -> None:
        with pytest.raises(GatewayError, match="3 failures in a row"):
            await ch.start(Sink())

    run(main)


# -- inbound mapping ---------------------------------------------------------------------
def test_messages_map_to_inbound_and_bots_are_ignored() -> None:
    thread_before = {"id": "77", "parent_id": TEXT, "guild_id": GUILD, "type": 11}
    with FakeDiscord(heartbeat_interval_ms=100, guilds={GUILD: [thread_before]}) as fake:
        ch, sink = make(fake), Sink()

        async def main() -> None:
            async with running(ch, sink):
                fake.push_message("from a bot", channel_id=TEXT, guild_id=GUILD, bot=True)
                fake.push_message("a join", channel_id=TEXT, guild_id=GUILD, message_type=7)
                fake.push_message("myself", channel_id=TEXT, guild_id=GUILD, author_id=BOT_ID)
                fake.push_message(
                    f"<@{BOT_ID}> hello", channel_id=TEXT, guild_id=GUILD, mention_bot=True,
                    nick="Al",
                )  # fmt: skip
                fake.push_message("not for me", channel_id=TEXT, guild_id=GUILD)
                fake.push_message("re", channel_id=TEXT, guild_id=GUILD, reply_to_bot=True)
                fake.push_message("in an old thread", channel_id="77", guild_id=GUILD)
                new_thread = fake.create_thread(GUILD, TEXT)
                fake.push_message("in a new thread", channel_id=new_thread, guild_id=GUILD)
                dm_id = fake.push_dm("psst", author_id="2000000000000000009", username="bob")
                await sink.wait(6)
                return new_thread, dm_id

        new_thread, dm_id = trio.run(_limited(main))
        mention, plain, reply, old, new, dm = sink.messages
        assert (mention.text, mention.peer_kind, mention.guild, mention.group) == (
            "hello", "group", GUILD, TEXT,
        )  # fmt: skip
        assert mention.meta["mentioned"] and mention.sender_name == "Al"
        assert mention.reply_to == mention.channel_message_id and mention.peer == USER
        assert not plain.meta["mentioned"] and reply.meta["mentioned"]
        assert (old.group, old.thread) == (TEXT, "77")
        assert (new.group, new.thread) == (TEXT, new_thread)
        assert (dm.peer_kind, dm.peer, dm.group, dm.channel_message_id) == (
            "direct", "2000000000000000009", None, dm_id,
        )  # fmt: skip
        assert dm.chat == fake.dms["2000000000000000009"] and dm.sender_name == "Bob"


def _limited(fn: Callable[[], Any], limit: float = 10.0) -> Callable[[], Any]:
    async def main() -> Any:
        with trio.fail_after(limit):
            return await fn()

    return main


# -- sending -----------------------------------------------------------------------------
def test_send_posts_a_message_with_nonce_and_reply_reference(fake: FakeDiscord) -> None:
    ch = make(fake)

    async def main() -> None:
        part = Outbound(to="55", text="hello", idempotency_key="q1:0", reply_to="123")
        receipt = await ch.send(part)
        again = await ch.send(part)  # a resend after a crash: same nonce, no second post
        await ch.aclose()
        (msg,) = fake.messages
        assert receipt.message_id == again.message_id == msg["id"]
        assert msg["content"] == "hello" and len(msg["nonce"]) <= 25
        assert msg["message_reference"] == {"message_id": "123", "fail_if_not_exists": False}
        assert msg["allowed_mentions"] == {"parse": ["users"]}

    run(main)


def test_long_replies_go_out_in_order_in_parts_of_at_most_2000(fake: FakeDiscord) -> None:
    ch = make(fake, max_message_chars=4096)  # more than Discord takes: capped
    text = "\n\n".join(f"paragraph {i}: " + "word " * 150 for i in range(12))

    async def main() -> None:
        assert ch.max_message_chars == 2000
        parts = chunk_text(text, ch.max_message_chars)
        for n, part in enumerate(parts):
            await ch.send(Outbound(to="55", text=part, idempotency_key=f"q:{n}", part=n))
        with pytest.raises(DeliveryError) as err:
            await ch.send(Outbound(to="55", text="x" * 2001))
        assert err.value.permanent and err.value.reason == "too_long"
        await ch.aclose()
        sent = [m["content"] for m in fake.messages]
        assert len(sent) == len(parts) >= 4 and all(len(s) <= 2000 for s in sent)
        assert "".join(sent).replace("\n", "").replace(" ", "") == text.replace("\n", "").replace(
            " ", ""
        )

    run(main)


def test_dm_targets(fake: FakeDiscord) -> None:
    ch, sink = make(fake), Sink()

    async def main() -> None:
        await ch.send(Outbound(to=f"user:{USER}", text="one"))
        await ch.send(Outbound(to=f"user:{USER}", text="two"))
        opened = [r for r in fake.requests if r[2] == "/users/@me/channels"]
        assert len(opened) == 1  # the DM channel is cached
        async with running(ch, sink):
            fake.push_dm("hi", author_id="2000000000000000007")
            (msg,) = await sink.wait(1)
        await ch.send(Outbound(to=msg.peer, text="to the peer id"))  # as heartbeats address
        dm = fake.dms["2000000000000000007"]
        assert [(m["channel_id"], m["content"]) for m in fake.messages] == [
            (fake.dms[USER], "one"), (fake.dms[USER], "two"), (dm, "to the peer id"),
        ]  # fmt: skip

    run(main)


def test_thread_parts_go_to_the_thread(fake: FakeDiscord) -> None:
    ch = make(fake)

    async def main() -> None:
        await ch.send(Outbound(to=TEXT, text="in thread", thread="56"))
        await ch.aclose()
        assert fake.messages[0]["channel_id"] == "56"

    run(main)


@pytest.mark.parametrize(
    ("status", "code", "message", "permanent", "reason"),
    [
        (403, 50001, "Missing Access", True, "missing_access"),
        (403, 50007, "Cannot send messages to this user", True, "bot_blocked"),
        (404, 10003, "Unknown Channel", True, "chat_not_found"),
        (400, 50035, "Invalid Form Body", True, "http_400"),
        (500, 0, "Internal Server Error", False, "http_500"),
        (502, 0, "Bad Gateway", False, "http_502"),
    ],
)
def test_send_failures_are_classified(
    fake: FakeDiscord, status: int, code: int, message: str, permanent: bool, reason: str
) -> None:
    ch = make(fake)
    fake.fail("55", status, code, message)

    async def main() -> None:
        with pytest.raises(DeliveryError) as err:
            await ch.send(Outbound(to="55", text="hi"))
        assert (err.value.permanent, err.value.reason) == (permanent, reason)
        assert ch.health()["failed"] == 1 and reason in (ch.health()["last_error"] or "")
        await ch.aclose()

    run(main)


def test_other_failures_are_classified(fake: FakeDiscord) -> None:
    async def main() -> None:
        cases = [
            (make(fake, token="wrong-token-456"), "55", True, "unauthorized"),
            (make(fake), "404404", True, "chat_not_found"),  # the fake does not know it
            (make(fake), "../../users/@me", True, "bad_id"),  # never reaches a URL path
        ]
        with FakeDiscord() as gone:
            dead = DiscordChannel(token="t", api_base=gone.api_base, timeout_s=2)
        cases.append((dead, "55", False, "network"))
        for ch, to, permanent, reason in cases:
            with pytest.raises(DeliveryError) as err:
                await ch.send(Outbound(to=to, text="hi"))
            assert (err.value.permanent, err.value.reason) == (permanent, reason)
            assert "wrong-token-456" not in str(err.value.message)
            await ch.aclose()

    run(main)


def test_a_short_429_is_waited_out(fake: FakeDiscord) -> None:
    ch = make(fake)
    fake.rate_limit("55", 0.3)

    async def main() -> None:
        t0 = trio.current_time()
        await ch.send(Outbound(to="55", text="patience"))
        assert trio.current_time() - t0 >= 0.3
        await ch.aclose()

    run(main)
    assert [m["content"] for m in fake.messages] == ["patience"] and fake.violations == 0


def test_a_long_429_is_handed_to_the_queue_and_holds_only_its_route(fake: FakeDiscord) -> None:
    ch = make(fake)
    fake.rate_limit("55", 30)

    async def main() -> None:
        for _ in range(2):  # the second never reaches Discord: the route is held
            with pytest.raises(DeliveryError) as err:
                await ch.send(Outbound(to="55", text="later"))
            assert not err.value.permanent and err.value.reason == "rate_limited"
            assert 29 < (err.value.retry_after or 0) <= 30
        await ch.send(Outbound(to="56", text="another channel"))
        await ch.aclose()

    run(main)
    assert [m["content"] for m in fake.messages] == ["another channel"]
    assert fake.violations == 0


def test_a_global_429_holds_every_send(fake: FakeDiscord) -> None:
    ch = make(fake)
    fake.rate_limit("55", 0.4, is_global=True)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ch.send, Outbound(to="55", text="first"))
            while not ch.limits.global_until:  # until the 429 has arrived
                await trio.sleep(0.005)
            t0 = trio.current_time()
            await ch.send(Outbound(to="56", text="other channel"))
            assert trio.current_time() - t0 >= 0.2  # held (0.4 s from the 429)
        assert ch.health()["rate_limited_s"] == 0
        fake.rate_limit("55", 30, is_global=True)
        with pytest.raises(DeliveryError):
            await ch.send(Outbound(to="55", text="x"))
        with pytest.raises(DeliveryError) as err:  # held: fails without a request
            await ch.send(Outbound(to="56", text="y"))
        assert err.value.reason == "rate_limited" and err.value.retry_after
        assert ch.health()["rate_limited_s"] > 25
        await ch.aclose()

    run(main)
    assert sorted(m["content"] for m in fake.messages) == ["first", "other channel"]
    assert fake.violations == 0


def test_buckets_are_respected_before_a_429(fake: FakeDiscord) -> None:
    ch = make(fake)
    fake.bucket = (2, 0.25)  # two messages per 0.25 s per channel

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            for i in range(6):
                nursery.start_soon(ch.send, Outbound(to="55", text=f"m{i}"))
        await ch.aclose()

    run(main)
    assert len(fake.messages) == 6 and fake.violations == 0
    assert not [r for r in fake.requests if r[2].endswith("/messages")][6:]  # no retries


def test_typing_and_probe(fake: FakeDiscord) -> None:
    async def main() -> None:
        ch = make(fake)
        await ch.typing("55", None)
        await ch.typing(TEXT, "56")
        with pytest.raises(DeliveryError) as err:
            await ch.typing("404404", None)
        assert err.value.reason == "chat_not_found"
        probe = await ch.probe()
        assert (probe["ok"], probe["bot"], probe["bot_id"]) == (True, "claw-test", BOT_ID)
        await ch.aclose()
        bad = make(fake, token="wrong-token-789")
        probe = await bad.probe()
        assert not probe["ok"] and "unauthorized" in probe["error"]
        assert "wrong-token-789" not in repr(probe)
        await bad.aclose()

    run(main)
    assert fake.typing == ["55", "56"]


def test_from_config_reads_the_token_from_the_environment(
    fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    discord = {"token_env": "CLAW_TEST_DISCORD_TOKEN", "api_base": fake.api_base}
    discord |= {"gateway_url": fake.gateway_url, "intents": 513}
    config = Config(data={"channels": {"discord": discord}})
    ch = DiscordChannel.from_config(None, config)  # type: ignore[arg-type]
    assert ch.intents == 513 and ch.max_message_chars == 2000

    async def main() -> None:
        with pytest.raises(ConfigError, match="CLAW_TEST_DISCORD_TOKEN"):
            await ch.start(Sink())
        with pytest.raises(DeliveryError) as err:
            await ch.send(Outbound(to="55", text="hi"))
        assert err.value.permanent and err.value.reason == "missing_token"
        monkeypatch.setenv("CLAW_TEST_DISCORD_TOKEN", fake.token)
        await ch.send(Outbound(to="55", text="hi"))
        await ch.aclose()

    run(main)
    assert [m["content"] for m in fake.messages] == ["hi"]


# -- the session kept across restarts ------------------------------------------------------
def saved(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


async def until_saved(path: Path, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    while True:
        try:
            state = saved(path)
            if predicate(state):
                return state
        except FileNotFoundError:
            pass
        await trio.sleep(0.01)


@pytest.fixture
def session(tmp_path: Path) -> Path:
    return tmp_path / "home" / "channels" / "discord" / "default.session.json"


def test_a_new_process_resumes_the_saved_session_and_gets_what_it_missed(
    fake: FakeDiscord, session: Path
) -> None:
    first, sink = make(fake, session_file=session), Sink()

    async def main() -> None:
        async with running(first, sink):
            thread = fake.create_thread(GUILD, TEXT)  # learned from THREAD_CREATE only
            for n in range(20):
                fake.push_dm(f"before {n}")
            await sink.wait(20)
            assert first.gateway is not None
            gw = first.gateway
            state = await until_saved(session, lambda d: d["seq"] == gw.seq)
        assert first.session_file is not None and first.session_file.writes < 10  # batched
        assert (state["session_id"], state["resume_url"]) == (gw.session_id, fake.resume_url)
        assert state["user_id"] == BOT_ID and fake.token not in json.dumps(state)
        assert session.stat().st_mode & 0o777 == 0o600
        assert session.parent.stat().st_mode & 0o777 == 0o700
        await until(fake, lambda: fake.closes, "the close")
        assert fake.closes == [4000]  # a stop keeps the session resumable (1000 would end it)

        fake.push_dm("while down")
        fake.push_message(f"<@{BOT_ID}> hi", channel_id=TEXT, guild_id=GUILD, mention_bot=True)
        fake.push_message("in the thread", channel_id=thread, guild_id=GUILD)
        later, again = make(fake, session_file=session), Sink()
        async with running(later, again):
            await again.wait(3)
            assert later.health()["connected"]
        assert [m.text for m in again.messages] == ["while down", "hi", "in the thread"]
        assert again.messages[1].meta["mentioned"]  # the bot's id came from the file
        assert (again.messages[2].group, again.messages[2].thread) == (TEXT, thread)  # too
        assert len(fake.identifies) == 1 and len(fake.resumes) == 1
        assert fake.resumes[0]["seq"] == state["seq"]
        assert fake.paths[1].startswith("/resume?v=10")

    run(main)


def test_the_saved_seq_is_never_ahead_of_the_journal(fake: FakeDiscord, session: Path) -> None:
    entered, release = trio.Event(), trio.Event()

    class Slow(Sink):
        async def __call__(self, msg: InboundMessage) -> None:
            if msg.text == "slow":
                entered.set()
                await release.wait()  # never: the process stops while journaling it
            await super().__call__(msg)

    first, sink = make(fake, session_file=session), Slow()

    async def main() -> None:
        async with running(first, sink):
            fake.push_dm("one")
            await sink.wait(1)
            fake.push_dm("slow")
            slow_seq = fake.sessions[first.gateway.session_id].seq  # type: ignore[union-attr]
            fake.push_dm("after it")  # read, but queued behind the one in the handler
            await entered.wait()
            await trio.sleep(0.5)  # several save intervals: the file keeps up with what it can
            assert saved(session)["seq"] == slow_seq - 1
        assert saved(session)["seq"] == slow_seq - 1  # the last write, on the way out
        later, again = make(fake, session_file=session), Sink()
        async with running(later, again):
            await again.wait(2)
        assert [m.text for m in again.messages] == ["slow", "after it"]

    run(main)


@pytest.mark.parametrize("how", ["stale", "corrupt", "expired", "resume-url-gone"])
def test_a_session_that_cannot_be_resumed_falls_back_to_identify(
    fake: FakeDiscord, session: Path, how: str
) -> None:
    first, sink = make(fake, session_file=session), Sink()

    async def main() -> None:
        async with running(first, sink):
            fake.push_dm("one")
            await sink.wait(1)
        old = saved(session)
        if how == "stale":  # older than the resume window: not even tried
            session.write_text(json.dumps(old | {"saved_at": time.time() - 301}))
        elif how == "corrupt":
            session.write_text('{"version": 1, "session_id": ')
        elif how == "expired":  # Discord forgot it: RESUME -> INVALID_SESSION (d=false)
            fake.expire_session()
        else:
            with FakeDiscord() as gone:
                session.write_text(json.dumps(old | {"resume_url": gone.resume_url}))
        later, again = make(fake, session_file=session), Sink()
        async with running(later, again):
            assert later.gateway is not None
            new_id = later.gateway.session_id
            state = await until_saved(session, lambda d: d["session_id"] == new_id)
            fake.push_dm("in the new session")
            await again.wait(1)
        assert new_id != old["session_id"] and len(fake.identifies) == 2
        assert len(fake.resumes) == (1 if how == "expired" else 0)
        assert state["resume_url"] == fake.resume_url

    run(main)


def test_from_config_keeps_the_session_under_the_state_directory(tmp_path: Path) -> None:
    config = Config(data={"channels": {"discord": {"token": "t", "resume_window_s": 120}}})
    ch = DiscordChannel.from_config(Home(tmp_path), config)
    assert ch.session_file is not None and ch.session_file.resume_window_s == 120
    assert ch.session_file.path == tmp_path / "channels/discord/default.session.json"


@pytest.mark.parametrize("max_age", [3600.0, 0.0])
def test_after_a_lost_session_what_was_missed_is_fetched_over_rest(
    fake: FakeDiscord, session: Path, max_age: float
) -> None:
    first, sink = make(fake, session_file=session), Sink()

    async def main() -> None:
        async with running(first, sink):
            fake.push_dm("one")
            fake.push_message(f"<@{BOT_ID}> hi", channel_id=TEXT, guild_id=GUILD, mention_bot=True)
            await sink.wait(2)
        now, user = time.time(), {"id": USER, "username": "alice"}
        state = saved(session)
        assert state["channels"] == {
            fake.dms[USER]: [None, sink.messages[0].channel_message_id],
            TEXT: [GUILD, sink.messages[1].channel_message_id],
        }
        state["channels"]["55"] = [None, fake.new_id(at=now - 3 * 3600)]  # a quiet DM
        session.write_text(json.dumps(state))
        fake.history["55"] = [
            {"id": fake.new_id(at=now - 7200), "channel_id": "55", "author": user,
             "content": "too old to answer", "type": 0},
            {"id": fake.new_id(at=now - 60), "channel_id": "55", "author": user,
             "content": "recent", "type": 0},
        ]  # fmt: skip
        fake.expire_session()  # gone: what follows reaches only the REST API
        fake.push_dm("while gone")
        fake.push_message(f"<@{BOT_ID}> there?", channel_id=TEXT, guild_id=GUILD, mention_bot=True)

        later, again = make(fake, session_file=session, backfill_max_age_s=max_age), Sink()
        async with running(later, again):
            fake.push_dm("live again")
            await again.wait(1 if max_age == 0 else 4)
        fetched = [r for r in fake.requests if r[1] == "GET" and r[2].endswith("/messages")]
        if max_age == 0:  # turned off: nothing fetched, only what the new session brings
            assert [m.text for m in again.messages] == ["live again"] and not fetched
            return
        assert [m.text for m in again.messages] == ["while gone", "there?", "recent", "live again"]
        dm, mention, quiet = again.messages[:3]
        assert (dm.peer_kind, dm.chat, dm.peer) == ("direct", fake.dms[USER], USER)
        assert (mention.guild, mention.group, mention.meta["mentioned"]) == (GUILD, TEXT, True)
        assert quiet.chat == "55" and len(fetched) == 3  # one page per seen channel
        assert later.health()["backfilled"] == 3 and later.health()["received"] == 4
        assert len(fake.identifies) == 2 and len(fake.resumes) == 1
        state = await until_saved(
            session, lambda d: d["channels"]["55"][1] == quiet.channel_message_id
        )
        assert state["channels"][fake.dms[USER]][1] == again.messages[3].channel_message_id

    run(main)


def test_mentioning_the_bots_role_is_a_mention(home: Home) -> None:
    """Typing @Bot in a server often picks the bot's managed role rather than its user:
    such a message was refused as "without a mention" and got no answer."""
    from claw.channels.discord_events import Events
    from claw.channels.discord_session_state import SessionFile, session_path

    events = Events("default")
    events.observe("READY", {"user": {"id": BOT_ID, "username": "claw-test"}})
    roles = [
        {"id": "7001", "name": "claw-test", "managed": True, "tags": {"bot_id": BOT_ID}},
        {"id": "7002", "name": "other-bot", "managed": True, "tags": {"bot_id": "1"}},
        {"id": "7003", "name": "mods"},
    ]
    events.observe("GUILD_CREATE", {"id": "900", "roles": roles, "threads": []})

    def said(*mention_roles: str) -> bool:
        d = {"id": "5", "channel_id": "901", "guild_id": "900", "content": "hi", "type": 0}
        d |= {"author": {"id": "42", "username": "u"}, "mention_roles": list(mention_roles)}
        msg = events.message(d)
        assert msg is not None
        return msg.meta["mentioned"]

    assert said("7001") and not said("7002") and not said("7003") and not said()
    events.observe("GUILD_ROLE_CREATE", {"guild_id": "901", "role": {**roles[0], "id": "8001"}})
    assert said("8001")

    # a RESUME after a restart skips GUILD_CREATE: the roles are kept with the session
    class Gw:
        session_id, resume_url, seq = "s1", "wss://gateway.example", 3

    from claw.channels.discord_backfill import Seen

    file = SessionFile(session_path(home, "default"))
    state = file.snapshot(Gw(), events, Seen())  # type: ignore[arg-type]
    assert state is not None
    file.save(state)
    saved = file.load()
    assert saved is not None
    again = Events("default")
    again.restore(saved.user_id, saved.username, saved.threads, saved.roles)
    events = again
    assert said("7001") and said("8001") and not said("7003")
