"""`claw sessions` at the edges: sessions of other agents, filters that match nothing,
scripts that want --json."""

from __future__ import annotations

import json

from tests.commands._util import records


def _agents(cli) -> dict[str, str]:
    r = cli("sessions", "list", "--json")
    assert r.exit_code == 0, r.output
    return {row["key"]: row["agent"] for row in json.loads(r.stdout)}


def test_clear_keeps_the_agent_a_session_belongs_to(cli, home, home_path) -> None:
    # A free-form key run by agent work stays work's after a clear (it became main's).
    assert cli("config", "set", "agents.work.model", "echo").exit_code == 0
    r = cli("send", "--local", "--agent", "work", "--session", "notes", "hi")
    assert r.exit_code == 0, r.output
    assert _agents(cli) == {"notes": "work"}
    r = cli("sessions", "clear", "notes")
    assert r.exit_code == 0, r.output
    assert _agents(cli) == {"notes": "work"}
    assert records(home_path, "notes")[0]["agent"] == "work"
    r = cli("sessions", "reindex")
    assert r.exit_code == 0, r.output
    assert _agents(cli) == {"notes": "work"}


def test_an_agent_filter_that_matches_nothing_says_so(cli, home) -> None:
    # It said "no sessions yet (start one with `claw send TEXT`)" with sessions there.
    assert cli("send", "--local", "--model", "echo", "hi").exit_code == 0
    r = cli("sessions", "list", "--agent", "work")
    assert r.exit_code == 0, r.output
    assert r.stdout == ""
    assert "no sessions of agent 'work'" in r.stderr and "yet" not in r.stderr


def test_clear_and_delete_refuse_a_session_a_turn_is_running_on(cli, home, home_path):
    # A clear in the middle of another process's turn archived the user message, and the
    # reply then started the fresh transcript: an answer to nothing.
    from claw.agent.session_lane import SessionLane
    from claw.state.sessions import SessionStore
    from tests.commands._util import MAIN, messages

    assert cli("send", "--local", "--model", "echo", "hi").exit_code == 0
    with SessionLane(SessionStore(home), MAIN):  # a turn runs on it (in "another process")
        for args in (("clear", MAIN), ("delete", MAIN, "--yes")):
            r = cli("sessions", *args)
            assert r.exit_code == 1, (args, r.output)
            assert "a turn is running" in r.output
    assert [m["content"] for m in messages(home_path)] == ["hi", "hi"]
    assert cli("sessions", "clear", MAIN).exit_code == 0  # idle again: it clears
    assert messages(home_path) == []


def test_chat_new_on_a_busy_session_says_so_and_goes_on(home, home_path) -> None:
    from claw.agent.session_lane import SessionLane
    from claw.state.sessions import SessionStore
    from tests.commands._util import MAIN, messages
    from tests.conftest import run_claw

    assert run_claw("send", "--local", "--model", "echo", "hi").returncode == 0
    with SessionLane(SessionStore(home), MAIN):
        r = run_claw("chat", "--model", "echo", "--session", MAIN, input="/new\n/exit\n")
    assert r.returncode == 0, r.stderr
    assert "a turn is running" in r.stderr
    assert [m["content"] for m in messages(home_path)] == ["hi", "hi"]


def test_the_gateway_refuses_to_clear_under_another_processs_turn(home) -> None:
    # chat.clear and sessions.delete checked only the daemon's own turns.
    import httpx

    from claw.agent.session_lane import SessionLane
    from claw.state.sessions import SessionStore
    from tests.commands._util import MAIN
    from tests.gateway.live import run, running

    SessionStore(home).append(MAIN, [{"type": "message", "role": "user", "content": "hi"}])

    async def main() -> None:
        async with running(home) as srv, httpx.AsyncClient(base_url=srv.http) as c:
            bearer = {"authorization": f"Bearer {srv.token}"}
            for method in ("chat.clear", "sessions.delete"):
                rpc = {"jsonrpc": "2.0", "method": method, "id": 1}
                rpc["params"] = {"session_key": MAIN}
                with SessionLane(SessionStore(home), MAIN):
                    answer = (await c.post("/rpc", json=rpc, headers=bearer)).json()
                assert answer["error"]["code"] == -32003, answer
            answer = (await c.post("/rpc", json=rpc, headers=bearer)).json()
            assert answer["result"]["deleted"] is True, answer

    run(main)


def test_a_corrupt_index_is_rebuilt_from_the_transcripts(cli, home, home_path) -> None:
    # The index is derived data, yet a damaged index.sqlite made every sessions command,
    # `claw send` and even `claw sessions reindex` fail with an internal error.
    assert cli("send", "--local", "--model", "echo", "hi").exit_code == 0
    index = home_path / "sessions" / "index.sqlite"
    for extra in index.parent.glob("index.sqlite-*"):
        extra.unlink()
    index.write_bytes(b"this is not a database\n" * 100)
    r = cli("sessions", "list", "--json")
    assert r.exit_code == 0, r.output
    assert [row["key"] for row in json.loads(r.stdout)] == ["agent:main:main"]
    assert (home_path / "sessions" / "index.sqlite.corrupt").exists()  # kept for a look
    index.write_bytes(b"garbage")
    assert cli("sessions", "reindex").exit_code == 0
    index.write_bytes(b"garbage")
    r = cli("send", "--local", "--model", "echo", "again")
    assert r.exit_code == 0, r.output
    assert json.loads(cli("sessions", "list", "--json").stdout)[0]["message_count"] == 4


def test_every_sessions_and_config_command_speaks_json(cli, home, home_path) -> None:
    # House rule: every command has --json for scripts; clear (whose archive path a
    # script wants), delete, reindex, config set/unset and path had none.
    assert cli("send", "--local", "--model", "echo", "hi").exit_code == 0
    key = "agent:main:main"
    r = cli("sessions", "clear", key, "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["cleared"] is True and out["session_key"] == key
    assert (home_path / "sessions" / "archive" / out["archive"].rsplit("/", 1)[-1]).exists()
    r = cli("sessions", "reindex", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout) == {"sessions": 1}, r.output
    r = cli("sessions", "delete", key, "--yes", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout) == {"deleted": True, "session_key": key}
    r = cli("config", "set", "model.fallbacks", "a,b", "--json")
    assert json.loads(r.stdout) == {"key": "model.fallbacks", "value": ["a", "b"]}, r.output
    r = cli("config", "unset", "model.fallbacks", "--json")
    assert json.loads(r.stdout) == {"key": "model.fallbacks", "removed": True}, r.output
    r = cli("config", "unset", "model.fallbacks", "--json")
    assert json.loads(r.stdout) == {"key": "model.fallbacks", "removed": False}, r.output
    r = cli("config", "path", "--json")
    assert json.loads(r.stdout) == {"path": str(home.config_file)}, r.output
