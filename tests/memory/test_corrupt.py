"""An index that SQLite finds corrupt in the middle of a query (its first pages, read
when it is opened, are fine) is rebuilt from the notes and the query answered: by
`claw memory search`, `claw memory status`, and the memory_search tool in a turn."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from claw.agent.tools.base import ToolContext, ToolRegistry
from claw.memory.tools import memory_tools
from claw.state.config import set_value
from claw.state.home import Home

LINES = 300  # enough text that the chunks and the full-text index span many pages


def _notes(home: Home) -> None:
    set_value(home.config_file, "memory.embedding_model", "none")
    text = "".join(
        f"- garden fact {i}: tomatoes and zucchini in row {i}, lorem ipsum dolor sit amet\n"
        for i in range(LINES)
    )
    (home.agent_dir("main") / "MEMORY.md").write_text(text + "- the bike lock code is 4812\n")


def corrupt_data_pages(path: Path) -> None:
    """Overwrite every page after the tables' root pages: opening the index and reading
    its schema and `meta` still work; a search reads the ruined pages."""
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page = db.execute("PRAGMA page_size").fetchone()[0]
    count = db.execute("PRAGMA page_count").fetchone()[0]
    last_root = db.execute("SELECT MAX(rootpage) FROM sqlite_master").fetchone()[0]
    db.close()
    assert count > last_root + 4, "the index is too small to corrupt its data only"
    with path.open("r+b") as f:
        f.seek(last_root * page)
        f.write(b"\xff" * (count - last_root) * page)
    check = sqlite3.connect(path)  # as the fix in MemoryIndex.__init__ would: opens fine
    assert check.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
    with pytest.raises(sqlite3.DatabaseError):
        check.execute("SELECT COUNT(*) FROM chunks_fts WHERE chunks_fts MATCH 'tomatoes'")
        check.execute("SELECT SUM(LENGTH(text)) FROM chunks").fetchall()
    check.close()


@pytest.fixture
def corrupt(home: Home, cli) -> Path:
    _notes(home)
    assert cli("memory", "index").exit_code == 0
    path = home.root / "memory" / "index.sqlite"
    corrupt_data_pages(path)
    return path


def test_search_rebuilds_an_index_corrupt_mid_query(cli, corrupt: Path) -> None:
    r = cli("memory", "search", "bike lock code", "-k", "1", "--json")
    assert r.exit_code == 0, r.output
    assert "internal error" not in r.stderr
    assert "corrupt" in r.stderr and "rebuil" in r.stderr  # said, not hidden
    assert "4812" in json.loads(r.stdout)["results"][0]["snippet"]
    again = cli("memory", "search", "bike lock code", "-k", "1")
    assert again.exit_code == 0 and "corrupt" not in again.stderr  # rebuilt once, for good
    assert corrupt.stat().st_mode & 0o777 == 0o600


def test_status_rebuilds_an_index_corrupt_mid_query(cli, corrupt: Path) -> None:
    r = cli("memory", "status", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["chunks"] >= 1


def test_the_memory_search_tool_rebuilds_it(home: Home, corrupt: Path) -> None:
    reg = ToolRegistry()
    for tool in memory_tools():
        reg.register(tool)
    ctx = ToolContext("main", home.agent_dir("main"), "agent:main:main", home_root=home.root)
    r = reg.call("memory_search", '{"query": "bike lock code", "k": 1}', ctx)
    assert not r.is_error, r.content
    assert "4812" in r.content


def test_a_sync_that_meets_the_corruption_rebuilds_the_index(home: Home, cli, corrupt) -> None:
    # A changed note makes the sync read its old chunks, on the ruined pages.
    with (home.agent_dir("main") / "MEMORY.md").open("a") as f:
        f.write("- the boat is moored at pier 9\n")
    r = cli("memory", "index", "--json")
    assert r.exit_code == 0, r.output
    assert "corrupt" in r.stderr
    r = cli("memory", "search", "boat pier", "-k", "1", "--json")
    assert r.exit_code == 0 and "pier 9" in json.loads(r.stdout)["results"][0]["snippet"]
