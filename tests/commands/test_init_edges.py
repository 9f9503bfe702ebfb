"""`claw init` run again over a partly edited, partly missing workspace."""

from __future__ import annotations

import json
from pathlib import Path


def test_a_rerun_reports_every_file_it_kept(cli, home_path: Path) -> None:
    # The starter files init found in place were neither "created" nor "kept" in its
    # report (so `--json` said it kept only config.toml and gateway.token).
    assert cli("init").exit_code == 0
    main = home_path / "agents" / "main"
    (main / "USER.md").unlink()
    (main / "SOUL.md").write_text("You are Bob.\n")
    r = cli("init", "--json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert report["created"] == [str(main / "USER.md")]
    assert sorted(Path(p).name for p in report["kept"]) == [
        "AGENTS.md",
        "HEARTBEAT.md",
        "SOUL.md",
        "config.toml",
        "gateway.token",
    ]
    assert (main / "SOUL.md").read_text() == "You are Bob.\n"
    r = cli("init")
    assert r.exit_code == 0 and "Already initialised" in r.stdout, r.output


def test_force_rewrites_the_starter_files_in_place_atomically(cli, home_path: Path) -> None:
    # --force replaces a file by rename (a crash leaves the old or the new text, never a
    # truncated file); a hard link to the old file keeps the old text.
    assert cli("init").exit_code == 0
    soul = home_path / "agents" / "main" / "SOUL.md"
    soul.write_text("mine\n")
    backup = home_path / "soul-link"
    backup.hardlink_to(soul)
    r = cli("init", "--force", "--yes")
    assert r.exit_code == 0, r.output
    assert backup.read_text() == "mine\n"
    assert soul.read_text() != "mine\n"
    assert soul.stat().st_mode & 0o777 == 0o600
