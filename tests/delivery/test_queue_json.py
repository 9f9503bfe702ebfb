"""The JSON that `claw queue ... --json` prints is an interface scripts rely on: each
command's shape is what the README's queue section documents, field for field."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from claw.state.config import set_value
from claw.state.home import Home

README = Path(__file__).resolve().parents[2] / "README.md"

ENTRY = {"id", "state", "channel", "account", "to", "parts", "preview", "attempts"}
ENTRY |= {"next_attempt_at", "last_error", "created_at", "failed_reason"}
WHOLE = {"id", "channel", "to", "parts", "account", "idempotency_key", "agent"}
WHOLE |= {"session_key", "reply_to", "thread", "inbound_id", "origin", "created_at", "attempts"}
WHOLE |= {"next_attempt_at", "last_error", "state", "parts_sent", "failed_reason", "failed_at"}
WHOLE |= {"seq"}
STATS = {"depth", "due", "sending", "failed", "oldest_age_s", "failures_by_reason"}
FLUSH = {"delivered", "retry", "failed", "not_due", "errors"}
RETRY = {"retried"}
PURGE = {"purged", "failed"}
SHAPES = {
    "queue list": ENTRY,
    "queue show": WHOLE,
    "queue stats": STATS,
    "queue flush": FLUSH,
    "queue retry": RETRY,
    "queue purge": PURGE,
}


def _json(cli, *args: str):
    r = cli(*args)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_every_queue_command_prints_the_documented_shape(cli, home: Home) -> None:
    set_value(home.config_file, "channels.mock.fail_to", "bob")
    assert cli("notify", "--channel", "mock", "--to", "alice", "hi alice").exit_code == 0
    assert cli("notify", "--channel", "mock", "--to", "bob", "hi bob").exit_code == 0
    listed = _json(cli, "queue", "list", "--json")
    assert len(listed) == 2 and all(set(e) == ENTRY for e in listed)
    assert set(_json(cli, "queue", "show", listed[0]["id"], "--json")) == WHOLE
    assert set(_json(cli, "queue", "stats", "--json")) == STATS
    flushed = _json(cli, "queue", "flush", "--json")
    assert set(flushed) == FLUSH and flushed["delivered"] == 1 and flushed["failed"] == 1
    failed = _json(cli, "queue", "list", "--failed", "--json")
    assert [set(e) for e in failed] == [ENTRY] and failed[0]["state"] == "failed"
    stats = _json(cli, "queue", "stats", "--json")
    assert stats["failures_by_reason"] == {"permanent: blocked": 1}
    retried = _json(cli, "queue", "retry", "--all", "--json")
    assert retried == {"retried": [failed[0]["id"]]}
    assert _json(cli, "queue", "retry", "--all", "--json") == {"retried": []}
    purged = _json(cli, "queue", "purge", "--yes", "--json")
    assert purged == {"purged": 1, "failed": False}
    assert _json(cli, "queue", "purge", "--failed", "--yes", "--json") == {
        "purged": 0,
        "failed": True,
    }


def _queue_section() -> str:
    text = README.read_text()
    start = text.index("## Delivering messages")
    return text[start : text.index("\n## ", start + 1)]


@pytest.mark.parametrize("command", sorted(SHAPES))
def test_the_readme_documents_each_shape(command: str) -> None:
    section = _queue_section()
    row = next((ln for ln in section.splitlines() if ln.startswith(f"| `claw {command}")), None)
    assert row is not None, f"README's queue section has no row for `claw {command}`"
    shape = re.search(r"`\[?\{([^}]*)\}\]?`", row)  # the first `{a, b}` or `[{a, b}]`
    assert shape is not None, row
    documented = set(shape.group(1).split(", "))
    assert documented == SHAPES[command], documented ^ SHAPES[command]
