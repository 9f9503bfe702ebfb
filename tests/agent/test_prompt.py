"""The system prompt: workspace files, skills list, runtime facts, limits and hot reload."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from claw.agent.prompt import build_system_prompt, clean, system_prompt
from claw.agent.skills import Skill

FACTS = {"agent": "main", "channel": "cli", "model": "echo", "user local time": "2026-01-05"}


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    path.mkdir()
    (path / "SOUL.md").write_text("<!-- for the editor -->\nYou are Claw.\n")
    (path / "AGENTS.md").write_text("<!-- only a comment -->\n")
    (path / "USER.md").write_text("The user is Alex.\n")
    return path


def build(ws: Path, **kw: Any) -> str:
    args: dict[str, Any] = {
        "skills": [],
        "facts": FACTS,
        "max_file_chars": 20_000,
        "max_total_chars": 60_000,
    }
    return build_system_prompt(ws, **{**args, **kw})


def skill(name: str, description: str) -> Skill:
    return Skill(name=name, description=description, path=Path(f"/s/{name}/SKILL.md"), body_chars=1)


def touch_later(path: Path) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))


def test_files_in_order_comments_stripped_empty_skipped(ws: Path) -> None:
    (ws / "TOOLS.md").write_text("Use the printer on floor 2.")
    text = build(ws)
    assert text.startswith("You are Claw.\n\nThe user is Alex.\n\nUse the printer on floor 2.")
    assert "for the editor" not in text and "only a comment" not in text
    assert text.endswith(
        "## Runtime\n- agent: main\n- channel: cli\n- model: echo\n- user local time: 2026-01-05"
    )
    assert "## Skills" not in text


def test_old_entry_point_still_works(ws: Path) -> None:
    assert system_prompt(ws) == "You are Claw.\n\nThe user is Alex."
    assert clean("a <!-- x\ny --> b") == "a  b"


def test_skills_list(ws: Path) -> None:
    skills = [skill("github", "Work with\nGitHub."), skill("weather", "Forecasts.")]
    text = build(ws, skills=skills)
    section = text[text.index("## Skills") : text.index("## Runtime")]
    assert "skill_read" in section
    assert "- github: Work with GitHub.\n- weather: Forecasts." in section
    assert text.index("The user is Alex.") < text.index("## Skills")


def test_long_descriptions_are_shortened(ws: Path) -> None:
    text = build(ws, skills=[skill("long", "word " * 200)])
    line = next(ln for ln in text.splitlines() if ln.startswith("- long:"))
    assert len(line) < 320 and line.endswith("…")


def test_a_long_file_is_truncated_with_a_marker(ws: Path) -> None:
    (ws / "USER.md").write_text("u" * 1500)
    text = build(ws, max_file_chars=1000)
    assert "u" * 1000 in text and "u" * 1001 not in text
    assert "[USER.md truncated: 500 of 1,500 characters cut (prompt.max_file_chars is 1,000)]" in (
        text
    )
    assert text.startswith("You are Claw.") and "## Runtime" in text


def test_total_cap_cuts_later_parts_first_and_keeps_soul(ws: Path) -> None:
    (ws / "SOUL.md").write_text("S" * 900)
    (ws / "AGENTS.md").write_text("A" * 900)
    (ws / "USER.md").write_text("U" * 900)
    (ws / "TOOLS.md").write_text("T" * 900)
    text = build(ws, max_total_chars=2500, skills=[skill("s", "d")])
    assert len(text) <= 2500
    assert "S" * 900 in text and "A" * 900 in text  # the first parts are whole
    assert "## Runtime" in text and "- model: echo" in text  # facts always kept
    assert "[the skills list left out" in text or "[the skills list truncated" in text
    assert "[TOOLS.md left out: 900 characters" in text or "[TOOLS.md truncated" in text
    assert text.index("S" * 900) < text.index("A" * 900)


def test_total_cap_truncates_a_part_with_a_marker(ws: Path) -> None:
    (ws / "USER.md").write_text("U" * 3000)
    text = build(ws, max_total_chars=1500, facts={})
    assert len(text) <= 1500
    assert text.startswith("You are Claw.\n\nUUU")
    assert "[USER.md truncated:" in text and "of 3,000 characters cut to fit" in text


def test_soul_is_cut_last(ws: Path) -> None:
    (ws / "SOUL.md").write_text("S" * 5000)
    (ws / "USER.md").write_text("U" * 5000)
    text = build(ws, max_total_chars=1200, max_file_chars=10_000)
    assert len(text) <= 1200
    assert text.startswith("SSS") and "[SOUL.md truncated" in text
    assert "[USER.md left out" in text and "U" * 10 not in text
    assert "## Runtime" in text


def test_edits_are_seen_without_a_restart(ws: Path) -> None:
    assert "Alex" in build(ws)
    user = ws / "USER.md"
    user.write_text("The user is Sam.\n")
    touch_later(user)
    text = build(ws)
    assert "Sam" in text and "Alex" not in text
    (ws / "TOOLS.md").write_text("New tools file.")
    assert "New tools file." in build(ws)
    user.unlink()
    assert "Sam" not in build(ws)


def test_unreadable_bytes_do_not_break_the_prompt(ws: Path) -> None:
    (ws / "USER.md").write_bytes("Caf\xe9 owner".encode("latin-1"))
    assert "Caf\ufffd owner" in build(ws)
    (ws / "USER.md").unlink()
    (ws / "USER.md").mkdir()
    assert "You are Claw." in build(ws)
