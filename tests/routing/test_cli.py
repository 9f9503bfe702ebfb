"""`claw agents`, `claw bindings` and `claw route` through the real CLI."""

from __future__ import annotations

import json

import pytest

from claw.state import config_schema as schema
from claw.state.home import Home

HELPS = {
    "agents": ("agents", "Agents: list, add, remove."),
    "bindings": ("bindings", "Message routing: which agent answers whom."),
    "route": ("route", "Show which agent and session a message would get, and why."),
}

# What claw/state/config_schema.py gets (see the report); patched in until it has it.
_MATCH = {
    "channel": schema.Field("str"),
    "account": schema.Field("str"),
    "peer": schema.Field("peer"),
    "group": schema.Field("str"),
    "guild": schema.Field("str"),
    "thread": schema.Field("str"),
}
_BINDING = {"agent": schema.Field("str"), "match": _MATCH}


@pytest.fixture(autouse=True)
def _registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """The commands in claw.cli's COMMANDS and the keys in the schema (no-ops once added)."""
    from claw import cli

    for name, (module, help_) in HELPS.items():
        if name not in cli.COMMANDS:
            monkeypatch.setitem(cli.COMMANDS, name, cli.Entry(module, help_))
    if "bindings" not in schema.SCHEMA:
        field = schema.Field("list_table", [], "routing", item=_BINDING)
        monkeypatch.setitem(schema.SCHEMA, "bindings", field)
    if "session" not in schema.SCHEMA:
        links = {"identity_links": {schema.WILDCARD: schema.Field("list_str")}}
        monkeypatch.setitem(schema.SCHEMA, "session", links)


def write_config(home: Home, extra: str) -> None:
    text = home.config_file.read_text(encoding="utf-8")
    home.config_file.write_text(text + "\n" + extra, encoding="utf-8")


ROUTING = """
[agents.work]
dm_scope = "per-channel-peer"

[[bindings]]
agent = "work"
match = { channel = "telegram" }

[[bindings]]
agent = "main"
match = { channel = "telegram", peer = "123" }

[[bindings]]
agent = "work"
match = { channel = "discord", guild = "g1", group = "555", thread = "t9" }

[session.identity_links]
alice = ["telegram:42", "discord:987"]
"""


def test_help_lists_everything(cli) -> None:
    r = cli("--help")
    for name in HELPS:
        assert name in r.output
    assert "list" in cli("bindings", "--help").output
    r = cli("agents", "--help")
    for sub in ("list", "add", "remove"):
        assert sub in r.output
    r = cli("route", "--help")
    for flag in ("--channel", "--account", "--peer", "--group", "--guild", "--thread", "--json"):
        assert flag in r.output


def test_agents_add_list_remove(cli, home: Home) -> None:
    r = cli("agents", "add", "work", "--model", "echo", "--dm-scope", "per-peer")
    assert r.exit_code == 0, r.output
    ws = home.agent_dir("work")
    assert (ws / "SOUL.md").exists() and (ws / "skills").is_dir()
    listed = json.loads(cli("agents", "list", "--json").stdout)
    assert [a["id"] for a in listed] == ["main", "work"]
    work = listed[1]
    assert (work["model"], work["dm_scope"], work["bindings"]) == ("echo", "per-peer", 0)
    assert work["workspace"] == str(ws)
    r = cli("agents", "list")
    assert r.stdout.splitlines()[0].split() == ["ID", "MODEL", "DM_SCOPE", "BINDINGS", "WORKSPACE"]
    assert cli("config", "get", "agents.work.model").stdout.strip() == "echo"

    r = cli("agents", "add", "work")
    assert r.exit_code == 2 and "already exists" in r.stderr
    r = cli("agents", "add", "main")
    assert r.exit_code == 2 and "already exists" in r.stderr
    r = cli("agents", "add", "Bad/Id")
    assert r.exit_code == 2 and "invalid agent id" in r.stderr
    r = cli("agents", "add", "x", "--dm-scope", "nope")
    assert r.exit_code == 2 and "--dm-scope" in r.stderr
    r = cli("agents", "add", "x", "--model", " ")  # not silently model.default
    assert r.exit_code == 2 and "--model" in r.stderr
    assert "x" not in [a["id"] for a in json.loads(cli("agents", "list", "--json").stdout)]

    r = cli("agents", "remove", "work")  # no terminal: refuses without --yes
    assert r.exit_code == 2 and "--yes" in r.stderr
    r = cli("agents", "remove", "work", "--yes")
    assert r.exit_code == 0, r.output
    assert ws.exists() and "kept its workspace" in r.stderr
    assert [a["id"] for a in json.loads(cli("agents", "list", "--json").stdout)] == ["main"]
    r = cli("agents", "remove", "work", "--yes")
    assert r.exit_code == 1 and "no agent named 'work'" in r.stderr
    r = cli("agents", "remove", "main", "--yes")
    assert r.exit_code == 2 and "cannot be removed" in r.stderr
    # adding it again keeps the old workspace's files
    (ws / "USER.md").write_text("me\n", encoding="utf-8")
    assert cli("agents", "add", "work").exit_code == 0
    assert (ws / "USER.md").read_text(encoding="utf-8") == "me\n"
    r = cli("agents", "remove", "work", "--yes", "--delete-workspace")
    assert r.exit_code == 0 and not ws.exists()


def test_remove_agent_with_bindings(cli, home: Home) -> None:
    write_config(home, ROUTING)
    listed = {a["id"]: a for a in json.loads(cli("agents", "list", "--json").stdout)}
    assert listed["work"]["bindings"] == 2 and listed["main"]["bindings"] == 1
    r = cli("agents", "remove", "work", "--yes")
    assert r.exit_code == 2 and "binding #1, #3" in r.stderr and "--remove-bindings" in r.stderr
    r = cli("agents", "remove", "work", "--yes", "--remove-bindings")
    assert r.exit_code == 0, r.output
    assert "removed binding #1, #3" in r.stderr
    bindings = json.loads(cli("bindings", "list", "--json").stdout)
    assert [(b["number"], b["agent"]) for b in bindings] == [(1, "main")]


def test_bindings_list(cli, home: Home) -> None:
    r = cli("bindings", "list")
    assert r.exit_code == 0 and "no bindings" in r.stderr
    write_config(home, ROUTING)
    r = cli("bindings", "list")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["#1", "work", "channel", "channel", "telegram"]
    assert lines[1].startswith("#2  main") and "exact peer" in lines[1]
    assert lines[1].endswith("peer telegram:123")
    data = json.loads(cli("bindings", "list", "--json").stdout)
    assert data[2]["match"] == {
        "channel": "discord",
        "peer": {"kind": "group", "id": "555"},
        "guild": "g1",
        "thread": "t9",
    }
    assert data[2]["tier"] == "peer"


def test_route(cli, home: Home) -> None:
    write_config(home, ROUTING)
    r = cli("route", "--channel", "telegram", "--peer", "123")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == [
        "agent        main",
        "session key  agent:main:main",
        "why          binding #2 (peer telegram:123)",
    ]
    r = cli("route", "--channel", "telegram", "--peer", "42", "--json")
    d = json.loads(r.stdout)
    assert d["agent"] == "work" and d["tier"] == "channel" and d["binding"] == 1
    assert d["session_key"] == "agent:work:telegram:direct:alice"
    r = cli("route", "-c", "discord", "-p", "u", "--guild", "g1", "--group", "555",
            "--thread", "t9", "--json")  # fmt: skip
    d = json.loads(r.stdout)
    assert (d["agent"], d["tier"]) == ("work", "peer")
    assert d["session_key"] == "agent:work:discord:group:555:thread:t9"
    r = cli("route", "--channel", "slack", "--peer", "u")
    assert "no binding matched: the default agent" in r.stdout
    r = cli("route", "--channel", "slack")
    assert r.exit_code == 2 and "--peer" in r.output
    r = cli("route", "--channel", "slack", "--peer", "")  # main dm_scope: no peer in the key
    assert r.exit_code == 2 and "invalid peer" in r.stderr


def test_invalid_binding_is_a_config_error(cli, home: Home) -> None:
    write_config(home, '[[bindings]]\nagent = "ghost"\nmatch = { channel = "telegram" }\n')
    for args in (("route", "--channel", "telegram", "--peer", "1"), ("bindings", "list")):
        r = cli(*args)
        assert r.exit_code == 2
        assert "binding #1 (bindings[0]): unknown agent 'ghost'" in r.stderr
