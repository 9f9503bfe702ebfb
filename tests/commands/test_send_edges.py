"""`claw send` and `claw chat` at the edges a user hits: input that is not UTF-8, session
keys that name another agent, empty session keys."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.commands._util import messages, transcript_path


def _send_bytes(data: bytes, *args: str, env: dict[str, str] | None = None):
    return subprocess.run(
        [sys.executable, "-m", "claw", "send", "--local", "--model", "echo", *args],
        input=data,
        capture_output=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


@pytest.mark.parametrize("strict", [False, True], ids=["surrogateescape", "strict"])
def test_stdin_that_is_not_utf8_is_stored_not_an_internal_error(
    home_path: Path, strict: bool
) -> None:
    # A Latin-1 file piped in. With a strict stdin (PYTHONIOENCODING=utf-8:strict, or a
    # locale Python does not treat as C/UTF-8) reading it raised an internal error; it
    # is now read as lone surrogates, which the transcript stores escaped (as for argv).
    env = {"PYTHONIOENCODING": "utf-8:strict"} if strict else {}
    r = _send_bytes(b"caf\xe9 au lait\n", env=env)
    err = r.stderr.decode(errors="replace")
    assert r.returncode == 0, err
    assert "internal error" not in err
    assert [m["content"] for m in messages(home_path)] == ["caf\udce9 au lait"] * 2


@pytest.mark.parametrize("strict", [False, True], ids=["surrogateescape", "strict"])
def test_chat_survives_a_line_that_is_not_utf8(home_path: Path, strict: bool) -> None:
    env = {"PYTHONIOENCODING": "utf-8:strict"} if strict else {}
    r = subprocess.run(
        [sys.executable, "-m", "claw", "chat", "--model", "echo"],
        input=b"caf\xe9\nstill here\n/exit\n",
        capture_output=True,
        env={**os.environ, **env},
        timeout=120,
    )
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    assert b"still here" in r.stdout
    assert b"internal error" not in r.stderr
    contents = [m["content"] for m in messages(home_path)]
    assert contents == ["caf\udce9", "caf\udce9", "still here", "still here"]


def _with_agent_work(cli) -> None:
    r = cli("config", "set", "agents.work.model", "echo")
    assert r.exit_code == 0, r.output


def _agents(cli) -> dict[str, str]:
    import json

    r = cli("sessions", "list", "--json")
    assert r.exit_code == 0, r.output
    return {row["key"]: row["agent"] for row in json.loads(r.stdout)}


def test_a_session_key_names_the_agent_that_answers(cli, home) -> None:
    # `--session agent:work:main` is agent work's main session: agent work answers there
    # (its model, its workspace) and the session is listed under it.
    _with_agent_work(cli)
    r = cli("send", "--local", "--session", "agent:work:main", "hi work")
    assert r.exit_code == 0, r.output
    assert _agents(cli) == {"agent:work:main": "work"}
    listed = cli("sessions", "list", "--agent", "work")
    assert "agent:work:main" in listed.stdout


def test_an_agent_that_contradicts_the_session_key_is_refused(cli, home, home_path) -> None:
    _with_agent_work(cli)
    r = cli("send", "--local", "--model", "echo", "--agent", "main", "-s", "agent:work:main", "x")
    assert r.exit_code == 2, r.output
    assert "agent:work:main" in r.output and "work" in r.output
    assert not transcript_path(home_path, "agent:work:main").exists()


def test_a_session_key_with_an_invalid_agent_part_is_refused(cli, home, home_path) -> None:
    # Such a session could be written but never cleared or listed by agent afterwards.
    r = cli("send", "--local", "--model", "echo", "--session", "agent:Main:main", "x")
    assert r.exit_code == 2, r.output
    assert "invalid agent id 'Main'" in r.output
    assert not transcript_path(home_path, "agent:Main:main").exists()


def test_chat_on_another_agents_session_is_that_agent(home, home_path: Path) -> None:
    from tests.conftest import run_claw

    assert run_claw("config", "set", "agents.work.model", "echo").returncode == 0
    r = run_claw("chat", "--session", "agent:work:main", input="hello\n/exit\n")
    assert r.returncode == 0, r.stderr
    assert "claw chat · work · session agent:work:main" in r.stderr
    assert [m["content"] for m in messages(home_path, "agent:work:main")] == ["hello", "hello"]


def test_the_gateway_reads_the_agent_from_the_session_key(home) -> None:
    import httpx

    from claw.state import config as cfg
    from tests.gateway.live import run, running

    cfg.set_value(home.config_file, "agents.work.model", "echo")

    async def main() -> None:
        async with running(home) as srv, httpx.AsyncClient(base_url=srv.http) as c:
            bearer = {"authorization": f"Bearer {srv.token}"}

            async def send(**params: str) -> dict:
                rpc = {"jsonrpc": "2.0", "method": "chat.send", "id": 1, "params": params}
                return (await c.post("/rpc", json=rpc, headers=bearer)).json()

            ok = await send(text="hi", session_key="agent:work:main")
            assert ok["result"]["text"] == "hi", ok
            bad = await send(text="hi", agent_id="main", session_key="agent:work:x")
            assert bad["error"]["code"] == -32602, bad
            assert bad["error"]["data"]["param"] == "session_key"
            rows = await send_list(c, bearer)
            assert {r["key"]: r["agent"] for r in rows} == {"agent:work:main": "work"}

    async def send_list(c, bearer) -> list[dict]:
        rpc = {"jsonrpc": "2.0", "method": "sessions.list", "id": 2, "params": {}}
        return (await c.post("/rpc", json=rpc, headers=bearer)).json()["result"]["sessions"]

    run(main)


def test_an_empty_session_key_is_refused_not_replaced_by_main(cli, home, home_path) -> None:
    # `claw send --session "$KEY"` with KEY unset went to agent:main:main: a message
    # filed in another conversation than the one the script meant.
    r = cli("send", "--local", "--model", "echo", "--session", "", "hi")
    assert r.exit_code == 2, r.output
    assert "session key" in r.output
    assert not transcript_path(home_path).exists()
    r = cli("chat", "--model", "echo", "--session", "", input="hi\n/exit\n")
    assert r.exit_code == 2, r.output
    assert not transcript_path(home_path).exists()
