"""`claw serve` / `status` / `stop` as real processes: lock, gateway.json, signals, crashes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from claw.daemon import daemon_status, info_file, log_file, read_gateway_info, stop_daemon
from claw.gateway.client import GatewayUnavailable, call_sync
from claw.gateway.security import load_token
from claw.state import jsonl
from claw.state.config import set_value
from claw.state.home import Home
from claw.state.sessions import SessionStore

KEY = "agent:main:daemon-test"


def claw_cmd() -> list[str]:
    """argv prefix running the real CLI as a separate process."""
    return [sys.executable, "-m", "claw"]


def claw(home: Home, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    argv = [*claw_cmd(), "--home", str(home.root), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


class Daemons:
    """Starts `claw serve` processes and kills whatever is left at the end of the test."""

    def __init__(self, home: Home, tmp: Path) -> None:
        self.home, self.tmp = home, tmp
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        argv = [*claw_cmd(), "--home", str(self.home.root), "serve", "--port", "0", *args]
        with (self.tmp / f"serve-{len(self.procs)}.err").open("wb") as err:
            proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err)
        self.procs.append(proc)
        return proc

    def stderr(self, proc: subprocess.Popen[bytes]) -> str:
        return (self.tmp / f"serve-{self.procs.index(proc)}.err").read_text()

    def wait_ready(self, proc: subprocess.Popen[bytes], timeout: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = read_gateway_info(self.home)
            if info and info["pid"] == proc.pid:
                return info
            if proc.poll() is not None:
                pytest.fail(f"serve exited {proc.returncode}: {self.stderr(proc)}")
            time.sleep(0.05)
        pytest.fail("serve did not write gateway.json in time")

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def daemons(home: Home, daemons: Daemons) -> Daemons:
    """The shared fixture (tests/conftest.py), with echo as the default model."""
    set_value(home.config_file, "model.default", "echo")
    return daemons


def rpc(home: Home, port: int, method: str, params: dict[str, Any]) -> dict:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    auth = {"Authorization": f"Bearer {load_token(home)}"}
    url = f"http://127.0.0.1:{port}/rpc"
    return httpx.post(url, json=body, headers=auth, timeout=20).json()


def wait_for(predicate: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    pytest.fail("condition not met in time")


def test_serve_status_stop_lifecycle(home: Home, daemons: Daemons) -> None:
    proc = daemons.start()
    info = daemons.wait_ready(proc)
    assert info["port"] > 0 and info["host"] == "127.0.0.1" and info["version"]
    for private in (info_file(home), log_file(home)):
        assert stat.S_IMODE(private.stat().st_mode) == 0o600
    health = httpx.get(f"http://127.0.0.1:{info['port']}/health", timeout=5)
    assert health.status_code == 200 and health.json()["ok"] is True
    wait_for(lambda: "claw gateway listening on http://127.0.0.1:" in daemons.stderr(proc))
    assert f"(ws://127.0.0.1:{info['port']}/ws)" in daemons.stderr(proc)

    second = claw(home, "serve", "--port", "0")
    assert second.returncode == 1
    assert "already running" in second.stderr and f"pid {proc.pid}" in second.stderr
    assert read_gateway_info(home)["pid"] == proc.pid  # the refused one left it alone

    st = claw(home, "status", "--json")
    data = json.loads(st.stdout)
    assert st.returncode == 0, st.stderr
    assert data["running"] is True and data["pid"] == proc.pid
    assert data["address"] == f"http://127.0.0.1:{info['port']}"
    assert data["connections"] == 0 and data["active_turns"] == {} and data["uptime_s"] >= 0
    text = claw(home, "status")
    assert text.returncode == 0 and f"pid {proc.pid}" in text.stdout

    stopped = claw(home, "stop")
    assert stopped.returncode == 0 and "stopped" in stopped.stderr, stopped.stderr
    assert proc.wait(timeout=10) == 0 and not info_file(home).exists()
    assert "SIGTERM received" in log_file(home).read_text()

    after, again = claw(home, "status"), claw(home, "stop")
    assert after.returncode == 1 and "not running" in after.stdout
    assert again.returncode == 1 and "not running" in again.stderr


def test_sighup_reloads_and_sigint_drains(home: Home, daemons: Daemons) -> None:
    proc = daemons.start()
    port = daemons.wait_ready(proc)["port"]
    assert "result" in rpc(home, port, "chat.send", {"text": "one", "session_key": KEY})

    # A broken config.toml is logged and the running configuration kept.
    good = home.config_file.read_text()
    home.config_file.write_text("model = [broken\n")
    proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "config reload failed" in log_file(home).read_text())
    assert "result" in rpc(home, port, "chat.send", {"text": "two", "session_key": KEY})

    home.config_file.write_text(good)
    set_value(home.config_file, "model.default", "nosuchprovider")
    set_value(home.config_file, "gateway.port", "18790")
    proc.send_signal(signal.SIGHUP)
    # Wait for the reload that saw both writes: the daemon also reloads on its own when
    # config.toml changes, and that one may come between the two writes above.
    moved = "gateway.port changed: restart `claw serve` to apply it"
    wait_for(lambda: moved in log_file(home).read_text())
    wait_for(lambda: "reloaded" in log_file(home).read_text().split(moved, 1)[1])
    failed = rpc(home, port, "chat.send", {"text": "three", "session_key": KEY})
    assert failed.get("error", {}).get("code") in (-32005, -32602), failed

    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=20) == 0 and not info_file(home).exists()
    assert "SIGINT received" in log_file(home).read_text()


def test_sigkill_mid_turn_then_restart(home: Home, daemons: Daemons) -> None:
    proc = daemons.start()
    port = daemons.wait_ready(proc)["port"]
    for i in range(2):
        res = rpc(home, port, "chat.send", {"text": f"turn {i} " + "x" * 2_000, "session_key": KEY})
        assert "result" in res, res

    def doomed() -> None:
        # A watched echo turn streams one chunk per word: 50,000 words keep it running a
        # while (chat.send, which nobody watches, would answer in one piece at once).
        params = {"text": " ".join(f"w{i}" for i in range(50_000)), "session_key": KEY}
        url = f"ws://127.0.0.1:{port}/ws"
        with contextlib.suppress(GatewayUnavailable):  # the daemon dies under us, as intended
            call_sync(url, load_token(home), "chat.send_stream", params, on_event=lambda e: None)

    sender = threading.Thread(target=doomed)
    sender.start()
    wait_for(lambda: KEY in daemon_status(home).get("running_sessions", []))
    proc.kill()  # mid-turn
    proc.wait(timeout=10)
    sender.join(timeout=10)

    assert info_file(home).exists()  # SIGKILL leaves it behind…
    assert read_gateway_info(home) is None  # …but it is recognised as stale
    st = daemon_status(home)
    assert st["running"] is False and st["stale"] is True
    cli_status = claw(home, "status", "--json")
    assert cli_status.returncode == 1 and json.loads(cli_status.stdout)["stale"] is True

    # The kernel released the lock: the next serve starts and overwrites gateway.json.
    proc2 = daemons.start()
    port2 = daemons.wait_ready(proc2)["port"]
    history = rpc(home, port2, "chat.history", {"session_key": KEY, "limit": 50})
    texts = [m.get("content") for m in history["result"]["messages"]]
    user_texts = [t for t in texts if isinstance(t, str) and t.startswith("turn ")]
    assert len(user_texts) >= 2, texts
    res = rpc(home, port2, "chat.send", {"text": "after restart", "session_key": KEY})
    assert "result" in res, res
    assert jsonl.read_all(SessionStore(home).path(KEY)).bad_lines == []

    os.kill(proc2.pid, signal.SIGTERM)
    assert proc2.wait(timeout=20) == 0
    assert not info_file(home).exists()


def long_turn(home: Home, port: int) -> tuple[threading.Thread, list[dict], str]:
    """chat.send of 3,000 words in a thread (its reply lands in the list), running by now."""
    text = " ".join(f"word{i}" for i in range(3_000))  # echo detects (and fails) repetition
    replies: list[dict] = []
    sender = threading.Thread(
        target=lambda: replies.append(
            rpc(home, port, "chat.send", {"text": text, "session_key": KEY})
        )
    )
    sender.start()
    wait_for(lambda: KEY in daemon_status(home).get("running_sessions", []))
    return sender, replies, text


def test_sigterm_lets_a_running_turn_finish(home: Home, daemons: Daemons) -> None:
    proc = daemons.start()
    port = daemons.wait_ready(proc)["port"]
    sender, replies, text = long_turn(home, port)
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.2)  # draining now: new turns are refused, the running one goes on
    refused = rpc(home, port, "chat.send", {"text": "late", "session_key": "agent:main:other"})
    assert refused.get("error", {}).get("code") == -32007, refused
    sender.join(timeout=30)
    assert replies and replies[0].get("result", {}).get("text") == text, replies
    assert proc.wait(timeout=20) == 0
    assert not info_file(home).exists()
    assert jsonl.read_all(SessionStore(home).path(KEY)).bad_lines == []


def test_more_signals_while_draining_do_not_kill_the_daemon(home: Home, daemons: Daemons) -> None:
    # Ctrl-C twice, `timeout`, systemd's KillMode=control-group: a stopping daemon often
    # gets its signal more than once. A SIGHUP while draining changes nothing; a second
    # SIGTERM/SIGINT aborts the running turns now instead of after the grace period (what
    # that does to a turn: tests/gateway/test_server.py::test_graceful_shutdown_mid_stream).
    # Either way the daemon exits 0, cleans up and leaves whole transcripts.
    proc = daemons.start()
    sender, replies, text = long_turn(home, daemons.wait_ready(proc)["port"])
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        proc.send_signal(signum)
        time.sleep(0.05)
    deadline = time.monotonic() + 20
    while "claw daemon stopped" not in log_file(home).read_text():  # on to its last steps
        assert proc.poll() is None and time.monotonic() < deadline, daemons.stderr(proc)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.01)
    assert proc.wait(timeout=10) == 0, daemons.stderr(proc)
    sender.join(timeout=30)
    reply = replies[0] if replies else {}
    # echo's reply is made in one piece: it may be out before the abort
    assert reply.get("result", {}).get("text") == text or reply["error"]["code"] == -32007
    assert not info_file(home).exists()
    log = log_file(home).read_text()
    assert "SIGHUP received while draining: ignored" in log
    assert "SIGINT received again: aborting running turns now" in log
    assert jsonl.read_all(SessionStore(home).path(KEY)).bad_lines == []


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback here")
def test_an_ipv6_address_is_shown_as_a_url(home: Home, daemons: Daemons) -> None:
    # `http://::1:PORT` is no URL: a script reading `status --json` could not use it.
    proc = daemons.start("--host", "::1")
    port = daemons.wait_ready(proc)["port"]
    data = json.loads(claw(home, "status", "--json").stdout)
    assert data["address"] == f"http://[::1]:{port}" and data["connections"] == 0, data
    assert f"address: http://[::1]:{port} (ws ws://[::1]:{port}/ws)" in claw(home, "status").stdout
    ready = f"listening on http://[::1]:{port} (ws://[::1]:{port}/ws)"
    wait_for(lambda: ready in daemons.stderr(proc))


def test_send_to_a_busy_session_says_why(home: Home, daemons: Daemons) -> None:
    proc = daemons.start()
    port = daemons.wait_ready(proc)["port"]
    url, token = f"ws://127.0.0.1:{port}/ws", load_token(home)
    params = {"text": " ".join(f"w{i}" for i in range(20_000)), "session_key": KEY}
    streaming = threading.Thread(  # a watched echo turn streams word by word: it lasts
        target=lambda: call_sync(url, token, "chat.send_stream", params, on_event=lambda e: None)
    )
    streaming.start()
    try:
        wait_for(lambda: KEY in daemon_status(home).get("running_sessions", []))
        r = claw(home, "send", "--session", KEY, "hi")
        assert r.returncode == 1, r.stderr
        assert "error: Busy: a turn is running on this session" in r.stderr
    finally:
        rpc(home, port, "chat.abort", {"session_key": KEY})
        streaming.join(timeout=30)


def test_send_whose_turn_is_aborted_is_no_success(
    home: Home, daemons: Daemons, tmp_path: Path
) -> None:
    # chat.abort from another shell stops the turn: `claw send` must not exit 0 with a
    # truncated reply a script would take for the whole answer.
    proc = daemons.start()
    port = daemons.wait_ready(proc)["port"]
    argv = [*claw_cmd(), "--home", str(home.root), "send", "--verbose", "-s", KEY, "-"]
    words = " ".join(f"w{i}" for i in range(20_000))  # --verbose: streamed, word by word
    (tmp_path / "words.txt").write_text(words)
    with (tmp_path / "words.txt").open() as stdin:
        sender = subprocess.Popen(
            argv, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
    try:
        wait_for(lambda: KEY in daemon_status(home).get("running_sessions", []))
        assert rpc(home, port, "chat.abort", {"session_key": KEY})["result"]["aborted"]
        out, err = sender.communicate(timeout=30)
    finally:
        sender.kill()
    assert sender.returncode == 1 and "the turn was aborted before it finished" in err, err
    assert out == ""


def test_busy_port_is_a_clear_error(home: Home, daemons: Daemons) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = claw(home, "serve", "--port", str(port))
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert not info_file(home).exists()


def test_a_port_beyond_65535_is_refused_as_invalid_config(
    home: Home, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Accepted, it made `claw serve` fail with "internal error: OverflowError".
    r = cli("config", "set", "gateway.port", "70000")
    assert r.exit_code == 2 and "gateway.port: must be at most 65535" in r.stderr, r.output
    monkeypatch.setenv("CLAW_GATEWAY__PORT", "70000")
    r = cli("serve")
    assert r.exit_code == 2 and "CLAW_GATEWAY__PORT" in r.stderr, r.output
    assert "internal error" not in r.stderr and not info_file(home).exists()


def test_no_daemon_and_a_live_pid_without_the_lock(home: Home) -> None:
    assert daemon_status(home) == {"running": False, "home": str(home.root)}
    assert read_gateway_info(home) is None and stop_daemon(home, timeout=1) is False
    # After a SIGKILL the pid may be reused by an unrelated process (here: this test). It
    # must not be reported as the daemon, and `stop` must not send it SIGTERM.
    info_file(home).write_text(json.dumps({"pid": os.getpid(), "host": "127.0.0.1", "port": 9}))
    assert read_gateway_info(home) is None
    st = daemon_status(home)
    assert st["running"] is False and st["stale"] is True
    said = claw(home, "status").stdout  # not "pid … is gone": `ps` shows it alive
    assert f"pid {os.getpid()} is not a running claw daemon" in said, said
    assert stop_daemon(home, timeout=1) is False  # we are still here to check
    assert not info_file(home).exists()


def test_torn_gateway_json_is_stale(home: Home) -> None:
    info_file(home).write_text('{"pid": 12')
    assert daemon_status(home)["stale"] is True
    result = claw(home, "stop")
    assert result.returncode == 1 and "not running" in result.stderr
    assert "stale" in result.stderr and not info_file(home).exists()


STUCK = """
import json, os, signal, sys, time
from claw.state.locks import FileLock
home = sys.argv[1]
signal.signal(signal.SIGTERM, signal.SIG_IGN)
lock = FileLock(os.path.join(home, "locks", "daemon.lock"), timeout=0)
lock.acquire()
info = {"pid": os.getpid(), "host": "127.0.0.1", "port": 9, "started_at": "2026-01-01T00:00"}
json.dump(info, open(os.path.join(home, "gateway.json"), "w"))
print("ready", flush=True)
time.sleep(60)
"""


def test_a_daemon_that_ignores_sigterm_and_does_not_answer(home: Home) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", STUCK, str(home.root)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        st = claw(home, "status", "--json")
        assert st.stdout, st.stderr
        data = json.loads(st.stdout)
        assert st.returncode == 0 and data["running"] is True and data["pid"] == proc.pid
        assert "did not answer" in data["error"]
        assert "warning: the daemon did not answer" in claw(home, "status").stdout
        stop = claw(home, "stop", "--timeout", "0.3")
        assert stop.returncode == 1 and "did not stop within 0.3s" in stop.stderr
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_settle_heap_collects_garbage_then_freezes_the_rest() -> None:
    # In a fresh interpreter: freezing would outlive this test in pytest's own process.
    code = (
        "import gc, weakref\n"
        "from claw.daemon import settle_heap\n"
        "class C: pass\n"
        "a = C(); a.me = a; dead = weakref.ref(a); del a\n"  # a cycle: only gc frees it
        "kept = [C() for _ in range(1000)]\n"
        "settle_heap()\n"
        "print(dead() is None, gc.get_freeze_count() > 1000, len(gc.get_objects(2)) < 100)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["True", "True", "True"], out.stderr


def test_warm_up_loads_the_turn_path_and_stores_nothing(home: Home) -> None:
    # The daemon makes one echo call through litellm at start, so the first chat does not
    # pay litellm's first-call imports (~0.5 s); it must leave no trace in the state.
    from claw.daemon import _load_turn_path

    before = sorted(p.relative_to(home.root) for p in home.root.rglob("*"))
    _load_turn_path()
    assert "litellm" in sys.modules and "claw.supervisor.dispatch" in sys.modules
    assert sorted(p.relative_to(home.root) for p in home.root.rglob("*")) == before
