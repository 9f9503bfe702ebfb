"""`claw chat` in a real process: commands, replies, leaving with /exit or Ctrl-D."""

from __future__ import annotations

import json
from pathlib import Path

from tests.commands._util import messages
from tests.conftest import run_claw


def test_chat_reply_history_new_exit(home_path: Path) -> None:
    r = run_claw("chat", "--model", "echo", input="hello\n/history\n/new\n/exit\n", timeout=90)
    assert r.returncode == 0, r.stderr
    assert "claw> hello" in r.stdout
    assert "session agent:main:main" in r.stderr
    # /history shows the exchange, /new archives it.
    assert "user: hello" in r.stderr
    assert "assistant: hello" in r.stderr
    assert "started afresh" in r.stderr
    archived = list((home_path / "sessions" / "archive").iterdir())
    assert len(archived) == 1
    old = [json.loads(line) for line in archived[0].read_text().splitlines()]
    assert [(m["role"], m["content"]) for m in old if m["type"] == "message"] == [
        ("user", "hello"),
        ("assistant", "hello"),
    ]
    assert messages(home_path) == []  # the live transcript was restarted


def test_chat_ctrl_d_exits_0() -> None:
    r = run_claw("chat", "--model", "echo", input="", timeout=60)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr


def test_chat_unknown_command_prints_help() -> None:
    r = run_claw("chat", "--model", "echo", input="/bogus arg\n\n", timeout=60)
    assert r.returncode == 0, r.stderr
    assert "unknown command /bogus." in r.stderr
    assert "/new" in r.stderr and "/history" in r.stderr and "/exit" in r.stderr
    assert "claw>" not in r.stdout  # nothing was sent to the model


def test_chat_unknown_agent_exits_1() -> None:
    r = run_claw("chat", "--agent", "ghost", input="hi\n", timeout=60)
    assert r.returncode == 1
    assert "unknown agent 'ghost'" in r.stderr


def test_chat_model_error_keeps_the_conversation_going(home_path: Path) -> None:
    r = run_claw("chat", "--model", "nosuchprovider", input="hi\n/exit\n", timeout=60)
    assert r.returncode == 0, r.stderr
    assert "unknown model 'nosuchprovider'" in r.stderr


def test_chat_routes_through_the_terminal_channel(home_path: Path) -> None:
    """Bindings for channel "terminal" pick the agent; the login name is the peer."""
    from claw.channels.terminal import local_user

    for args in (
        ("agents", "add", "desk", "--model", "echo"),
        ("config", "set", "agents.desk.dm_scope", "per-peer"),
        ("config", "set", "bindings", '[{"agent": "desk", "match": {"channel": "terminal"}}]'),
    ):
        r = run_claw(*args)
        assert r.returncode == 0, r.stderr
    r = run_claw("chat", input="hi desk\n/exit\n", timeout=90)
    assert r.returncode == 0, r.stderr
    assert f"desk · session agent:desk:direct:{local_user()}" in r.stderr
    assert "claw> hi desk" in r.stdout


def test_messages_for_the_terminal_are_shown_in_chat_once(home_path: Path) -> None:
    from claw.channels.terminal import local_user

    me = local_user()
    r = run_claw("notify", "--channel", "terminal", "--to", me, "--wait", "remember the milk")
    assert r.returncode == 0, r.stderr
    r = run_claw("chat", "--model", "echo", input="ok\n/exit\n", timeout=90)
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("remember the milk") == 1
    again = run_claw("chat", "--model", "echo", input="/exit\n", timeout=90)
    assert "remember the milk" not in again.stderr  # shown once
    # and the heartbeat's "last" target now points at this terminal
    from claw.heartbeat.last_target import last_target
    from claw.state.home import Home

    assert last_target(Home(home_path), "main") == f"terminal:{me}"


def test_chat_mode_is_forced_for_every_message(home_path: Path) -> None:
    r = run_claw("chat", "--model", "echo", "--mode", "single", input="hello!\n/exit\n", timeout=90)
    assert r.returncode == 0, r.stderr
    assert "claw> hello!" in r.stdout
    replies = [m for m in messages(home_path) if m["role"] == "assistant"]
    assert replies and replies[-1].get("mode") == "single"  # a greeting: fast unless forced
    bad = run_claw("chat", "--mode", "fastest", input="", timeout=60)
    assert bad.returncode == 2 and "--mode: expected one of" in bad.stderr
