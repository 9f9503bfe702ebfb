"""An agent's heartbeat settings (`[agents.<id>.heartbeat]`), defaults filled in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from claw.errors import ConfigError
from claw.state.config import Config
from claw.state.config_checks import parse_clock
from claw.state.durations import parse_duration

DEFAULT_PROMPT = (
    "This is a scheduled check (a heartbeat). Read the checklist below and act on it. "
    "If nothing needs the user's attention, reply with exactly HEARTBEAT_OK and nothing else. "
    "Otherwise reply with a short message for the user: only what needs attention, concrete."
)


@dataclass(frozen=True)
class Settings:
    agent: str
    enabled: bool = True
    every_s: float = 1800.0
    start: time | None = None  # active hours, in `zone`; None: always
    end: time | None = None
    zone: str | None = None  # IANA; None: the user's zone, else the system's
    target: str = "last"  # last | none | CHANNEL:PEER
    model: str | None = None
    prompt: str = DEFAULT_PROMPT
    ack_max_chars: int = 300
    dedup_window_s: float = 86400.0

    def tz(self) -> ZoneInfo | None:
        if not self.zone:
            return None
        try:
            return ZoneInfo(self.zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                f"agents.{self.agent}.heartbeat: unknown time zone {self.zone!r}"
            ) from None

    def in_active_hours(self, now: datetime) -> bool:
        """Wall-clock hours in the configured zone: a window may cross midnight
        ("22:00"-"06:00"), and a DST change moves the window with the clocks. Equal ends
        ("00:00"-"24:00") are the whole day, not an empty window that never opens."""
        if self.start is None or self.end is None or self.start == self.end:
            return True
        local = now.astimezone(self.tz()).time() if self.zone else now.astimezone().time()
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


def settings_for(config: Config, agent: str) -> Settings:
    section = dict(config.get(f"agents.{agent}.heartbeat") or {})
    hours = dict(section.get("active_hours") or {})
    key = f"agents.{agent}.heartbeat"
    start = hours.get("start")
    end = hours.get("end")
    if (start is None) != (end is None):
        raise ConfigError(f"{key}.active_hours: give both start and end")
    settings = Settings(
        agent=agent,
        enabled=bool(section.get("enabled", True)),
        every_s=parse_duration(section.get("every", "30m")),
        start=parse_clock(start, f"{key}.active_hours.start") if start else None,
        end=parse_clock(end, f"{key}.active_hours.end") if end else None,
        zone=hours.get("timezone") or config.get("user.timezone") or None,
        target=str(section.get("target") or "last"),
        model=section.get("model") or None,
        prompt=str(section.get("prompt") or DEFAULT_PROMPT),
        ack_max_chars=int(section.get("ack_max_chars", 300)),
        dedup_window_s=parse_duration(section.get("dedup_window", "24h")),
    )
    settings.tz()  # an unknown zone is a config error now, before any part of a run
    return settings
