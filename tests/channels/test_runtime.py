"""The daemon's channel supervisor: receiving channels journal, fail, and come back."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
import trio

from claw.channels import registry
from claw.channels.base import Outbound, Receipt
from claw.channels.runtime import ChannelRuntime, receiving_channels
from claw.delivery.inbox import InboundMessage, Inbox
from claw.delivery.service import Channels
from claw.routing.inbound import Wakeup
from claw.state.config import load, set_value
from claw.state.home import Home


class Scripted:
    """A receiving channel whose `start` follows a script: "fail" raises before it is
    ready, "drop" starts, delivers one message, then raises; "ok" starts and stays."""

    instances: ClassVar[list[Scripted]] = []
    script: ClassVar[list[str]] = []

    name = "fake"
    max_message_chars = 100

    def __init__(self) -> None:
        self.closed = False
        Scripted.instances.append(self)

    async def start(self, inbound: Any, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        step = Scripted.script.pop(0) if Scripted.script else "ok"
        if step == "fail":
            raise ConnectionError("bad gateway")
        task_status.started()
        n = len(Scripted.instances)
        await inbound(
            InboundMessage(channel="fake", channel_message_id=f"m{n}", peer="p", text="hi")
        )
        if step == "drop":
            raise ConnectionResetError("dropped")
        await trio.sleep_forever()

    async def send(self, message: Outbound) -> Receipt:
        return Receipt()

    async def aclose(self) -> None:
        self.closed = True

    def health(self) -> dict[str, Any]:
        return {"channel": "fake"}


@pytest.fixture
def fake_channel(monkeypatch: pytest.MonkeyPatch) -> type[Scripted]:
    monkeypatch.setitem(registry.CHANNELS, "fake", lambda home, config: Scripted())
    monkeypatch.setattr(registry, "RECEIVERS", registry.RECEIVERS | {"fake"})
    Scripted.instances, Scripted.script = [], []
    return Scripted


def test_only_enabled_receivers_start(home: Home, fake_channel: type[Scripted]) -> None:
    assert receiving_channels(load(home.config_file)) == []
    set_value(home.config_file, "channels.telegram.enabled", "true")
    set_value(home.config_file, "channels.fake.enabled", "true")
    assert receiving_channels(load(home.config_file)) == ["fake", "telegram"]


def test_a_failing_channel_is_restarted_with_backoff_and_reported(
    home: Home, fake_channel: type[Scripted]
) -> None:
    set_value(home.config_file, "channels.fake.enabled", "true")
    config = load(home.config_file)
    fake_channel.script = ["fail", "drop", "ok"]
    errors: list[dict[str, Any]] = []
    wakeup = Wakeup()

    async def main() -> None:
        channels = Channels(home, config)
        runtime = ChannelRuntime(
            home,
            config,
            channels,
            wakeup,
            on_error=lambda name, ev: errors.append(ev),
            backoff_start_s=0.05,
        )
        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(runtime.run)
                while runtime.board["fake"].state != "connected" or len(errors) < 2:
                    await trio.sleep(0.01)
                while runtime.board["fake"].received < 2:
                    await trio.sleep(0.01)
                row = runtime.status()[0]
                assert row["name"] == "fake" and row["connected"] and row["receiving"]
                assert row["restarts"] == 2 and row["received"] == 2
                assert "ConnectionResetError: dropped" in row["last_error"]
                nursery.cancel_scope.cancel()
        await channels.aclose()

    trio.run(main)
    assert [e["error"] for e in errors] == [
        "ConnectionError: bad gateway",
        "ConnectionResetError: dropped",
    ]
    assert errors[1]["retry_in_s"] == pytest.approx(0.1)  # the backoff doubled
    # each restart got a fresh instance; the old ones were closed
    assert len(fake_channel.instances) == 3
    assert [i.closed for i in fake_channel.instances] == [True, True, True]
    assert [m.channel_message_id for m in Inbox(home).pending()] == ["m2", "m3"]


def test_a_channel_cannot_journal_for_another(home: Home) -> None:
    config = load(home.config_file)

    async def main() -> None:
        runtime = ChannelRuntime(home, config, Channels(home, config), Wakeup())
        msg = InboundMessage(channel="telegram", channel_message_id="1", peer="p", text="x")
        with pytest.raises(ValueError):
            await runtime.record("discord", msg)

    trio.run(main)


def test_channels_status_cli_without_a_daemon(home: Home, cli: Any) -> None:
    set_value(home.config_file, "channels.telegram.token", "123:abc")
    set_value(home.config_file, "channels.telegram.api_base", "http://127.0.0.1:9")
    result = cli("channels", "status", "--json", "--probe")
    import json

    data = json.loads(result.stdout)
    assert data["daemon"] is False
    rows = {r["name"]: r for r in data["channels"]}
    assert rows["telegram"]["state"] == "stopped" and rows["telegram"]["receiving"] is False
    assert rows["telegram"]["probe"]["ok"] is False  # nothing listens on port 9
    assert "123:abc" not in result.stdout
    assert result.exit_code == 1


def test_enabling_and_disabling_a_channel_applies_without_restart(
    home: Home, fake_channel: type[Scripted], monkeypatch: pytest.MonkeyPatch
) -> None:
    from claw.channels import runtime as runtime_mod

    monkeypatch.setattr(runtime_mod, "RECONCILE_S", 0.02)
    config = load(home.config_file)

    async def main() -> None:
        channels = Channels(home, config)
        runtime = ChannelRuntime(home, config, channels, Wakeup())
        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(runtime.run)
                await trio.sleep(0.1)
                assert fake_channel.instances == []  # not enabled
                config.data.setdefault("channels", {})["fake"] = {"enabled": True}  # a reload
                while runtime.board["fake"].state != "connected":
                    await trio.sleep(0.01)
                config.data["channels"]["fake"]["enabled"] = False
                while runtime.board["fake"].receiving:
                    await trio.sleep(0.01)
                assert fake_channel.instances[0].closed
                nursery.cancel_scope.cancel()
        await channels.aclose()

    trio.run(main)
