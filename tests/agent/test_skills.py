"""Skills: loading OpenClaw/nanobot-style SKILL.md files, skipping broken ones, hot reload."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from claw.agent.skills import SkillReadTool, load_skills, parse_skill, read_skill
from claw.agent.tools.base import ToolContext, ToolRegistry
from claw.commands.skills import app
from claw.errors import NotFound
from claw.state.home import Home

OPENCLAW = """\
---
name: github
description: "Interact with GitHub using the `gh` CLI: issues, PRs, CI runs."
homepage: https://cli.github.com
metadata: {"openclaw": {"emoji": "x", "requires": {"bins": ["gh"]}, "always": false}}
---

# GitHub Skill

Use the `gh` CLI.
"""


def write_skill(ws: Path, dirname: str, text: str) -> Path:
    path = ws / "skills" / dirname / "SKILL.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def simple(name: str, description: str = "Does things.", body: str = "Steps.\n") -> str:
    return f"---\nname: {name}\ndescription: {description}\n---\n{body}"


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    path.mkdir()
    return path


def test_openclaw_skill_loads_with_nested_metadata(ws: Path) -> None:
    path = write_skill(ws, "github", OPENCLAW)
    found = load_skills(ws)
    assert found.warnings == []
    [skill] = found.skills
    assert skill.name == "github" and skill.path == path
    assert skill.description.startswith("Interact with GitHub using the `gh` CLI")
    assert skill.metadata["openclaw"]["requires"] == {"bins": ["gh"]}
    assert skill.metadata["openclaw"]["always"] is False
    assert skill.extra == {"homepage": "https://cli.github.com"}
    assert read_skill(ws, "github") == "# GitHub Skill\n\nUse the `gh` CLI.\n"
    assert skill.body_chars == len(read_skill(ws, "github"))


def test_skills_are_sorted_and_name_may_differ_from_the_directory(ws: Path) -> None:
    write_skill(ws, "zeta-dir", simple("alpha"))
    write_skill(ws, "beta", "---\ndescription: No name; the directory names it.\n---\nBody\n")
    write_skill(ws, "gamma", simple("gamma"))
    found = load_skills(ws)
    assert found.names() == ["alpha", "beta", "gamma"]
    assert read_skill(ws, "alpha") == "Steps.\n"
    assert found.get("beta") is not None and found.get("zeta-dir") is None


# OpenClaw's own skills spread the metadata JSON over several lines, trailing commas included.
PRETTY = """\
---
name: github
description: Interact with GitHub.
metadata:
  {
    "openclaw":
      {
        "emoji": "\U0001f419",
        "install":
          [
            { "id": "brew", "kind": "brew", "formula": "gh", "bins": ["gh"] },
          ],
      },
  }
---
Body
"""


def test_openclaw_multi_line_metadata(ws: Path) -> None:
    write_skill(ws, "github", PRETTY)
    [skill] = load_skills(ws).skills
    assert skill.metadata["openclaw"]["emoji"] == "\U0001f419"
    assert skill.metadata["openclaw"]["install"][0]["formula"] == "gh"


def test_metadata_given_as_a_json_string(ws: Path) -> None:
    meta = json.dumps(json.dumps({"nanobot": {"emoji": "y"}}))
    write_skill(ws, "n", f"---\nname: n\ndescription: d\nmetadata: {meta}\n---\nb\n")
    assert load_skills(ws).skills[0].metadata == {"nanobot": {"emoji": "y"}}


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("no front matter\n", "does not start"),
        ("---\nname: x\ndescription: d\n", "no closing"),
        ("---\nname: [unclosed\n---\nbody\n", "invalid YAML"),
        ("---\n- a list\n---\nbody\n", "not a mapping"),
        ("---\nname: x\n---\nbody\n", "description"),
        ("---\nname: ../evil\ndescription: d\n---\nbody\n", "invalid skill name"),
        ("---\nname: x\nobj: !!python/object/apply:os.system ['touch pwned']\n---\n", "YAML"),
    ],
)
def test_malformed_skills_are_skipped_with_a_warning(ws: Path, text: str, why: str) -> None:
    write_skill(ws, "good", simple("good"))
    bad = write_skill(ws, "bad", text)
    found = load_skills(ws)
    assert found.names() == ["good"]
    [warning] = found.warnings
    assert str(bad) in warning and why in warning
    assert not (ws / "pwned").exists() and not Path("pwned").exists()


def test_python_tags_are_refused_by_safe_load() -> None:
    with pytest.raises(ValueError, match="python/object"):
        parse_skill("---\ndescription: !!python/object:os.Foo {}\n---\n", "x")


def test_duplicates_unreadable_and_missing_files(ws: Path) -> None:
    first = write_skill(ws, "a", simple("same"))
    second = write_skill(ws, "b", simple("same"))
    write_skill(ws, "bin", "").write_bytes(b"---\nname: bin\ndescription: \xff\n---\n")
    (ws / "skills" / "empty-dir").mkdir()
    (ws / "skills" / ".hidden").mkdir()
    (ws / "skills" / "README.md").write_text("not a skill")
    found = load_skills(ws)
    assert found.names() == ["same"] and found.skills[0].path == first
    text = "\n".join(found.warnings)
    assert f"{second}: skill name 'same' is already used by {first}" in text
    assert "bin/SKILL.md: cannot read" in text
    assert "empty-dir: no SKILL.md" in text
    assert ".hidden" not in text and "README" not in text


def test_no_skills_directory(ws: Path) -> None:
    found = load_skills(ws)
    assert found.skills == [] and found.warnings == []


def test_edits_are_picked_up_and_unchanged_loads_are_cached(ws: Path) -> None:
    path = write_skill(ws, "w", simple("w", "First."))
    first = load_skills(ws)
    assert load_skills(ws) is first  # nothing changed: the cached set
    path.write_text(simple("w", "Second, longer description."))
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert load_skills(ws).skills[0].description == "Second, longer description."
    write_skill(ws, "v", simple("v"))
    assert load_skills(ws).names() == ["v", "w"]
    path.unlink()
    found = load_skills(ws)
    assert found.names() == ["v"] and "w: no SKILL.md" in found.warnings[0]


def test_read_skill_unknown_name_lists_the_others(ws: Path) -> None:
    write_skill(ws, "one", simple("one"))
    with pytest.raises(NotFound, match="available skills: one"):
        read_skill(ws, "two")


def test_skill_read_tool(ws: Path) -> None:
    write_skill(ws, "one", simple("one", body="Do it like this.\n"))
    reg = ToolRegistry()
    reg.register(SkillReadTool())
    ctx = ToolContext("main", ws, "agent:main:main")
    assert reg.call("skill_read", {"name": "one"}, ctx).content == "Do it like this.\n"
    missing = reg.call("skill_read", {"name": "nope"}, ctx)
    assert missing.is_error and "one" in missing.content
    assert reg.call("skill_read", {"name": "../x"}, ctx).is_error
    assert reg.call("skill_read", {}, ctx).is_error
    bound = SkillReadTool(ws)  # a tool bound to a workspace ignores the context's
    other = ToolContext("main", ws / "elsewhere", "k")
    assert not bound.call({"name": "one"}, other).is_error


# --- claw skills -------------------------------------------------------------------------


def test_cli_list_and_show(home: Home) -> None:
    ws = home.agent_dir("main")
    write_skill(ws, "github", OPENCLAW)
    write_skill(ws, "broken", "nope\n")
    runner = CliRunner()
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 0, result.output
    assert "github" in result.stdout and "Interact with GitHub" in result.stdout
    assert "broken/SKILL.md" in result.stderr and "broken" not in result.stdout
    data = json.loads(runner.invoke(app, ["list", "--json"]).stdout)
    assert data[0]["name"] == "github"
    assert data[0]["metadata"]["openclaw"]["emoji"] == "x"
    assert data[0]["path"].endswith("github/SKILL.md")
    shown = runner.invoke(app, ["show", "github"])
    assert shown.exit_code == 0 and shown.stdout.startswith("# GitHub Skill")
    unknown = runner.invoke(app, ["show", "gitlab"])
    assert isinstance(unknown.exception, NotFound) and "github" in unknown.exception.message


def test_cli_list_without_skills_and_other_agents(home: Home) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["list", "--agent", "helper"])
    assert result.exit_code == 0 and result.stdout == "" and "no skills yet" in result.stderr
    assert runner.invoke(app, ["list", "--agent", "Bad/Agent"]).exit_code != 0
