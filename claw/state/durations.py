"""Durations as people write them in config and flags: "90s", "30m", "2h", "30d", "1h30m"."""

from __future__ import annotations

import re

from claw.errors import UsageError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")


def parse_duration(text: str | int | float) -> float:
    """Seconds in `text`; a bare number means seconds."""
    if isinstance(text, bool):
        raise UsageError(f"invalid duration {text!r}")
    if isinstance(text, int | float):
        if text < 0:
            raise UsageError(f"invalid duration {text!r}: it is negative")
        return float(text)
    s = str(text).strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", s):
        return float(s)
    parts = _PART.findall(s)
    if not s or "".join(n + u for n, u in parts) != s:
        raise UsageError(
            f"invalid duration {text!r}: use a number with a unit, e.g. 90s, 30m, 2h, 30d, 1h30m"
        )
    return sum(float(n) * _UNITS[u] for n, u in parts)


def format_duration(seconds: float) -> str:
    seconds = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
