"""An agent's workspace: the prompt files a user edits to shape the assistant."""

from __future__ import annotations

from pathlib import Path

from claw.state.atomic import atomic_write_text
from claw.state.home import Home, make_private_dir

PROMPT_FILES = ("SOUL.md", "AGENTS.md", "USER.md")

STARTERS: dict[str, str] = {
    "SOUL.md": """\
<!-- SOUL.md: who the assistant is. Sent as the start of the system prompt on every turn.
     Text inside HTML comments like this one is never sent to the model. -->
You are claw, a personal assistant. Answer clearly and briefly.
""",
    "AGENTS.md": """\
<!-- AGENTS.md: how this agent works: rules, habits, what to do and not to do.
     Example:
     - Prefer short answers; use lists for steps.
     - Ask before doing anything that cannot be undone. -->
""",
    "USER.md": """\
<!-- USER.md: facts about you that help the assistant, e.g.
     - Name: Alex
     - Time zone: Europe/Paris
     - Prefers answers in English -->
""",
    "HEARTBEAT.md": """\
<!-- HEARTBEAT.md: what the assistant should check on its own, periodically.
     A file with only comments, headings or empty checkboxes counts as empty, and then no
     periodic check runs (and no tokens are spent). Example:
# Checks
- [ ] Remind me of overdue tasks
-->
""",
}


def workspace_dir(home: Home, agent_id: str) -> Path:
    return home.agent_dir(agent_id)


def create_workspace(
    home: Home, agent_id: str, *, overwrite: bool = False, kept: list[Path] | None = None
) -> list[Path]:
    """Write the starter files that are missing (all of them with `overwrite`), each
    atomically; returns those written and adds those left as they were to `kept`."""
    root = workspace_dir(home, agent_id)
    make_private_dir(root)
    make_private_dir(root / "skills")
    written = []
    for name, text in STARTERS.items():
        path = root / name
        if overwrite or not path.exists():
            atomic_write_text(path, text, mode=0o600)
            written.append(path)
        elif kept is not None:
            kept.append(path)
    return written
