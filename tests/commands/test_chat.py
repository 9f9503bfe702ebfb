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
