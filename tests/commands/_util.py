"""Helpers for the CLI tests: read transcripts straight from disk (the source of truth)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from claw.state.names import encode_component

MAIN = "agent:main:main"


def transcript_path(home_path: Path, key: str = MAIN) -> Path:
    return home_path / "sessions" / "transcripts" / f"{encode_component(key)}.jsonl"


def records(home_path: Path, key: str = MAIN) -> list[dict[str, Any]]:
    text = transcript_path(home_path, key).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def messages(home_path: Path, key: str = MAIN) -> list[dict[str, Any]]:
    return [r for r in records(home_path, key) if r.get("type") == "message"]
