"""Checks of config values that are strings with a meaning: IANA time zones, HH:MM
clock times and heartbeat targets. Run by `claw config set`, at load and on environment
overrides, so a typo is refused at once (exit 2, the file untouched) rather than failing
the next heartbeat or reminder hours later."""

from __future__ import annotations

from datetime import time
from typing import Any

from claw.errors import UsageError


def check_zone(value: Any, key: str) -> str:
    """An IANA zone name the system knows (zoneinfo), returned as given."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if not isinstance(value, str):
        raise UsageError(f"{key}: expected a time zone name, got {value!r}")
    try:
        ZoneInfo(value)
        return value
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise UsageError(
            f"{key}: unknown time zone {value!r}",
            hint=f"use an IANA name such as Europe/Paris or UTC; `claw config unset {key}` "
            "falls back to the default",
        ) from None


def parse_clock(value: Any, key: str) -> time:
    """'HH:MM' (00:00 to 24:00, 24:00 meaning the end of the day) as a time."""
    try:
        hours, minutes = (int(x) for x in value.split(":"))
        if not (0 <= hours <= 24 and 0 <= minutes <= 59 and (hours, minutes) <= (24, 0)):
            raise ValueError(value)
        return time(0, 0) if hours == 24 else time(hours, minutes)
    except (ValueError, AttributeError):
        raise UsageError(f"{key}: expected HH:MM (00:00 to 24:00), got {value!r}") from None


def check_target(value: Any, key: str) -> str:
    """A heartbeat target: last, none, or CHANNEL:PEER (checked before a run spends a
    model call on a reply that cannot be queued)."""
    if isinstance(value, str) and value in ("last", "none"):
        return value
    channel, sep, peer = value.partition(":") if isinstance(value, str) else ("", "", "")
    if not (sep and channel.strip() and peer.strip()):
        raise UsageError(
            f"{key}: expected last, none or CHANNEL:PEER (e.g. telegram:12345), got {value!r}"
        )
    return value
