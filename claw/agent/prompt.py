"""The system prompt, assembled from the agent's workspace files, its skills and runtime facts.

Files are checked on every turn (a user who edits SOUL.md expects the next message to see
it, without a restart) but only re-read when their mtime or size changed. HTML comments are
stripped, so templates can carry guidance for the person editing them without costing
tokens.

The prompt is bounded twice: each file by `prompt.max_file_chars`, the whole by
`prompt.max_total_chars`. Cuts are never silent: a marker names the file and how much was
left out, so both the model and a user reading a transcript can tell. When the whole is too
long, later parts give way first (the skills list, then TOOLS.md, USER.md, AGENTS.md) and
SOUL.md, the assistant's identity, goes last. The runtime facts are a few generated lines
and are always kept: without them the model does not know the date.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from claw.state.workspace import PROMPT_FILES

if TYPE_CHECKING:
    from claw.agent.skills import Skill

PROMPT_ORDER = (*PROMPT_FILES, "TOOLS.md")
SEPARATOR = "\n\n"
MIN_KEPT = 100  # below this, a part cut to fit the total is left out rather than kept as a stub
MAX_DESCRIPTION = 300

_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_cache: dict[Path, tuple[int, int, str]] = {}  # path -> (mtime_ns, size, cleaned text)
_lock = threading.Lock()


def clean(text: str) -> str:
    return _COMMENT.sub("", text).strip()


def read_prompt_file(path: Path) -> str:
    """A workspace file, comments stripped; '' if missing or unreadable. Cached by mtime."""
    try:
        st = path.stat()
    except OSError:
        return ""
    with _lock:
        hit = _cache.get(path)
    if hit and hit[:2] == (st.st_mtime_ns, st.st_size):
        return hit[2]
    try:
        # errors="replace": a file saved in another encoding is still mostly readable.
        text = clean(path.read_bytes().decode("utf-8", "replace"))
    except OSError:
        return ""
    with _lock:
        _cache[path] = (st.st_mtime_ns, st.st_size, text)
    return text


def system_prompt(workspace: Path) -> str:
    """SOUL.md, AGENTS.md and USER.md as they are, without limits or extra sections."""
    return SEPARATOR.join(t for name in PROMPT_FILES if (t := read_prompt_file(workspace / name)))


@dataclass
class _Part:
    label: str
    text: str
    original: int  # characters before any cut, for the markers


def build_system_prompt(
    workspace: Path,
    *,
    skills: Sequence[Skill],
    facts: Mapping[str, str],
    max_file_chars: int,
    max_total_chars: int,
) -> str:
    """The full system prompt: workspace files, the skills list, then the runtime facts."""
    parts: list[_Part] = []
    for name in PROMPT_ORDER:
        text = read_prompt_file(workspace / name)
        if text:
            parts.append(_Part(name, cap_file(name, text, max_file_chars), len(text)))
    if skills:
        section = skills_section(skills)
        parts.append(_Part("the skills list", section, len(section)))
    runtime = runtime_section(facts)
    return _fit(parts, runtime, max_total_chars)


def cap_file(name: str, text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = len(text) - limit
    return (
        f"{text[:limit]}\n…[{name} truncated: {cut:,} of {len(text):,} characters cut "
        f"(prompt.max_file_chars is {limit:,})]"
    )


def skills_section(skills: Sequence[Skill]) -> str:
    lines = [
        "## Skills",
        "Skills are instructions for particular tasks. When one fits the request, call "
        "skill_read with its name and follow what it says.",
    ]
    for skill in skills:
        # Skills are untrusted text: one line each, so a description cannot add sections.
        description = " ".join(skill.description.split())
        if len(description) > MAX_DESCRIPTION:
            description = description[: MAX_DESCRIPTION - 1] + "…"
        lines.append(f"- {skill.name}: {description}")
    return "\n".join(lines)


def runtime_section(facts: Mapping[str, str]) -> str:
    if not facts:
        return ""
    lines = [f"- {key}: {' '.join(str(value).split())}" for key, value in facts.items()]
    return "## Runtime\n" + "\n".join(lines)


def _fit(parts: list[_Part], runtime: str, limit: int) -> str:
    """Join the parts, cutting from the last one backwards until the whole fits `limit`."""

    def joined() -> str:
        return SEPARATOR.join([p.text for p in parts if p.text] + ([runtime] if runtime else []))

    text = joined()
    for part in reversed(parts):
        over = len(text) - limit
        if over <= 0:
            return text
        part.text = _shrink(part, len(part.text) - over)
        text = joined()
    return text[:limit]  # only when the runtime facts alone exceed the limit


def _shrink(part: _Part, room: int) -> str:
    """`part` in at most `room` characters (marker included), or a note that it was left out."""

    def marker(kept: int) -> str:
        return (
            f"\n…[{part.label} truncated: {part.original - kept:,} of {part.original:,} "
            "characters cut to fit prompt.max_total_chars]"
        )

    keep = room - len(marker(0))  # the longest the marker can be
    if keep < MIN_KEPT:
        return (
            f"[{part.label} left out: {part.original:,} characters did not fit "
            "prompt.max_total_chars]"
        )
    return part.text[:keep] + marker(keep)
