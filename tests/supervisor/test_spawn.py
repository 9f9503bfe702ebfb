"""The spawn tool: a background subagent that reports back into its parent session (in
process, through `claw send` without a daemon, in the daemon, and after a crash), and
`claw sessions list` showing subagent sessions under their parent."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from claw.state.home import Home
from claw.supervisor import registry
from claw.supervisor.spawn import SPAWNER, channel_target, recover
from tests import scripted
from tests.gateway.live import call, recv, run, running, ws_client
from tests.supervisor._helpers import Roles, configure, messages_of, replies, supervised

TASK = "find three facts about otters"


def spawner(messages: list[dict[str, Any]]) -> Any:
    """The parent: spawn once, then say it started."""
    if messages[-1]["role"] == "tool":
        return "I started a subagent on it."
    return {"text": "", "tool_calls": [{"name": "spawn", "arguments": {"task": TASK}}]}


@pytest.fixture
def config(home: Home):
    return configure(home, model__default="scripted/test")


@pytest.mark.timeout(30)
def test_spawn_runs_in_the_background_and_reports_back(home: Home, config) -> None:
    roles = Roles(single=spawner, sub={TASK: "Otters hold hands."}, report="Otters hold hands!")
    script = scripted.install(replies(roles))
    _, end = supervised(home, config, "look into otters for me", mode="single")
    assert end is not None and end.result.text == "I started a subagent on it."
    assert SPAWNER.wait(20) == []
    assert registry.open_records(home) == []  # nothing left to do
    [rec] = [registry.load(home, p.stem) for p in (home.root / "subagents").glob("sa_*.json")]
    assert rec is not None
    assert (rec.origin, rec.parent, rec.status, rec.reported) == (
        "spawn",
        "agent:main:main",
        "ok",
        True,
    )
    assert rec.text == "Otters hold hands."
    msgs = messages_of(home)
    report_in, report_out = msgs[-2], msgs[-1]  # the parent session was woken
    assert report_in["role"] == "user" and report_in["content"].startswith(
        f"[subagent {rec.id} ok]"
    )
    assert "Otters hold hands." in report_in["content"]
    assert report_out["content"] == "Otters hold hands!" and report_out["subagent_report"] == rec.id
    assert report_out["id"] == rec.report_message_id
    # the subagent had no spawn tool; the report turn could not spawn again either
    for messages, params in zip(script.calls, script.params, strict=True):
        names = {t["function"]["name"] for t in params.get("tools", [])}
        if "You are a subagent" in messages[0]["content"] or messages[-1]["content"].startswith(
            "[subagent"
        ):
            assert "spawn" not in names


def test_a_subagent_cannot_spawn(home: Home) -> None:
    from claw.agent.tools.base import ToolContext
    from claw.state.config import load
    from claw.supervisor.spawn import SpawnTool

    ctx = ToolContext(
        "main", home.root, "agent:main:subagent:sa_0123456789abcdef", home_root=home.root
    )
    result = SpawnTool(load(home.config_file)).call({"task": "more"}, ctx)
    assert result.is_error and "cannot spawn" in result.content


@pytest.mark.timeout(60)
def test_claw_send_without_a_daemon_waits_and_prints_the_report(cli, home: Home, config) -> None:
    scripted.install(replies(Roles(single=spawner, report="Back: otters hold hands.")))
    r = cli("send", "--local", "--mode", "single", "--model", "scripted/test", "otters please")
    assert r.exit_code == 0, r.output
    assert r.stdout == "I started a subagent on it.\nBack: otters hold hands.\n"
    assert "waiting for 1 background subagent" in r.stderr and "reported back (ok)" in r.stderr
    listed = cli("sessions", "list")
    lines = listed.stdout.splitlines()
    parent = next(i for i, ln in enumerate(lines) if ln.startswith("agent:main:main "))
    assert "agent:main:subagent:sa_" in lines[parent + 1] and lines[parent + 1].startswith("  └ ")
    data = json.loads(cli("sessions", "list", "--json").stdout)
    child = next(d for d in data if ":subagent:" in d["key"])
    assert child["parent"] == "agent:main:main"


@pytest.mark.timeout(30)
def test_in_the_daemon_the_report_reaches_subscribed_clients(home: Home, config) -> None:
    scripted.install(replies(Roles(single=spawner, report="Otter news.")))

    async def main() -> None:
        async with running(home) as srv, ws_client(srv) as ws, ws_client(srv) as watcher:
            sub = await call(watcher, "events.subscribe", {"topics": ["subagent.report"]})
            assert sub["result"]["topics"] == ["subagent.report"]
            res = await call(ws, "chat.send", {"text": "otters?", "mode": "single"})
            assert res["result"]["text"] == "I started a subagent on it."
            event = await recv(watcher)
            params = event["params"]
            assert params["type"] == "subagent.report" and params["text"] == "Otter news."
            assert params["session_key"] == "agent:main:main" and params["status"] == "ok"
            listed = (await call(ws, "sessions.list", {}))["result"]["sessions"]
            child = next(
                s for s in listed if s["key"] == f"agent:main:subagent:{params['subagent_id']}"
            )
            assert child["parent"] == "agent:main:main"

    run(main)


@pytest.mark.timeout(30)
def test_recover_finishes_a_spawned_subagent_whose_process_died(home: Home, config) -> None:
    scripted.install(replies(Roles(report="Recovered result.")))
    rec = registry.create(home, "main", "agent:main:main", TASK, "spawn", 10)
    registry.mark(home, rec, "running")
    rec.pid = 2**22 + 12345  # no such process
    registry.save(home, rec)
    lost = registry.create(home, "main", "agent:main:main", "part of a dead turn", "multi", 10)
    registry.mark(home, lost, "running")
    lost.pid = rec.pid
    registry.save(home, lost)
    assert {r.id for r in registry.open_records(home)} == {rec.id, lost.id}
    assert recover(home, config) == 1
    assert SPAWNER.wait(20) == []
    done = registry.load(home, rec.id)
    assert done is not None and done.status == "ok" and done.reported and done.pid == os.getpid()
    assert messages_of(home)[-1]["content"] == "Recovered result."
    closed = registry.load(home, lost.id)
    assert closed is not None and closed.status == "interrupted"
    assert recover(home, config) == 0  # nothing left to do: never reported twice
    assert not any((home.root / "subagents" / "open").iterdir())


@pytest.mark.timeout(30)
def test_a_report_for_a_channel_session_is_queued_for_that_peer(home: Home, config) -> None:
    from claw.delivery.queue import QueueStore

    scripted.install(replies(Roles(single=spawner, report="Otters, as promised.")))
    key = "agent:main:mock:direct:alice"
    supervised(home, config, "otters?", mode="single", session_key=key, channel="mock")
    assert SPAWNER.wait(20) == []
    [entry] = QueueStore(home).entries()
    assert (entry.channel, entry.to, entry.session_key) == ("mock", "alice", key)


def test_reports_go_to_the_channel_a_session_key_names() -> None:
    assert channel_target("agent:main:telegram:direct:42") == "telegram:42"
    assert channel_target("agent:main:discord:acct:direct:7") == "discord:7"
    assert channel_target("agent:main:mock:group:g1") == "mock:g1"
    assert channel_target("agent:main:main") is None
    assert channel_target("agent:main:direct:42") is None  # per-peer: which channel?
