"""`claw notify`, `claw queue` and `claw send --deliver`, run as a user would, against the
file-backed mock channel (and, for the daemon path and events, a real `claw serve`)."""

from __future__ import annotations

import errno
import json
import os
import time
from pathlib import Path

import pytest
import trio
from trio_websocket import open_websocket_url

from claw.channels.mock import read_outbox
from claw.delivery.queue import QueueStore
from claw.gateway.security import load_token
from claw.state.config import set_value
from claw.state.home import Home
from tests.conftest import run_claw
from tests.test_daemon import Daemons, claw, rpc


def test_notify_then_flush_delivers_once(cli, home: Home) -> None:
    r = cli("notify", "--channel", "mock", "--to", "alice", "hello alice")
    assert r.exit_code == 0, r.output
    entry_id = r.stdout.strip()
    assert "no daemon is running" in r.stderr
    listed = json.loads(cli("queue", "list", "--json").stdout)
    assert [e["id"] for e in listed] == [entry_id] and listed[0]["preview"] == "hello alice"
    assert json.loads(cli("queue", "show", entry_id).stdout)["parts"] == ["hello alice"]
    stats = json.loads(cli("queue", "stats", "--json").stdout)
    assert stats["depth"] == 1 and stats["due"] == 1 and stats["failed"] == 0
    r = cli("queue", "flush", "--json")
    assert json.loads(r.stdout)["delivered"] == 1
    assert [m["text"] for m in read_outbox(home)] == ["hello alice"]
    assert json.loads(cli("queue", "flush", "--json").stdout)["delivered"] == 0
    assert cli("queue", "list").stderr.strip() == "the queue is empty"


def test_delivered_messages_are_kept_in_private_directories(cli, home: Home) -> None:
    # The mock channel's outbox holds message text: every directory on its way is 0700
    # (mkdir -p used to create the parent `channels/` with the umask's 0755).
    assert cli("notify", "--channel", "mock", "--to", "alice", "secret").exit_code == 0
    assert json.loads(cli("queue", "flush", "--json").stdout)["delivered"] == 1
    for path in (home.root / "channels", home.root / "channels" / "mock", home.root / "queue"):
        assert path.stat().st_mode & 0o777 == 0o700, path
    assert (home.root / "queue" / "journal.jsonl").stat().st_mode & 0o777 == 0o600


def test_notify_reads_stdin_and_refuses_bad_input(cli) -> None:
    r = cli("notify", "--channel", "mock", "--to", "bob", "-", input="from stdin\n")
    assert r.exit_code == 0
    assert cli("notify", "--channel", "nosuch", "--to", "bob", "x").exit_code == 2
    assert cli("notify", "--channel", "mock", "--to", "b o b", "x").exit_code == 2
    assert cli("notify", "--channel", "mock", "--to", "bob", "   ").exit_code == 2
    assert cli("queue", "show", "nope").exit_code == 2  # not an id at all
    assert cli("queue", "show", "1795249496141477806-11f70533").exit_code == 1  # no such entry


def test_notify_timeout_without_wait_is_refused_and_queues_nothing(cli, home: Home) -> None:
    # --timeout only bounds --wait; alone it was silently ignored.
    r = cli("notify", "--channel", "mock", "--to", "bob", "--timeout", "5", "x")
    assert r.exit_code == 2 and "give --wait too" in r.stderr
    assert json.loads(cli("queue", "list", "--json").stdout) == []


def test_notify_wait_without_daemon(cli, home: Home) -> None:
    r = cli("notify", "--channel", "mock", "--to", "carol", "--wait", "--json", "now")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["state"] == "delivered" and len(read_outbox(home)) == 1
    set_value(home.config_file, "channels.mock.fail_to", '["dave"]')
    r = cli("notify", "--channel", "mock", "--to", "dave", "--wait", "no")
    assert r.exit_code == 1 and "failed (permanent)" in r.stderr and "blocked" in r.stderr
    failed = json.loads(cli("queue", "list", "--failed", "--json").stdout)
    assert [e["failed_reason"] for e in failed] == ["permanent"]
    stats = json.loads(cli("queue", "stats", "--json").stdout)
    assert stats["failures_by_reason"] == {"permanent: blocked": 1}
    # Fixed: retry from failed, deliver.
    set_value(home.config_file, "channels.mock.fail_to", "[]")
    assert cli("queue", "retry", "--all").exit_code == 0
    assert json.loads(cli("queue", "flush", "--json").stdout)["delivered"] == 1
    assert [m["to"] for m in read_outbox(home)] == ["carol", "dave"]


def test_notify_wait_behind_a_backing_off_message_keeps_its_timeout(cli, home: Home) -> None:
    # An older message to the same peer is backing off, so FIFO holds the new one back:
    # `--wait` must still give up at its --timeout (it used to spin at 100% CPU forever).
    set_value(home.config_file, "channels.mock.flaky_to", '["erin"]')
    first = cli("notify", "--channel", "mock", "--to", "erin", "first").stdout.strip()
    assert json.loads(cli("queue", "flush", "--json").stdout)["retry"] == 1
    started = time.monotonic()
    args = ("notify", "-c", "mock", "--to", "erin", "--wait", "--timeout", "1", "x")
    r = run_claw(*args, timeout=30)
    assert r.returncode == 1 and "not delivered within 1s" in r.stderr, r.stderr
    assert time.monotonic() - started < 15
    listed = json.loads(cli("queue", "list", "--json").stdout)
    assert listed[0]["id"] == first and len(listed) == 2 and not read_outbox(home)
    # With --json a script still gets {id, state, error} when the wait times out.
    r = cli("notify", "-c", "mock", "--to", "erin", "--wait", "--timeout", "0.1", "--json", "y")
    out = json.loads(r.stdout)
    assert r.exit_code == 1 and out["state"] == "pending" and "within 0.1s" in out["error"]


def test_notify_splits_a_long_message_to_the_channel_limit(cli, home: Home) -> None:
    # Like every other sender, notify fits the channel's limit: one oversized part would
    # be refused by Telegram or Discord and fail for good.
    set_value(home.config_file, "channels.mock.max_message_chars", "100")
    text = "\n\n".join(f"paragraph {i} " + "word " * 15 for i in range(5))
    assert cli("notify", "--channel", "mock", "--to", "gina", text).exit_code == 0
    assert json.loads(cli("queue", "flush", "--json").stdout)["delivered"] == 1
    sent = read_outbox(home)
    assert len(sent) > 1 and all(len(m["text"]) <= 100 for m in sent)
    assert " ".join(m["text"] for m in sent).split() == text.split()


def test_purge_needs_yes_without_a_terminal(cli, home: Home) -> None:
    for peer in ("a", "b"):
        cli("notify", "--channel", "mock", "--to", peer, "x")
    r = cli("queue", "purge")
    assert r.exit_code == 2 and "--yes" in r.stderr
    assert cli("queue", "purge", "--older-than", "1h", "--yes").stderr.strip() == (
        "nothing to purge"
    )
    assert cli("queue", "purge", "--yes").exit_code == 0
    assert QueueStore(home).ids() == []


def test_send_deliver_queues_the_reply_in_parts(cli, home: Home) -> None:
    set_value(home.config_file, "channels.mock.max_message_chars", "40")
    text = "First paragraph, short enough.\n\nSecond paragraph, also short."
    r = cli("send", "--model", "echo", "--deliver", "mock:erin", text)
    assert r.exit_code == 0, r.output
    assert "queued for mock:erin" in r.stderr
    entry = QueueStore(home).entries()[0]
    assert entry.parts == ["First paragraph, short enough.", "Second paragraph, also short."]
    assert entry.session_key == "agent:main:main" and entry.agent == "main"
    assert cli("send", "--model", "echo", "--deliver", "mock", "x").exit_code == 2


def test_the_daemon_delivers_and_reports_failures(home: Home, daemons: Daemons) -> None:
    set_value(home.config_file, "channels.mock.fail_to", '["mallory"]')
    proc = daemons.start()
    port = daemons.wait_ready(proc)["port"]
    events: list[dict] = []

    async def subscriber(ready: trio.Event, got: trio.Event) -> None:
        url, auth = f"ws://127.0.0.1:{port}/ws", f"Bearer {load_token(home)}".encode()
        async with open_websocket_url(url, extra_headers=[(b"authorization", auth)]) as ws:
            req = {"jsonrpc": "2.0", "id": 1, "method": "events.subscribe"}
            await ws.send_message(json.dumps(req | {"params": {"topics": ["queue.failed"]}}))
            assert json.loads(await ws.get_message())["result"] == {"topics": ["queue.failed"]}
            ready.set()
            events.append(json.loads(await ws.get_message()))
            got.set()

    async def main() -> None:
        with trio.fail_after(20):
            ready, got = trio.Event(), trio.Event()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(subscriber, ready, got)
                await ready.wait()
                t = time.monotonic()
                ok = await trio.to_thread.run_sync(
                    lambda: claw(home, "notify", "-c", "mock", "--to", "frank", "--wait", "hi")
                )
                assert ok.returncode == 0, ok.stderr
                assert time.monotonic() - t < 5
                bad = await trio.to_thread.run_sync(
                    lambda: claw(home, "notify", "-c", "mock", "--to", "mallory", "--wait", "x")
                )
                assert bad.returncode == 1 and "blocked" in bad.stderr
                await got.wait()

    trio.run(main)
    assert [m["to"] for m in read_outbox(home)] == ["frank"]
    event = events[0]
    assert event["method"] == "event" and event["params"]["type"] == "queue.failed"
    assert event["params"]["to"] == "mallory" and "blocked" in event["params"]["error"]
    stats = rpc(home, port, "queue.stats", {})["result"]
    assert stats["failed"] == 1 and stats["worker"]["running"] is True
    failed = rpc(home, port, "queue.list", {"failed": True})["result"]["entries"]
    assert [e["to"] for e in failed] == ["mallory"]
    set_value(home.config_file, "channels.mock.fail_to", "[]")  # the mock re-reads it
    assert rpc(home, port, "queue.retry", {"all": True})["result"]["retried"] == [failed[0]["id"]]
    deadline = time.monotonic() + 5
    while len(read_outbox(home)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [m["to"] for m in read_outbox(home)] == ["frank", "mallory"]
    assert rpc(home, port, "queue.retry", {})["error"]["code"] == -32602
    # A flush beside the daemon sends nothing and says who delivers.
    r = claw(home, "queue", "flush")
    assert r.returncode == 1 and "another process is delivering" in r.stderr


def test_queue_json_outputs_are_stable(cli, tmp_path: Path) -> None:
    assert json.loads(cli("queue", "list", "--json").stdout) == []
    stats = json.loads(cli("queue", "stats", "--json").stdout)
    assert set(stats) == {"depth", "due", "sending", "failed", "oldest_age_s", "failures_by_reason"}


def test_the_daemon_answers_journaled_inbound_messages(home: Home, daemons: Daemons) -> None:
    """A channel adapter journals a message (here: by hand, as another process); the
    daemon routes it, checks access, runs the turn and delivers the reply; a stranger
    gets a pairing code instead."""
    from claw.delivery.inbox import InboundMessage, Inbox

    set_value(home.config_file, "model.default", "echo")
    set_value(home.config_file, "channels.mock.allow_from", '["alice"]')
    proc = daemons.start()
    daemons.wait_ready(proc)
    inbox = Inbox(home)
    inbox.record(InboundMessage(channel="mock", channel_message_id="m1", peer="alice", text="ping"))
    inbox.record(InboundMessage(channel="mock", channel_message_id="m2", peer="eve", text="hi"))
    deadline = time.monotonic() + 20
    while len(read_outbox(home)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    sent = {m["to"]: m["text"] for m in read_outbox(home)}
    assert sent["alice"] == "ping"  # the echo model's answer
    assert "claw pairing approve" in sent["eve"]
    assert inbox.pending() == []


def test_a_full_disk_is_a_clear_error_not_an_internal_one(
    cli, home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    # (A read-only directory cannot be tried here when the tests run as root.)
    real_write = os.write

    def full(fd: int, data: bytes) -> int:
        if fd > 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", full)
    r = cli("notify", "--channel", "mock", "--to", "alice", "hello")
    monkeypatch.setattr(os, "write", real_write)
    assert r.exit_code == 1 and "internal error" not in r.stderr, r.stderr
    assert "No space left on device" in r.stderr and r.stdout == ""
    assert json.loads(cli("queue", "list", "--json").stdout) == []
