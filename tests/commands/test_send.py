"""`claw send`: one turn from the command line, through the real app and real models."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from claw.agent.models import litellm
from claw.errors import ModelUnavailable
from tests import scripted
from tests.commands._util import MAIN, messages, transcript_path
from tests.conftest import run_claw

JSON_KEYS = {"session_key", "message_id", "text", "model", "usage", "duration_ms", "mode"}


def test_echo_prints_the_reply(cli) -> None:
    r = cli("send", "--model", "echo", "hi")
    assert r.exit_code == 0, r.output
    assert r.stdout == "hi\n"


def test_json_output(cli, home_path: Path) -> None:
    r = cli("send", "--model", "echo", "--json", "hello there")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert set(data) == JSON_KEYS
    assert data["text"] == "hello there"
    assert data["model"] == "echo"
    assert data["session_key"] == MAIN
    assert data["usage"]["completion_tokens"] == 2
    assert isinstance(data["duration_ms"], int) and data["duration_ms"] >= 0
    assert data["message_id"] == messages(home_path)[-1]["id"]


def test_transcript_holds_the_exchange(cli, home_path: Path) -> None:
    r = cli("send", "--model", "echo", "remember me")
    assert r.exit_code == 0
    msgs = messages(home_path)
    assert [(m["role"], m["content"]) for m in msgs] == [
        ("user", "remember me"),
        ("assistant", "remember me"),
    ]
    user, reply = msgs
    assert reply["reply_to"] == user["id"]
    assert reply["model"] == "echo"
    assert reply["status"] == "ok"
    assert reply["usage"]["total_tokens"] > 0


def test_stdin_dash(cli) -> None:
    r = cli("send", "--model", "echo", "-", input="from stdin\n")
    assert r.exit_code == 0, r.output
    assert r.stdout == "from stdin\n"


def test_empty_stdin_is_nothing_to_send(cli, home_path: Path) -> None:
    r = cli("send", "--model", "echo", input="")
    assert r.exit_code == 2, r.output
    assert "nothing to send" in r.stderr
    assert not transcript_path(home_path).exists()


def test_blank_text_is_nothing_to_send(cli) -> None:
    r = cli("send", "--model", "echo", "   ")
    assert r.exit_code == 2
    assert "nothing to send" in r.stderr


def test_piped_stdin_in_a_real_process(home_path: Path) -> None:
    r = run_claw("send", "--model", "echo", input="piped words\n", timeout=90)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "piped words\n"
    assert [m["content"] for m in messages(home_path)] == ["piped words", "piped words"]


def _run_on_pty(
    args: list[str], *, stdin_tty: bool, stdout_tty: bool, timeout: float
) -> tuple[int, str, str]:
    """Run `python -m claw ARGS` with stdin and/or stdout on a pseudo-terminal."""
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "claw", *args],
            stdin=slave if stdin_tty else subprocess.DEVNULL,
            stdout=slave if stdout_tty else subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(os.environ),
        )
    finally:
        os.close(slave)
    chunks: list[bytes] = []
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    tty_out = b"".join(chunks).decode()
    return proc.returncode, tty_out if stdout_tty else out.decode(), err.decode()


def test_no_text_with_stdin_a_terminal_is_a_usage_error() -> None:
    code, _out, err = _run_on_pty(
        ["send", "--model", "echo"], stdin_tty=True, stdout_tty=False, timeout=60
    )
    assert code == 2, err
    assert "nothing to send" in err


def test_reply_on_a_terminal_is_printed_once(home_path: Path) -> None:
    code, out, err = _run_on_pty(
        ["send", "--model", "echo", "streamed to a tty"],
        stdin_tty=False,
        stdout_tty=True,
        timeout=90,
    )
    assert code == 0, err
    assert out.replace("\r\n", "\n") == "streamed to a tty\n"


def test_custom_session(cli, home_path: Path) -> None:
    r = cli("send", "--model", "echo", "--session", "agent:main:work", "--json", "work")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["session_key"] == "agent:main:work"
    assert [m["content"] for m in messages(home_path, "agent:main:work")] == ["work", "work"]
    assert not transcript_path(home_path).exists()


def test_invalid_session_key(cli) -> None:
    r = cli("send", "--model", "echo", "--session", "agent::main", "x")
    assert r.exit_code == 2
    assert "invalid session key" in r.stderr


def test_unknown_agent(cli, home_path: Path) -> None:
    assert cli("config", "set", "agents.helper.model", "echo").exit_code == 0
    r = cli("send", "--model", "echo", "--agent", "unknown", "hi")
    assert r.exit_code == 1, r.output
    assert "unknown agent 'unknown'" in r.stderr
    assert "configured agents: helper, main" in r.stderr
    assert not (home_path / "agents" / "unknown").exists()


def test_configured_agent_uses_its_own_model(cli, home_path: Path) -> None:
    assert cli("config", "set", "agents.helper.model", "echo").exit_code == 0
    r = cli("send", "--agent", "helper", "--json", "for the helper")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["model"] == "echo"
    assert data["session_key"] == "agent:helper:main"
    assert (home_path / "agents" / "helper" / "SOUL.md").is_file()


def test_unknown_model_without_provider(cli) -> None:
    r = cli("send", "--model", "nosuchprovider", "hi")
    assert r.exit_code == 1, r.output
    assert "unknown model 'nosuchprovider'" in r.stderr
    assert "hint:" in r.stderr
    assert "echo" in r.stderr.split("hint:", 1)[1]


def test_rate_limit_is_recorded_and_left_out_of_the_next_turn(cli, home_path: Path) -> None:
    lm = litellm()
    script = scripted.install([lm.RateLimitError("slow down", "scripted", "test"), "all good"])
    r = cli("send", "--model", "scripted/test", "doomed message")
    assert r.exit_code == 1, r.output
    assert "rate_limit" in r.stderr
    assert r.stdout == ""
    msgs = messages(home_path)
    assert [m["role"] for m in msgs] == ["user", "assistant"]
    assert msgs[0]["content"] == "doomed message"
    assert msgs[1]["status"] == "error"
    assert msgs[1]["reason"] == "rate_limit"
    assert msgs[1]["reply_to"] == msgs[0]["id"]

    r = cli("send", "--model", "scripted/test", "second try")
    assert r.exit_code == 0, r.output
    assert r.stdout == "all good\n"
    sent = script.calls[-1]
    assert all("doomed message" not in str(m["content"]) for m in sent)
    assert all(m["role"] != "assistant" for m in sent)
    assert sent[-1] == {"role": "user", "content": "second try"}


def test_empty_reply_is_an_error_not_a_reply(cli, home_path: Path) -> None:
    scripted.install([""])
    r = cli("send", "--model", "scripted/test", "say nothing")
    assert r.exit_code == 1, r.output
    assert r.stdout == ""
    assert "empty reply" in r.stderr
    reply = messages(home_path)[-1]
    assert reply["role"] == "assistant" and reply["status"] == "error"
    assert reply["reason"] == "empty"


def test_empty_reply_json_prints_nothing(cli) -> None:
    scripted.install([""])
    r = cli("send", "--model", "scripted/test", "--json", "say nothing")
    assert r.exit_code == 1
    assert r.stdout == ""


def test_interrupt_exits_130_and_is_recorded(cli, home_path: Path) -> None:
    scripted.install([KeyboardInterrupt()])
    r = cli("send", "--model", "scripted/test", "stop me")
    assert r.exit_code == 130, r.output
    reply = messages(home_path)[-1]
    assert reply["role"] == "assistant"
    assert reply["reason"] == "interrupted"


def test_history_is_sent(cli) -> None:
    script = scripted.install(["answer one", "answer two"])
    assert cli("send", "--model", "scripted/test", "question one").exit_code == 0
    assert cli("send", "--model", "scripted/test", "question two").exit_code == 0
    second = script.calls[1]
    assert [(m["role"], m["content"]) for m in second[1:]] == [
        ("user", "question one"),
        ("assistant", "answer one"),
        ("user", "question two"),
    ]
    assert second[0]["role"] == "system"


def test_sessions_do_not_share_history(cli) -> None:
    script = scripted.install(["a", "b"])
    assert cli("send", "--model", "scripted/test", "in main").exit_code == 0
    assert (
        cli("send", "--model", "scripted/test", "-s", "agent:main:other", "elsewhere").exit_code
        == 0
    )
    assert [m["content"] for m in script.calls[1][1:]] == ["elsewhere"]


def test_soul_edit_reaches_the_next_turn(cli, home, home_path: Path) -> None:
    script = scripted.install(["one", "two"])
    assert cli("send", "--model", "scripted/test", "before").exit_code == 0
    assert "Zorg" not in script.calls[0][0]["content"]
    soul = home_path / "agents" / "main" / "SOUL.md"
    soul.write_text("You are Zorg, a pirate. <!-- editor note: hidden -->\n")
    assert cli("send", "--model", "scripted/test", "after").exit_code == 0
    system = script.calls[1][0]
    assert system["role"] == "system"
    assert "You are Zorg, a pirate." in system["content"]
    assert "hidden" not in system["content"]


def test_default_model_without_llama_cpp_explains_the_fix(
    cli, home, monkeypatch: pytest.MonkeyPatch
) -> None:
    from claw.agent.providers import builtin

    real = builtin.importlib.util.find_spec

    def find_spec(name: str, *args, **kwargs):
        if name == "llama_cpp" or name.startswith("llama_cpp."):
            return None
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtin.importlib.util, "find_spec", find_spec)
    r = cli("send", "hi")
    assert r.exit_code == 1, r.output
    err = r.stderr
    assert "internal error" not in err
    assert "llama-cpp-python" in err
    assert "scripts/install" in err or "claw[local]" in err
    assert "--model echo" in err
    assert r.stdout == ""


def test_fallback_model_answers_when_default_is_rate_limited(cli, home_path: Path) -> None:
    lm = litellm()
    script = scripted.install([lm.RateLimitError("busy", "scripted", "test")])
    assert cli("config", "set", "model.default", "scripted/test").exit_code == 0
    assert cli("config", "set", "model.fallbacks", "echo").exit_code == 0
    r = cli("send", "--json", "via fallback")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["model"] == "echo"
    assert data["text"] == "via fallback"
    assert len(script.calls) == 1
    assert messages(home_path)[-1]["model"] == "echo"


def test_real_smollm2_generation(cli, home) -> None:
    """One real generation with the embedded model (a few tokens)."""
    from claw.agent.providers.builtin import check_local

    try:
        check_local()
    except ModelUnavailable as e:  # pragma: no cover - the dev venv has it
        pytest.skip(f"embedded model not installed: {e}")
    r = cli("config", "set", "model.max_tokens", "8")
    assert r.exit_code == 0, r.output
    r = cli("send", "--json", "Say hi")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert set(data) == JSON_KEYS
    assert data["model"] == "local/smollm2"
    assert data["text"].strip()
    assert 1 <= data["usage"]["completion_tokens"] <= 8
    assert data["usage"]["prompt_tokens"] > 0
