"""The agent loop seen from the command line: `claw send` outcomes, `claw tools` and
`claw skills`."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from claw.state import config as cfg
from claw.state.home import Home
from claw.state.jsonl import read_all
from claw.state.sessions import SessionStore
from tests import scripted

MAIN = "agent:main:main"
BUILTIN_TOOLS = {"current_time", "read_file", "write_file", "list_dir"}
BUILTIN_TOOLS |= {"task_create", "task_list", "task_update", "memory_search", "memory_save"}
BUILTIN_TOOLS |= {"spawn"}


def msgs(home: Home) -> list[dict[str, Any]]:
    store = SessionStore(home)
    try:
        return [r for r in read_all(store.path(MAIN)).records if r.get("type") == "message"]
    finally:
        store.close()


def tool(name: str) -> dict[str, Any]:
    return {"name": name, "arguments": {}}


# -- claw send ----------------------------------------------------------------------------


def test_send_no_reply_prints_nothing(cli, home: Home) -> None:
    scripted.install(["NO_REPLY"])
    r = cli("send", "--model", "scripted/test", "note this down")
    assert r.exit_code == 0, r.output
    assert r.stdout == ""
    assert msgs(home)[-1]["status"] == "silent"


def test_send_empty_reply_exits_1_with_the_error_on_stderr(cli, home: Home) -> None:
    scripted.install([""])
    r = cli("send", "--model", "scripted/test", "say something")
    assert r.exit_code == 1, r.output
    assert r.stdout == ""
    assert "(no reply: the model returned an empty reply)" in r.stderr


def test_send_verbose_lists_tools_and_shows_tool_events(cli, home: Home) -> None:
    scripted.install([{"text": "", "tool_calls": [tool("current_time")]}, "It is noon."])
    r = cli("send", "--verbose", "--model", "scripted/test", "time?")
    assert r.exit_code == 0, r.output
    assert r.stdout == "It is noon.\n\nTools: current_time\n"
    assert "tool current_time" in r.stderr
    assert "ok" in r.stderr
    assert "Tools:" not in r.stderr


def test_send_verbose_counts_repeated_tools(cli, home: Home) -> None:
    scripted.install(
        [
            {"text": "", "tool_calls": [tool("current_time"), tool("current_time")]},
            {"text": "", "tool_calls": [tool("current_time")]},
            "Checked thrice.",
        ]
    )
    r = cli("send", "--verbose", "--model", "scripted/test", "time?")
    assert r.exit_code == 0, r.output
    assert r.stdout == "Checked thrice.\n\nTools: current_time (×3)\n"


def test_send_without_verbose_shows_no_tool_activity(cli, home: Home) -> None:
    scripted.install([{"text": "", "tool_calls": [tool("current_time")]}, "It is noon."])
    r = cli("send", "--model", "scripted/test", "time?")
    assert r.exit_code == 0, r.output
    assert r.stdout == "It is noon.\n"
    assert "tool current_time" not in r.stderr


def test_send_rejects_a_bogus_thinking_level(cli, home: Home) -> None:
    script = scripted.install(["never"])
    r = cli("send", "--thinking", "bogus", "--model", "scripted/test", "hi")
    assert r.exit_code == 2, r.output
    assert "--thinking" in r.stderr and "bogus" in r.stderr
    assert script.calls == []


@pytest.mark.timeout(30)
def test_send_timeout_exits_1_naming_the_time_limit(cli, home: Home) -> None:
    scripted.install([" ".join(f"w{i}" for i in range(50))], delay=0.2, name="slow")
    r = cli("send", "--timeout", "0.3", "--model", "scripted/slow", "talk slowly")
    assert r.exit_code == 1, r.output
    assert "longer than 0.3s" in r.stderr
    last = msgs(home)[-1]
    assert last["role"] == "assistant" and last["status"] == "interrupted"


# -- claw tools -----------------------------------------------------------------------------


def test_tools_list_shows_the_builtin_tools(cli, home: Home) -> None:
    r = cli("tools", "list")
    assert r.exit_code == 0, r.output
    listed = {line.split()[0] for line in r.stdout.splitlines() if line.strip()}
    assert listed == BUILTIN_TOOLS


def test_tools_list_json_and_exec_after_enabling(cli, home: Home) -> None:
    r = cli("tools", "list", "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert {t["name"] for t in data} == BUILTIN_TOOLS
    assert all(t["description"] and t["parameters"]["type"] == "object" for t in data)

    r = cli("config", "set", "tools.exec_enabled", "true")
    assert r.exit_code == 0, r.output
    assert cfg.load(home.config_file).get("tools.exec_enabled") is True
    r = cli("tools", "list", "--json")
    assert r.exit_code == 0, r.output
    assert {t["name"] for t in json.loads(r.stdout)} == BUILTIN_TOOLS | {"exec"}
    r = cli("tools", "list")
    assert "exec" in {line.split()[0] for line in r.stdout.splitlines() if line.strip()}


# -- claw skills ----------------------------------------------------------------------------


def _demo_skill(home: Home) -> Path:
    path = home.agent_dir("main") / "skills" / "demo" / "SKILL.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        textwrap.dedent("""\
        ---
        name: demo
        description: Shows how skills work.
        ---
        # Demo

        Say hello in three languages.
        """)
    )
    return path


def test_skills_list_and_show(cli, home: Home) -> None:
    path = _demo_skill(home)
    r = cli("skills", "list")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0].split(None, 1) == ["demo", "Shows how skills work."]
    assert str(path) in r.stdout

    r = cli("skills", "list", "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert [(s["name"], s["description"]) for s in data] == [("demo", "Shows how skills work.")]

    r = cli("skills", "show", "demo")
    assert r.exit_code == 0, r.output
    assert r.stdout == "# Demo\n\nSay hello in three languages.\n"
    assert "description:" not in r.stdout

    r = cli("skills", "show", "missing")
    assert r.exit_code == 1
    assert "demo" in r.stderr  # the error names the skills there are


def test_a_skill_adds_skill_read_for_the_model(cli, home: Home) -> None:
    _demo_skill(home)
    r = cli("tools", "list", "--json")
    assert r.exit_code == 0, r.output
    assert "skill_read" in {t["name"] for t in json.loads(r.stdout)}
    script = scripted.install(
        [
            {"text": "", "tool_calls": [{"name": "skill_read", "arguments": {"name": "demo"}}]},
            "Hello, Bonjour, Hola.",
        ]
    )
    r = cli("send", "--mode", "single", "--model", "scripted/test", "greet me")
    assert r.exit_code == 0, r.output
    assert r.stdout == "Hello, Bonjour, Hola.\n"
    assert "demo" in script.calls[0][0]["content"]  # listed in the system prompt
    assert "Say hello in three languages." in script.calls[1][-1]["content"]
