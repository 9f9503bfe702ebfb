"""The mock channel: an outbox file per account, and failures scripted from config."""

from __future__ import annotations

import stat
from collections.abc import Awaitable, Callable

import pytest
import trio

from claw.channels.base import DeliveryError, Outbound
from claw.channels.mock import MockChannel, outbox_dir, read_outbox
from claw.channels.registry import build_channel, known_channels
from claw.errors import UsageError
from claw.state.config import Config, load, set_value
from claw.state.home import Home


def run(main: Callable[[], Awaitable[None]]) -> None:
    async def wrapped() -> None:
        with trio.fail_after(10):
            await main()

    trio.run(wrapped)


def mock(home: Home, text: str = "") -> MockChannel:
    home.config_file.write_text(text)
    channel = build_channel("mock", home, load(home.config_file))
    assert isinstance(channel, MockChannel)
    return channel


async def send_error(channel: MockChannel, message: Outbound) -> DeliveryError:
    with pytest.raises(DeliveryError) as info:
        await channel.send(message)
    return info.value


def test_sends_append_one_line_each_per_account(home):
    channel = mock(home)
    assert channel.max_message_chars == 4096

    async def main() -> None:
        r = await channel.send(Outbound("alice", "one", idempotency_key="d1:0", parts=2))
        assert r.message_id == "mock-d1:0"
        await channel.send(Outbound("alice", "two", idempotency_key="d1:1", part=1, parts=2))
        await channel.send(Outbound("bob", "hi", account="work", idempotency_key="d2:0"))
        await channel.aclose()

    run(main)
    sent = read_outbox(home)
    assert [(m["to"], m["text"], m["part"], m["parts"]) for m in sent] == [
        ("alice", "one", 0, 2),
        ("alice", "two", 1, 2),
    ]
    assert set(sent[0]) == {"to", "text", "account", "idempotency_key", "part", "parts", "at"}
    assert sent[0]["idempotency_key"] == "d1:0" and sent[0]["at"].endswith("Z")
    [work] = read_outbox(home, "work")
    assert (work["to"], work["account"]) == ("bob", "work")
    assert stat.S_IMODE(outbox_dir(home).stat().st_mode) == 0o700
    assert stat.S_IMODE((outbox_dir(home) / "work.jsonl").stat().st_mode) == 0o600
    assert channel.health()["sent"] == 3
    assert read_outbox(home, "nobody") == []


def test_fail_to_and_flaky_to(home):
    channel = mock(home, '[channels.mock]\nfail_to = ["carol"]\nflaky_to = ["dave"]\n')

    async def main() -> None:
        err = await send_error(channel, Outbound("carol", "x"))
        assert (err.permanent, err.reason, err.retry_after) == (True, "blocked", None)
        err = await send_error(channel, Outbound("dave", "x"))
        assert (err.permanent, err.reason, err.retry_after) == (False, "unavailable", None)
        await channel.send(Outbound("erin", "x"))

    run(main)
    assert [m["to"] for m in read_outbox(home)] == ["erin"]


def test_retry_after_and_max_chars_from_config(home):
    channel = mock(
        home, '[channels.mock]\nflaky_to = ["dave"]\nretry_after_s = 7\nmax_message_chars = 50\n'
    )
    assert channel.max_message_chars == 50

    async def main() -> None:
        err = await send_error(channel, Outbound("dave", "x"))
        assert (err.permanent, err.retry_after) == (False, 7.0)

    run(main)


def test_settings_follow_config_changes(home):
    channel = mock(home, '[channels.mock]\nflaky_to = ["dave"]\n')

    async def main() -> None:
        await send_error(channel, Outbound("dave", "x"))
        set_value(home.config_file, "channels.mock.flaky_to", "[]")
        set_value(home.config_file, "channels.mock.fail_to", "dave")
        assert (await send_error(channel, Outbound("dave", "x"))).reason == "blocked"
        home.config_file.write_text("[channels.mock\n")  # half-edited: keep what we had
        assert (await send_error(channel, Outbound("dave", "x"))).reason == "blocked"
        home.config_file.write_text("")
        await channel.send(Outbound("dave", "recovered"))

    run(main)
    assert [m["text"] for m in read_outbox(home)] == ["recovered"]


def test_config_without_a_file_is_a_snapshot(home):
    channel = MockChannel(home, Config(data={"channels": {"mock": {"fail_to": ["x"]}}}))

    async def main() -> None:
        assert (await send_error(channel, Outbound("x", "hi"))).permanent

    run(main)


def test_bad_account_is_permanent(home):
    channel = mock(home)

    async def main() -> None:
        err = await send_error(channel, Outbound("alice", "x", account="../evil"))
        assert (err.permanent, err.reason) == (True, "bad_account")

    run(main)
    assert not (home.root / "channels" / "evil.jsonl").exists()


def test_registry_names_and_unknown_channel(home):
    assert known_channels() == ["discord", "mock", "telegram", "terminal", "webhook"]
    with pytest.raises(
        UsageError, match="known channels: discord, mock, telegram, terminal, webhook"
    ):
        build_channel("telegrm", home, load(home.config_file))
