"""Where the user last talked to an agent (`heartbeat/last_target.json`), for `target =
"last"`: inbound processing records it when a direct message routes to an agent, and
`claw chat` when it starts; until then "last" has no target and the heartbeat says so."""

from __future__ import annotations

import json
from pathlib import Path

from claw.delivery.service import parse_target
from claw.state.atomic import atomic_write_text
from claw.state.home import Home
from claw.state.locks import file_lock


def _path(home: Home) -> Path:
    return home.root / "heartbeat" / "last_target.json"


def last_target(home: Home, agent: str) -> str | None:
    try:
        data = json.loads(_path(home).read_text())
    except (FileNotFoundError, ValueError):
        return None
    value = data.get(agent) if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


def remember(home: Home, agent: str, channel: str, peer: str) -> None:
    """Note that `peer` on `channel` just talked to `agent`."""
    target = f"{channel}:{peer}"
    parse_target(target)
    with file_lock(home.locks_dir / "last_target.lock"):
        try:
            data = json.loads(_path(home).read_text())
        except (FileNotFoundError, ValueError):
            data = {}
        if data.get(agent) != target:
            data[agent] = target
            _path(home).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            atomic_write_text(_path(home), json.dumps(data, indent=1))
