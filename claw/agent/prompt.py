"""The system prompt, assembled from the agent's workspace files.

Files are read on every turn (they are small, and a user who edits SOUL.md expects the next
message to see it). HTML comments are stripped, so templates can carry guidance for the
person editing them without costing tokens.
"""

from __future__ import annotations

import re
from pathlib import Path

from claw.state.workspace import PROMPT_FILES

_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)


def clean(text: str) -> str:
    return _COMMENT.sub("", text).strip()


def system_prompt(workspace: Path) -> str:
    parts = []
    for name in PROMPT_FILES:
        try:
            body = clean((workspace / name).read_text(encoding="utf-8"))
        except (FileNotFoundError, UnicodeDecodeError):
            continue
        if body:
            parts.append(body)
    return "\n\n".join(parts)
