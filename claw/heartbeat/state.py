"""What the heartbeat remembers per agent (`heartbeat/<agent>.json`), across restarts:
when it was first armed and last ran, the last outcome and why, and the fingerprints of
messages it sent inside the dedup window, and a run in flight (see `pending_at`)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from claw.state.atomic import atomic_write_text
from claw.state.home import Home
from claw.state.names import validate_agent_id


@dataclass
class HeartbeatState:
    agent: str
    armed_at: float = 0.0  # first seen: the first run is one interval after this
    last_run_at: float | None = None  # the model was last called
    last_check_at: float | None = None
    last_outcome: str | None = None
    last_reason: str | None = None
    next_due_at: float | None = None
    sent: dict[str, float] = field(default_factory=dict)  # fingerprint -> sent at
    # Saved before the model is called, cleared with the run's outcome: still set at the
    # next run, it names a run that crashed, whose message may have been queued already.
    pending_at: float | None = None
    # The due tasks (id@due) the model last looked at, and when: the same overdue tasks
    # are not worth a model call (and a nag) every interval, only once per dedup window.
    tasks_seen: list[str] = field(default_factory=list)
    tasks_seen_at: float | None = None

    @staticmethod
    def path(home: Home, agent: str) -> Path:
        return home.root / "heartbeat" / f"{validate_agent_id(agent)}.json"

    @classmethod
    def load(cls, home: Home, agent: str, now: float) -> HeartbeatState:
        try:
            data = json.loads(cls.path(home, agent).read_text())
            known = set(cls.__dataclass_fields__)
            return cls(**{k: v for k, v in data.items() if k in known})
        except (FileNotFoundError, ValueError, TypeError):
            return cls(agent=agent, armed_at=now)

    def save(self, home: Home) -> None:
        path = self.path(home, self.agent)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(asdict(self), indent=1))

    def prune(self, now: float, window_s: float) -> None:
        self.sent = {fp: at for fp, at in self.sent.items() if now - at < window_s}
