"""The labelled recall set (labelled_set.json) written into a state directory, and
recall@k measured on it. Shared by the tests and bench/memory.py."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from claw.memory.search import Recall
from claw.state import transcript
from claw.state.home import Home, make_private_dir
from claw.state.names import encode_component
from claw.state.sessions import SessionStore

DATA = Path(__file__).with_name("labelled_set.json")


@dataclass
class LabelledSet:
    now: float
    where: dict[str, tuple[str, int | None]]  # id -> (source, line or None: any line)
    queries: list[dict[str, Any]]


def load() -> dict[str, Any]:
    return json.loads(DATA.read_text(encoding="utf-8"))


def session_key(cid: str) -> str:
    return f"agent:main:direct:{cid}"


def session_source(cid: str) -> str:
    return f"sessions/transcripts/{encode_component(session_key(cid))}.jsonl"


def write(home: Home) -> LabelledSet:
    """Write every fact, note and conversation of the set as claw would have."""
    data = load()
    where: dict[str, tuple[str, int | None]] = {}
    agent_dir = home.agent_dir("main")
    make_private_dir(agent_dir / "memory")
    lines = ["# Long-term memory", ""]
    for fact in data["facts"]:
        lines.append(f"- {fact['text']}")
        where[fact["id"]] = ("agents/main/MEMORY.md", len(lines))
    (agent_dir / "MEMORY.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for note in data["notes"]:
        path = agent_dir / "memory" / f"{note['date']}.md"
        path.write_text(f"# {note['date']}\n\n- 09:00 {note['text']}\n", encoding="utf-8")
        where[note["id"]] = (f"agents/main/memory/{note['date']}.md", None)
    store = SessionStore(home, fsync=False)
    for conv in data["conversations"]:
        ts = datetime.fromisoformat(conv["date"] + "T12:00:00+00:00").timestamp()
        records = []
        for i, (role, text) in enumerate(conv["messages"]):
            rec = transcript.message(role, text)
            rec["ts"] = transcript.now_iso(ts + i)
            records.append(rec)
        store.append(session_key(conv["id"]), records, agent="main")
        where[conv["id"]] = (session_source(conv["id"]), None)
    store.close()
    now = datetime.fromisoformat(data["now"]).timestamp()
    return LabelledSet(now, where, data["queries"])


def hit(result: Any, target: tuple[str, int | None]) -> bool:
    source, line = target
    return result.source == source and (line is None or result.line == line)


def recall_at(found: list[Recall], labelled: LabelledSet) -> float:
    """Mean over queries of the share of expected sources among the results."""
    total = 0.0
    for rec, query in zip(found, labelled.queries, strict=True):
        targets = [labelled.where[i] for i in query["expect"]]
        total += sum(any(hit(r, t) for r in rec.results) for t in targets) / len(targets)
    return total / len(labelled.queries)
