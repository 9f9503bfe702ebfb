"""Defects of the agent loop found after it shipped (issue #3): a message too long for
the model, reasoning from a failed attempt, provider-less tool call ids, skill warnings."""

from __future__ import annotations

import logging
import os
from typing import Any

import pytest

from claw.state.home import Home
from tests import scripted
from tests.agent._helpers import msgs, turn

# -- tool call ids the provider did not give ---------------------------------------------------


@pytest.mark.timeout(60)
def test_generated_tool_call_ids_are_unique_across_rounds_and_turns(home: Home) -> None:
    def call(name: str) -> dict[str, Any]:
        return {"name": name, "arguments": {}, "id": ""}

    scripted.install(
        [
            {"text": "", "tool_calls": [call("current_time"), call("list_dir")]},
            {"text": "", "tool_calls": [call("current_time")]},
            "Done.",
            {"text": "", "tool_calls": [call("current_time")]},
            "Again.",
        ]
    )
    turn(home, "time?", model="scripted/test")
    turn(home, "and now?", model="scripted/test")
    records = msgs(home)
    ids = [c["id"] for m in records for c in m.get("tool_calls", [])]
    assert len(ids) == 4 and len(set(ids)) == 4, ids
    assert all(i.startswith("call_") and len(i) <= 40 for i in ids), ids
    results = [m["tool_call_id"] for m in records if m["role"] == "tool"]
    assert results == ids  # each result answers its own call


# -- skill warnings ------------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_a_skill_warning_is_logged_once_per_version_of_the_file(
    home: Home, caplog: pytest.LogCaptureFixture
) -> None:
    """A daemon runs many turns: a broken skill must not flood its log, yet an edit that
    leaves it broken is worth saying again."""
    bad = home.agent_dir("main") / "skills" / "broken" / "SKILL.md"
    bad.parent.mkdir(parents=True)
    bad.write_text("no front matter here\n")
    scripted.install(["One.", "Two.", "Three."])
    caplog.set_level(logging.WARNING)

    def warned() -> int:
        return sum(str(bad) in r.getMessage() for r in caplog.records)

    turn(home, "one", model="scripted/test")
    turn(home, "two", model="scripted/test")
    assert warned() == 1
    st = bad.stat()
    os.utime(bad, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))  # a new version
    turn(home, "three", model="scripted/test")
    assert warned() == 2
