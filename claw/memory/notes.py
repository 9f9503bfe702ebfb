"""Writing memories: a line in today's note, or a long-term fact in MEMORY.md.

Both are plain Markdown the user can read and edit; claw only ever appends (under the
file's lock, in one write, fsynced), then indexes the file at once so the next search
finds what was just saved.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from claw.errors import UsageError
from claw.memory.sources import LONG_TERM, NOTES_DIR
from claw.state.config import Config
from claw.state.home import Home, make_private_dir
from claw.state.jsonl import append_locked
from claw.state.locks import lock_for

MAX_NOTE_CHARS = 4000


@dataclass
class Saved:
    path: Path
    source: str  # relative to the state directory
    long_term: bool
    text: str

    def to_dict(self) -> dict[str, object]:
        return {"source": self.source, "path": str(self.path), "long_term": self.long_term}


def save(
    home: Home,
    config: Config,
    agent: str,
    text: str,
    *,
    long_term: bool = False,
    now: datetime | None = None,
    index: bool = True,
) -> Saved:
    """Append `text` to the agent's note of today (in the user's zone) or to MEMORY.md."""
    from claw.tasks.when import user_zone

    body = text.strip()
    if not body:
        raise UsageError("nothing to remember: the text is empty")
    if len(body) > MAX_NOTE_CHARS:
        raise UsageError(f"a memory is at most {MAX_NOTE_CHARS} characters ({len(body)} given)")
    now = now or datetime.now(user_zone(config.get("user.timezone")))
    root = home.agent_dir(agent)
    if long_term:
        path, title = root / LONG_TERM, "# Long-term memory\n\n"
        entry = "- " + _indent(body) + "\n"
    else:
        make_private_dir(root / NOTES_DIR)
        path, title = root / NOTES_DIR / f"{now:%Y-%m-%d}.md", f"# {now:%Y-%m-%d}\n\n"
        entry = f"- {now:%H:%M} " + _indent(body) + "\n"
    make_private_dir(root)
    with lock_for(path):
        head = "" if path.exists() and path.stat().st_size else title
        append_locked(path, (head + entry).encode("utf-8"))
    saved = Saved(path, path.relative_to(home.root).as_posix(), long_term, body)
    if index and config.get("memory.enabled", True):
        from claw.memory.sync import Indexer

        Indexer(home, config).sync_paths([path])
    return saved


def _indent(text: str) -> str:
    """Continuation lines indented, so a multi-line memory stays one list item."""
    return "\n  ".join(line.rstrip() for line in text.splitlines())
