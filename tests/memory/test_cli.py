"""`claw memory search / index / add / status`, run for real."""

from __future__ import annotations

import json

from claw.state.home import Home
from tests.conftest import run_claw
from tests.memory import labelled


def test_add_then_search_and_status(home: Home, cli) -> None:
    r = cli("memory", "add", "The bike lock code is 4812")
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("saved to agents/main/memory/") and r.stdout.strip().endswith(".md")
    r = cli("memory", "add", "--long-term", "Alex prefers tea to coffee", "--json")
    assert json.loads(r.stdout)["source"] == "agents/main/MEMORY.md"
    assert "- Alex prefers tea to coffee" in (home.agent_dir("main") / "MEMORY.md").read_text()

    r = cli("memory", "search", "bike lock code", "-k", "1", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["mode"] in ("hybrid", "keyword-only") and len(out["results"]) == 1
    best = out["results"][0]
    assert "4812" in best["snippet"] and best["date"] and best["kind"] == "daily"

    r = cli("memory", "search", "tea")
    assert r.exit_code == 0
    assert r.stdout.startswith("1. agents/main/MEMORY.md:1  long-term")
    assert "bike" not in r.stdout  # nothing in common with "tea": not a result

    r = cli("memory", "status", "--json")
    status = json.loads(r.stdout)
    assert status["sources"] == {"long_term": 1, "daily": 1, "session": 0}
    assert status["chunks"] == 2 and status["size_bytes"] > 0
    r = cli("memory", "status")
    assert "mode:" in r.stdout and "chunks:  2" in r.stdout
    private = [home.root / "memory", home.agent_dir("main") / "memory"]
    assert all(p.stat().st_mode & 0o777 == 0o700 for p in private)
    files = [home.root / "memory" / "index.sqlite", home.agent_dir("main") / "MEMORY.md"]
    files += list((home.agent_dir("main") / "memory").iterdir())
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in files)


def test_keyword_only_is_said_in_search_and_status(home: Home) -> None:
    env = {"CLAW_MEMORY__EMBEDDING_MODEL": "none"}
    assert run_claw("memory", "add", "Plumber comes Monday", env=env).returncode == 0
    r = run_claw("memory", "search", "plumber", env=env)
    assert r.returncode == 0, r.stderr
    assert "keyword-only search: no embedding model configured" in r.stderr
    assert "Plumber comes Monday" in r.stdout
    r = run_claw("memory", "status", env=env)
    assert "mode:    keyword-only (no embedding model configured)" in r.stdout


def test_index_reports_changes_and_rebuilds_without_a_bar_off_a_terminal(home: Home) -> None:
    labelled.write(home)
    r = run_claw("memory", "index", "--json")
    assert r.returncode == 0, r.stderr
    first = json.loads(r.stdout)
    assert first["sources"] == 58 - 7 and first["chunks_added"] > 50  # 8 facts: one MEMORY.md
    assert "indexing" not in r.stderr  # no progress bar when stderr is not a terminal
    again = json.loads(run_claw("memory", "index", "--json").stdout)
    assert again["updated"] == [] and again["chunks_added"] == 0
    r = run_claw("memory", "index", "--rebuild")
    assert r.returncode == 0, r.stderr
    assert f"{first['sources']} sources: {first['sources']} updated" in r.stdout


def test_errors_are_clear(home: Home, cli) -> None:
    r = cli("memory", "add", "   ")
    assert r.exit_code == 2 and "nothing to remember" in r.output
    r = cli("memory", "add", "x", "--agent", "ghost")
    assert r.exit_code == 1 and "unknown agent 'ghost'" in r.output
    r = cli("memory", "search", "x", "--agent", "../etc")
    assert r.exit_code == 2
    r = cli("memory", "index", "--rebuild", "--agent", "main")
    assert r.exit_code == 2 and "--rebuild" in r.output
    r = cli("config", "set", "memory.enabled", "false")
    r = cli("memory", "search", "x")
    assert r.exit_code == 1 and "memory is turned off" in r.output


def test_index_shows_a_progress_bar_on_a_terminal(home: Home) -> None:
    import os
    import pty
    import subprocess
    import sys

    labelled.write(home)
    main, sub = pty.openpty()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "claw", "memory", "index"],
            stderr=sub,
            stdout=subprocess.PIPE,
            text=True,
            timeout=120,
        )
        os.close(sub)
        sub = -1
        shown = b""
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the terminal's other end is closed: all read
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(main)
        if sub != -1:
            os.close(sub)
    assert proc.returncode == 0
    assert b"indexing" in shown and b"100%" in shown
    assert "51 sources: 51 updated" in proc.stdout


def test_help_does_not_load_the_memory_machinery() -> None:
    import subprocess
    import sys

    r = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "claw", "memory", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0 and "search" in r.stdout, r.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in r.stderr.splitlines()}
    heavy = {"numpy", "sqlite3", "wordllama", "tokenizers", "safetensors", "claw.memory.search"}
    assert "claw.cli" in imported and not imported & heavy


def test_a_corrupt_index_is_rebuilt_from_the_notes(home: Home, cli) -> None:
    """The index is a cache of the files: one SQLite cannot read is rebuilt, not an
    'internal error' that even `--rebuild` repeats."""
    assert cli("memory", "add", "The bike lock code is 4812").exit_code == 0
    path = home.root / "memory" / "index.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    r = cli("memory", "status", "--json")
    assert r.exit_code == 0, r.output
    r = cli("memory", "search", "bike lock", "--json")
    assert r.exit_code == 0, r.output
    assert "4812" in json.loads(r.stdout)["results"][0]["snippet"]
    assert path.stat().st_mode & 0o777 == 0o600
    path.write_bytes(b"garbage")
    assert cli("memory", "index", "--rebuild").exit_code == 0


def test_an_unknown_agent_or_an_empty_query_is_a_usage_error(home: Home, cli) -> None:
    """A typo in --agent must not look like 'nothing remembered'; an empty query is bad
    input (exit 2), as the gateway's -32602 for it says."""
    r = cli("memory", "search", "lock", "--agent", "ghost")
    assert r.exit_code == 1 and "unknown agent 'ghost'" in r.output
    r = cli("memory", "index", "--agent", "ghost")
    assert r.exit_code == 1 and "unknown agent 'ghost'" in r.output
    r = cli("memory", "search", "  ")
    assert r.exit_code == 2 and "the query is empty" in r.output
