"""Subagent records: who started which subagent, on what, and how it ended.

One small JSON file per subagent (`subagents/<id>.json`, written atomically, 0600), so
`claw sessions list` can put a subagent session under its parent, a spawned subagent
survives a crash (the daemon finishes it at its next start), and its report-back is
never lost nor sent twice (`reported`). While a record still needs work (running, or a
report not yet sent) an empty marker `subagents/open/<id>` exists: the daemon's start-up
looks only there, so its cost does not grow with every subagent that ever ran.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from claw.state.atomic import atomic_write_text
from claw.state.home import FILE_MODE, Home, make_private_dir
from claw.state.transcript import new_id

ID_RE = re.compile(r"sa_[0-9a-f]{12,32}")
OPEN = ("queued", "running")


@dataclass
class SubagentRecord:
    id: str
    agent: str
    parent: str  # the session that started it
    task: str
    origin: str  # multi (a multi-mode turn's part) | spawn (the spawn tool)
    timeout_s: float
    status: str = "queued"  # queued | running | ok | error | timeout | interrupted
    text: str = ""  # its answer, or why it failed
    created_at: float = 0.0
    started_at: float | None = None
    ended_at: float | None = None
    pid: int | None = None
    reported: bool = False  # spawn: the parent has been told
    report_message_id: str | None = None

    @property
    def key(self) -> str:
        return subagent_key(self.agent, self.id)


def subagent_key(agent: str, subagent_id: str) -> str:
    return f"agent:{agent}:subagent:{subagent_id}"


def id_of_key(key: str) -> str | None:
    """The subagent id of a subagent session key, else None."""
    parts = key.split(":")
    if len(parts) == 4 and parts[0] == "agent" and parts[2] == "subagent":
        return parts[3] if ID_RE.fullmatch(parts[3]) else None
    return None


def _dir(home: Home) -> Path:
    return home.root / "subagents"


def create(
    home: Home, agent: str, parent: str, task: str, origin: str, timeout_s: float
) -> SubagentRecord:
    rec = SubagentRecord(
        id=new_id("sa"),
        agent=agent,
        parent=parent,
        task=task,
        origin=origin,
        timeout_s=timeout_s,
        created_at=time.time(),
    )
    save(home, rec)
    return rec


def needs_work(rec: SubagentRecord) -> bool:
    return rec.status in OPEN or (rec.origin == "spawn" and not rec.reported)


def save(home: Home, rec: SubagentRecord) -> None:
    marker = _dir(home) / "open" / rec.id
    make_private_dir(marker.parent)
    if needs_work(rec):  # the marker first: a crash in between leaves one too many, not lost
        marker.touch(mode=FILE_MODE)
    data = json.dumps(asdict(rec), ensure_ascii=False, indent=1) + "\n"
    atomic_write_text(_dir(home) / f"{rec.id}.json", data, mode=FILE_MODE)
    if not needs_work(rec):
        marker.unlink(missing_ok=True)


def load(home: Home, subagent_id: str) -> SubagentRecord | None:
    if not ID_RE.fullmatch(subagent_id):
        return None
    try:
        raw = json.loads((_dir(home) / f"{subagent_id}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    names = {f.name for f in fields(SubagentRecord)}
    return SubagentRecord(**{k: v for k, v in raw.items() if k in names})


def open_records(home: Home) -> list[SubagentRecord]:
    """The records that still need work, oldest first (the daemon's start-up reads them)."""
    try:
        names = sorted(p.name for p in (_dir(home) / "open").iterdir())
    except OSError:
        return []
    return [r for r in (load(home, n) for n in names) if r is not None and needs_work(r)]


def mark(home: Home, rec: SubagentRecord, status: str, text: str = "") -> None:
    rec.status, rec.text = status, text
    if status == "running":
        rec.started_at, rec.pid = time.time(), os.getpid()
    elif status not in OPEN:
        rec.ended_at = time.time()
    save(home, rec)


def parents_of(home: Home, keys: list[str]) -> dict[str, str]:
    """The parent session of each subagent session among `keys` (others are left out)."""
    out: dict[str, str] = {}
    for key in keys:
        sub_id = id_of_key(key)
        rec = load(home, sub_id) if sub_id else None
        if rec is not None:
            out[key] = rec.parent
    return out


def nest(keys: list[str], parents: dict[str, str]) -> list[tuple[str, int]]:
    """`keys` in their order, each subagent session right under its parent when the parent
    is listed too: (key, depth) pairs, depth 1 for a child shown under its parent."""
    listed = set(keys)
    children: dict[str, list[str]] = {}
    for key in keys:
        if parents.get(key) in listed:
            children.setdefault(parents[key], []).append(key)
    out: list[tuple[str, int]] = []
    for key in keys:
        if parents.get(key) in listed:
            continue
        out.append((key, 0))
        out.extend((child, 1) for child in children.get(key, []))
    return out
