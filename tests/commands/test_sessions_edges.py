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
