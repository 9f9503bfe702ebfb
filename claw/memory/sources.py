"""What memory indexes, and how each source is cut into chunks.

Sources, named by their path relative to the state directory (stable, readable, and the
key the index stores):
- `agents/<id>/MEMORY.md`                long-term facts (never decay with age)
- `agents/<id>/memory/YYYY-MM-DD.md`     daily notes (dated by their name)
- `sessions/transcripts/<key>.jsonl`     conversations (dated per message; agent from
                                         the session key)

Notes are cut at blank lines and headings into chunks of at most `chunk_chars`, each
remembering the line it starts on. Transcripts are cut per message, so appending to a
conversation only ever adds chunks (see `sync`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from claw.errors import InvalidName
from claw.state.home import Home
from claw.state.names import decode_component, validate_agent_id, validate_session_key
from claw.state.session_keys import DEFAULT_AGENT, agent_for

LONG_TERM = "MEMORY.md"
NOTES_DIR = "memory"
DAILY_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})\.md$")
KINDS = ("long_term", "daily", "session")
_COMMENT = re.compile(r"<!--.*?-->", re.S)


@dataclass(frozen=True)
class Source:
    rel: str  # path relative to the state directory
    kind: str  # long_term | daily | session
    agent: str
    session_key: str | None = None

    def path(self, home: Home) -> Path:
        return home.root / self.rel


@dataclass(frozen=True)
class Chunk:
    text: str
    line: int  # 1-based line of the source where it starts
    ts: float | None  # when it was written (None: timeless, e.g. MEMORY.md)
    role: str = ""  # user / assistant for transcript chunks

    @property
    def hash(self) -> str:
        return content_hash(self.text)


def content_hash(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def source_for(home: Home, path: Path) -> Source | None:
    """The Source a path is, or None if memory does not index it (or its name is unsafe)."""
    try:  # the listings and the watcher give paths under home.root: no syscalls then
        rel = path.relative_to(home.root)
    except ValueError:
        try:
            rel = path.resolve().relative_to(home.root.resolve())
        except ValueError:
            return None
    parts = rel.parts
    try:
        if len(parts) == 3 and parts[0] == "agents" and parts[2] == LONG_TERM:
            return Source(rel.as_posix(), "long_term", validate_agent_id(parts[1]))
        if (
            len(parts) == 4
            and parts[0] == "agents"
            and parts[2] == NOTES_DIR
            and DAILY_RE.match(parts[3])
        ):
            return Source(rel.as_posix(), "daily", validate_agent_id(parts[1]))
        if len(parts) == 3 and parts[:2] == ("sessions", "transcripts"):
            name = parts[2]
            if name.endswith(".jsonl") and not name.startswith("."):
                key = validate_session_key(decode_component(name[: -len(".jsonl")]))
                return Source(rel.as_posix(), "session", _agent_of(key, path), key)
    except Exception:  # a name that is not ours (bad agent id, undecodable key)
        return None
    return None


def _agent_of(key: str, path: Path) -> str:
    """The agent a transcript belongs to: the one its key names (`agent:<id>:...`), else
    the one its header names. A cron job or a free-form session may be any agent's, and
    filing it under the default agent would recall one agent's conversations in another's."""
    named = agent_for(None, key)
    if named is not None:
        return named
    try:
        with open(path, "rb") as f:
            head = json.loads(f.readline(64 * 1024) or b"{}")
        agent = head.get("agent") if isinstance(head, dict) else None
        return validate_agent_id(agent) if isinstance(agent, str) else DEFAULT_AGENT
    except (OSError, ValueError, InvalidName):  # gone (its chunks go by path) or no header
        return DEFAULT_AGENT


def note_sources(home: Home, agent: str | None = None) -> Iterator[Source]:
    """Every MEMORY.md and daily note, of one agent or all."""
    agents_dir = home.root / "agents"
    if agent is not None:
        dirs = [agents_dir / validate_agent_id(agent)]
    else:
        dirs = sorted(p for p in agents_dir.iterdir() if p.is_dir()) if agents_dir.is_dir() else []
    for d in dirs:
        candidates = [d / LONG_TERM]
        notes = d / NOTES_DIR
        if notes.is_dir():
            candidates += sorted(p for p in notes.iterdir() if DAILY_RE.match(p.name))
        for p in candidates:
            src = source_for(home, p) if p.is_file() else None
            if src is not None:
                yield src


def session_sources(home: Home, agent: str | None = None) -> Iterator[Source]:
    d = home.sessions_dir / "transcripts"
    if not d.is_dir():
        return
    for p in sorted(d.iterdir()):
        src = source_for(home, p)
        if src is not None and (agent is None or src.agent == agent):
            yield src


def daily_ts(name: str) -> float | None:
    """Noon UTC of the date in a daily note's name: its age is counted in whole days."""
    m = DAILY_RE.match(name)
    if not m:
        return None
    try:
        return datetime(int(m[1]), int(m[2]), int(m[3]), 12, tzinfo=UTC).timestamp()
    except ValueError:
        return None


def chunk_note(text: str, max_chars: int, ts: float | None) -> list[Chunk]:
    """One chunk per paragraph or top-level list item (a daily note's entries are list
    items), each remembering its first line; a heading is kept with the block after it,
    and a block longer than `max_chars` is cut. HTML comments (the starter files' hints)
    are not memories: they are blanked, keeping the line numbers."""
    text = _COMMENT.sub(lambda m: "\n" * m.group().count("\n"), text)
    blocks: list[tuple[int, list[str]]] = []
    pending: tuple[int, list[str]] | None = None  # headings waiting for their block
    for n, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped:
            if blocks and blocks[-1] is not pending:
                blocks.append((n, []))  # a blank line ends the block
            continue
        new_block = stripped.startswith("#") or _is_item(line) or not blocks or not blocks[-1][1]
        if stripped.startswith("#"):
            if pending is not None and blocks and blocks[-1] is pending:
                pending[1].append(line)
                continue
            pending = (n, [line])
            blocks.append(pending)
            continue
        if pending is not None and blocks and blocks[-1] is pending:
            pending[1].append(line)  # the heading's first block
            pending = None
            continue
        if new_block:
            blocks.append((n, [line]))
        else:
            blocks[-1][1].append(line)
    chunks: list[Chunk] = []
    for start, lines in blocks:
        body = "\n".join(lines).strip()
        if body:
            chunks.extend(Chunk(piece, start, ts) for piece in _split_long(body, max_chars))
    return chunks


def _is_item(line: str) -> bool:
    """A top-level Markdown list item: `- x`, `* x`, `+ x` or `1. x` at column 0."""
    return bool(re.match(r"([-*+]|\d+[.)])\s", line))


def _split_long(text: str, max_chars: int) -> list[str]:
    """Pieces of at most `max_chars`, cut at a line, then a sentence, then a space."""
    out: list[str] = []
    while len(text) > max_chars:
        window = text[:max_chars]
        cut = max(window.rfind("\n"), window.rfind(". ") + 1, window.rfind(" "))
        cut = cut if cut > max_chars // 3 else max_chars
        out.append(text[:cut].strip())
        text = text[cut:].strip()
    if text:
        out.append(text)
    return out


def chunk_transcript_lines(lines: list[bytes], first_line: int, max_chars: int) -> list[Chunk]:
    """Chunks of the user and assistant messages among complete JSONL lines.

    Failed turns (status error), tool results and empty messages say nothing worth
    recalling; an unparsable line is skipped (the transcript reader reports those).
    """
    chunks: list[Chunk] = []
    for i, raw in enumerate(lines):
        try:
            rec = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(rec, dict) or rec.get("type") != "message":
            continue
        role, content = rec.get("role"), rec.get("content")
        if role not in ("user", "assistant") or not isinstance(content, str):
            continue
        if rec.get("status") == "error" or not content.strip():
            continue
        ts = _parse_ts(rec.get("ts"))
        for piece in _split_long(content.strip(), max_chars):
            chunks.append(Chunk(piece, first_line + i, ts, role))
    return chunks


def _parse_ts(text: object) -> float | None:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
