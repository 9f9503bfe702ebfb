"""The CLI as a gateway client: fast `claw send` through a real daemon, and `claw rpc`.

The daemon is a real subprocess (`trio.run(serve)` on 127.0.0.1 port 0) that writes
gateway.json itself, exactly what `claw send` discovers in production.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from claw.state.home import Home
from tests.gateway.live import transcript_messages

JSON_KEYS = {"session_key", "message_id", "text", "model", "usage", "duration_ms", "mode"}
MAIN = "agent:main:main"

SERVER = r"""
import functools, json, os, sys
from pathlib import Path
import trio
from claw.gateway.app import Limits
from claw.gateway.serve import serve
from claw.state.config import load
from claw.state.home import Home

from claw.state.locks import file_lock

home = Home(Path(sys.argv[1]))
home.locks_dir.mkdir(parents=True, exist_ok=True)
lock = file_lock(home.locks_dir / "daemon.lock", timeout=0)  # what marks a live daemon
lock.acquire()

async def main():
    async with trio.open_nursery() as nursery:
        start = functools.partial(serve, home, load(home.config_file), host="127.0.0.1",
                                  port=0, limits=Limits(max_connections=20000, rate_per_s=1e6,
                                                        burst=1_000_000))
        port = await nursery.start(start)
        info = {"pid": os.getpid(), "host": "127.0.0.1", "port": port,
                "started_at": "now", "version": "test"}
        tmp = home.root / "gateway.json.tmp"
        tmp.write_text(json.dumps(info))
        os.replace(tmp, home.root / "gateway.json")

trio.run(main)
"""

PROBE = r"""
import sys
sys.argv = ["claw", *sys.argv[1:]]
from claw.cli import app
code = 0
try:
    app(prog_name="claw")
except SystemExit as e:
    code = e.code or 0
print("MODULES", "litellm" in sys.modules, "claw.agent.turn" in sys.modules, file=sys.stderr)
sys.exit(code)
"""

# The console script's entry (`claw.__main__.run`), with an atexit marker: it is printed
# only if the process went through Python's normal teardown, with the collector's state.
ENTRY = r"""
import atexit, gc, sys
atexit.register(lambda: print(f"TEARDOWN gc={gc.isenabled()}", file=sys.stderr))
sys.argv = ["claw", *sys.argv[1:]]
from claw.__main__ import run
run()
"""


@pytest.fixture
def daemon(home: Home) -> Iterator[Home]:
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(home.root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    info = home.root / "gateway.json"
    deadline = time.monotonic() + 30
    while not info.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"daemon did not start: {proc.communicate()[1]}")
        time.sleep(0.05)
    try:
        yield home
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        info.unlink(missing_ok=True)


def probe(*args: str) -> tuple[subprocess.CompletedProcess[str], bool, bool]:
    """Run the CLI in a fresh interpreter; also report (litellm imported, agent.turn imported)."""
    r = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),
    )
    line = next(x for x in r.stderr.splitlines() if x.startswith("MODULES"))
    _, lite, turn = line.split()
    return r, lite == "True", turn == "True"


def test_client_module_is_light() -> None:
    code = (
        "import sys, claw.gateway.client, claw.commands.send, claw.commands.rpc;"
        "bad = [m for m in sys.modules if m.startswith(('litellm', 'claw.agent.turn',"
        " 'claw.agent.models', 'claw.agent.tools'))]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_send_goes_through_the_daemon(daemon: Home) -> None:
    r, lite, turn = probe("send", "--model", "echo", "--json", "hi")
    assert r.returncode == 0, r.stderr
    assert not lite and not turn  # the in-process path would have imported both
    data = json.loads(r.stdout)
    assert set(data) == JSON_KEYS
    assert data["text"] == "hi" and data["model"] == "echo" and data["session_key"] == MAIN
    assert isinstance(data["usage"], dict) and isinstance(data["duration_ms"], int)
    ids = [m.get("id") for m in transcript_messages(daemon, MAIN)]
    assert data["message_id"] in ids


def test_send_piped_prints_whole_reply(daemon: Home) -> None:
    r, lite, _ = probe("send", "--model", "echo", "hello there")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "hello there\n" and not lite


def test_send_json_shape_matches_in_process(daemon: Home, cli) -> None:
    via, _, _ = probe("send", "--model", "echo", "--json", "same")
    local = cli("send", "--local", "--model", "echo", "--json", "same")
    assert via.returncode == 0 and local.exit_code == 0, local.output
    a, b = json.loads(via.stdout), json.loads(local.stdout)
    assert list(a) == list(b)  # same keys, same order
    assert {k: type(v) for k, v in a.items()} == {k: type(v) for k, v in b.items()}
    assert a["text"] == b["text"] and a["session_key"] == b["session_key"]
    assert list(a["usage"]) == list(b["usage"])  # the daemon gives the whole breakdown


def test_local_runs_in_process_even_with_a_daemon(daemon: Home) -> None:
    r, lite, turn = probe("send", "--local", "--model", "echo", "x")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "x\n" and lite and turn


def test_daemon_flag_without_daemon_fails(cli, home: Home) -> None:
    r = cli("send", "--daemon", "--model", "echo", "hi")
    assert r.exit_code == 1
    assert f"no claw daemon is running for {home.root} (start one with `claw serve`)" in r.stderr


def test_stale_gateway_json_falls_back_in_process(cli, home: Home) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        text=True,
        capture_output=True,
        check=True,
    ).stdout.strip()
    (home.root / "gateway.json").write_text(json.dumps({"pid": int(dead), "port": 1}))
    r = cli("send", "--model", "echo", "fallback")
    assert r.exit_code == 0, r.output
    assert r.stdout == "fallback\n"


def test_thinking_and_timeout_go_through_the_daemon(cli, daemon: Home) -> None:
    args = ("send", "--daemon", "--thinking", "low", "--timeout", "5", "--model", "echo")
    r, lite, turn = probe(*args, "--json", "hi")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["text"] == "hi" and not lite and not turn
    r = cli("send", "--daemon", "--thinking", "lots", "hi")
    assert r.exit_code == 2 and "--thinking" in r.stderr
    r = cli("send", "--daemon", "--local", "hi")
    assert r.exit_code == 2


def test_the_daemon_checks_thinking_and_timeout(cli, daemon: Home) -> None:
    for params, param in (
        ({"thinking": "lots"}, "thinking"),
        ({"timeout_s": 0}, "timeout_s"),
        ({"timeout_s": "soon"}, "timeout_s"),
    ):
        r = cli("rpc", "chat.send", "--params", json.dumps({"text": "x", **params}))
        assert r.exit_code == 2, r.output
        assert param in r.stderr


def test_rpc_health_and_chat_send(cli, daemon: Home) -> None:
    r = cli("rpc", "health")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["ok"] is True
    r = cli("rpc", "chat.send", "--params", '{"text":"x","model":"echo"}')
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert result["text"] == "x" and result["session_key"] == MAIN


def test_rpc_stream_prints_events_then_result(cli, daemon: Home) -> None:
    params = '{"text":"one two","model":"echo","session_key":"agent:main:s"}'
    r = cli("rpc", "chat.send_stream", "--params", params, "--stream")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    events = []
    while lines and lines[0].startswith("{") and lines[0].endswith("}"):
        events.append(json.loads(lines.pop(0)))
    kinds = [e["type"] for e in events]
    assert kinds[0] == "chat.start" and kinds[-1] == "chat.end" and "chat.delta" in kinds
    assert "".join(e["text"] for e in events if e["type"] == "chat.delta") == "one two"
    assert json.loads("\n".join(lines))["text"] == "one two"


def test_rpc_errors(cli, daemon: Home) -> None:
    r = cli("rpc", "no.such")
    assert r.exit_code == 1 and "error -32601" in r.stderr
    r = cli("rpc", "chat.send", "--params", '{"txt":"x"}')
    assert r.exit_code == 2 and "error -32602" in r.stderr and "txt" in r.stderr
    r = cli("rpc", "health", "--params", "[1,")
    assert r.exit_code == 2


def test_rpc_without_daemon(cli, home: Home) -> None:
    r = cli("rpc", "health")
    assert r.exit_code == 1 and "no claw daemon is running" in r.stderr


def test_call_sync_maps_errors(daemon: Home) -> None:
    from claw.gateway.client import GatewayError, call_sync, find_daemon

    found = find_daemon(daemon)
    assert found is not None
    url, _ = found
    with pytest.raises(GatewayError) as exc:
        call_sync(url, "wrong-token", "status")
    assert exc.value.code == -32001 and exc.value.exit_code == 1
    with pytest.raises(GatewayError) as exc:
        call_sync(url, found[1], "chat.history", {"session_key": "agent:main:nope", "limit": 0})
    assert exc.value.code == -32602 and exc.value.exit_code == 2


def test_find_daemon_tolerates_garbage(home: Home) -> None:
    from claw.gateway.client import find_daemon

    assert find_daemon(home) is None
    (home.root / "gateway.json").write_text("{not json")
    assert find_daemon(home) is None
    Path(home.root / "gateway.json").write_text(json.dumps({"pid": "x"}))
    assert find_daemon(home) is None


def entry(*args: str, input: str | None = None) -> tuple[subprocess.CompletedProcess[str], bool]:
    """Run `claw.cli.main` as the console script does; also report whether teardown ran."""
    r = subprocess.run(
        [sys.executable, "-c", ENTRY, *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return r, "TEARDOWN" in r.stderr


def test_client_commands_skip_teardown_with_all_output(daemon: Home) -> None:
    big = "x" * 300_000  # far more than a pipe holds: all of it must be flushed before exit
    r, teardown = entry("send", "--model", "echo", "--json", "-", input=big)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["text"] == big and not teardown
    r, teardown = entry("rpc", "health")
    assert r.returncode == 0 and json.loads(r.stdout)["ok"] is True and not teardown


def test_other_exits_keep_normal_teardown(daemon: Home) -> None:
    r, teardown = entry("send", "--local", "--model", "echo", "x")  # ran the turn in-process
    assert r.returncode == 0 and r.stdout == "x\n" and teardown
    r, teardown = entry("rpc", "no.such")
    assert r.returncode == 1 and "error -32601" in r.stderr and teardown


def test_only_light_clients_run_without_the_garbage_collector(daemon: Home) -> None:
    # The entry point pauses it while the CLI starts; a command doing real work in this
    # process gets it back before it runs.
    r, _ = entry("send", "--local", "--model", "echo", "x")
    assert "TEARDOWN gc=True" in r.stderr
    r, _ = entry("sessions", "list")
    assert r.returncode == 0 and "TEARDOWN gc=True" in r.stderr
    r, _ = entry("rpc", "no.such")  # a light client (its error exit goes through teardown)
    assert r.returncode == 1 and "TEARDOWN gc=False" in r.stderr


def test_a_daemon_error_message_is_said_once(cli, daemon: Home) -> None:
    # A UsageError from the turn comes back as -32602 whose data.reason is its message:
    # shown once, as in-process (`claw send --local ""`) shows it.
    r = cli("send", "--daemon", "--model", "echo", "")
    assert r.exit_code == 2, r.output
    assert r.stderr.splitlines()[0] == "error: nothing to send: the message is empty"
    r = cli("rpc", "chat.send", "--params", '{"text": ""}')
    assert r.exit_code == 2, r.output
    assert r.stderr.startswith("error -32602: nothing to send: the message is empty {")


def test_a_message_over_the_daemons_limit_says_the_limit_and_the_way_round(
    cli, daemon: Home
) -> None:
    # The daemon closes the socket (1009) on a request over 1 MiB; "Payload too large"
    # alone left the user guessing what to do.
    r = cli("send", "--daemon", "--model", "echo", "w " * 600_000)
    assert r.exit_code == 1, r.output
    assert "at most 1 MiB a request (claw send --local has none)" in r.stderr.splitlines()[0]


def test_rpc_stream_into_a_closed_pipe_exits_141_quietly(daemon: Home) -> None:
    # `claw rpc … --stream | head -1`: the README's rule for a reader that goes away,
    # not an error blaming the daemon.
    params = json.dumps({"text": " ".join(f"w{i}" for i in range(5_000)), "model": "echo"})
    argv = [sys.executable, "-m", "claw", "rpc", "chat.send_stream", "-p", params, "--stream"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    assert json.loads(proc.stdout.readline())["type"] == "chat.start"
    proc.stdout.close()  # 5,000 deltas are more than a pipe holds: the next writes fail
    try:
        assert proc.wait(timeout=60) == 141
    finally:
        proc.kill()
    assert proc.stderr.read() == ""
