"""When a job runs next: one-shot (`--at`), fixed intervals (`--every`), cron expressions.

Times are stored as UTC epoch seconds; cron expressions are evaluated on the wall clock of
the job's zone (zoneinfo), so "0 9 * * 1-5" in Europe/Paris is 09:00 Paris time in winter
and in summer. Around DST changes the rules are those of Vixie cron:
- a wall time that does not exist (spring forward: 02:30 in Paris on the last Sunday of
  March) runs at the same distance after the change (03:30 CEST), once;
- a wall time that happens twice (fall back) runs once, at its first occurrence, unless the
  expression's hour field is a wildcard (`*`, `*/2`, …): such jobs run by elapsed time and
  fire in the repeated hour too.
`--every` intervals are anchored at the job's creation, so they never drift and a restart
does not shift them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from claw.errors import UsageError
from claw.state.durations import format_duration, parse_duration

KINDS = ("at", "every", "cron")
MIN_EVERY_S = 1.0
ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_SEARCH_LIMIT = 1000  # candidates examined before deciding an expression never matches
_MAX_SHIFT = timedelta(hours=3)  # more than any DST change


@dataclass(frozen=True)
class Schedule:
    kind: str  # at | every | cron
    value: str  # at: ISO 8601 UTC instant; every: a duration ("30m"); cron: the expression
    tz: str  # IANA zone the job's times are read in
    anchor: float = 0.0  # every: the instant intervals are counted from

    def next_after(self, t: float) -> float | None:
        """The first run strictly after `t` (epoch seconds), None when there is none."""
        if self.kind == "at":
            at = parse_instant(self.value)
            return at if at > t else None
        if self.kind == "every":
            step = parse_duration(self.value)
            n = math.floor((t - self.anchor) / step) + 1 if t >= self.anchor else 0
            due = self.anchor + n * step
            return due if due > t else due + step
        return cron_next(self.value, zone(self.tz), t)

    def describe(self) -> str:
        if self.kind == "at":
            return f"at {format_local(parse_instant(self.value), self.tz)}"
        if self.kind == "every":
            return f"every {format_duration(parse_duration(self.value))}"
        return f"cron {self.value} ({self.tz})"


def make_schedule(
    *, at: datetime | None, every: str | None, cron: str | None, tz: str, now: float
) -> Schedule:
    """Validate exactly one of the three forms; errors name the flag at fault."""
    given = [name for name, v in (("--at", at), ("--every", every), ("--cron", cron)) if v]
    if len(given) != 1:
        raise UsageError(
            "give exactly one schedule: --at WHEN, --every DURATION or --cron EXPR"
            + (f" (got {' and '.join(given)})" if given else "")
        )
    zone(tz)
    if at is not None:
        # Stored with whole seconds, so "now" (this very second) is the next whole second:
        # truncated, it was stored before `now` and never ran.
        if at.timestamp() < now - 1.0:
            raise UsageError(f"--at: {format_local(at.timestamp(), tz)} is in the past")
        ts = float(max(math.ceil(at.timestamp()), math.floor(now) + 1))
        return Schedule("at", format_instant(ts), tz)
    if every is not None:
        try:
            step = parse_duration(every)
        except UsageError as e:
            raise UsageError(f"--every: {e.message}") from None
        if step < MIN_EVERY_S or step != int(step):
            raise UsageError(f"--every: use whole seconds, at least {MIN_EVERY_S:g}s")
        return Schedule("every", format_duration(step), tz, anchor=now)
    expr = normalise_cron(cron or "")
    if cron_next(expr, zone(tz), now) is None:
        raise UsageError(f"--cron: {cron!r} never matches a date")
    return Schedule("cron", expr, tz)


# -- cron expressions ---------------------------------------------------------------------


def normalise_cron(expr: str) -> str:
    """Five fields (minute hour day-of-month month day-of-week) or an @alias."""
    from croniter import croniter

    text = " ".join(expr.split())
    text = ALIASES.get(text.lower(), text)
    if len(text.split()) != 5 or not croniter.is_valid(text):
        raise UsageError(
            f"--cron: invalid expression {expr!r}",
            hint='five fields: minute hour day-of-month month day-of-week, e.g. "0 9 * * 1-5" '
            "(or @hourly, @daily, @weekly, @monthly, @yearly)",
        )
    return text


def cron_next(expr: str, tz: ZoneInfo, after: float) -> float | None:
    """The first instant strictly after `after` whose wall time in `tz` matches `expr`
    (None if it never does, e.g. "0 0 30 2 *")."""
    from croniter import CroniterError

    try:
        if "*" in expr.split()[1]:
            return _next_elapsed(expr, tz, after)
        return _next_fixed(expr, tz, after)
    except CroniterError:  # croniter gives up on dates that never come
        return None


def _next_fixed(expr: str, tz: ZoneInfo, after: float) -> float | None:
    from croniter import croniter

    # A wall time in a spring-forward gap lands after the change (fold=0 takes the offset
    # from before it: 02:30 becomes 03:30), so near a gap wall order is not time order:
    # start a DST shift early and keep the earliest instant after `after`.
    it = croniter(expr, _wall(after, tz) - _MAX_SHIFT)
    best: float | None = None
    stop = datetime.max  # a shift past the best candidate's wall time
    for _ in range(_SEARCH_LIMIT):
        wall: datetime = it.get_next(datetime)
        if wall > stop:
            break
        # fold=0: of two equal wall times (fall back), the first one only.
        instant = wall.replace(tzinfo=tz, fold=0).timestamp()
        if instant > after and (best is None or instant < best):
            best, stop = instant, wall + _MAX_SHIFT
    return best


def _next_elapsed(expr: str, tz: ZoneInfo, after: float) -> float | None:
    """For wildcard-hour expressions: walk the zone's fixed-offset stretches in order, so
    a repeated hour is matched again and a skipped hour is simply not there."""
    from croniter import croniter

    t, start = after, _wall(after, tz)
    for _ in range(_SEARCH_LIMIT):
        offset = _offset(tz, t)
        wall: datetime = croniter(expr, start).get_next(datetime)
        instant = (wall - offset).replace(tzinfo=UTC).timestamp()
        change = _first_change(tz, t, instant, offset)
        if change is None:
            return instant
        # Go on from the change, in the new offset; a match right at it counts.
        t = change
        start = _wall(change, tz) - timedelta(seconds=1)
    return None


def _wall(t: float, tz: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(t, tz).replace(tzinfo=None)


def _offset(tz: ZoneInfo, t: float) -> timedelta:
    return datetime.fromtimestamp(t, tz).utcoffset() or timedelta(0)


def _first_change(tz: ZoneInfo, a: float, b: float, offset: timedelta) -> float | None:
    """The first instant in (a, b] whose UTC offset differs from `offset`. Offsets change
    on whole seconds, at most a few times a year: day steps, then bisection, find it."""
    lo, end = math.floor(a), math.floor(b)
    while lo < end:
        hi = min(lo + 86400, end)
        if _offset(tz, hi) != offset:
            while hi - lo > 1:  # offset(lo) is the old one, offset(hi) the new one
                mid = (lo + hi) // 2
                lo, hi = (mid, hi) if _offset(tz, mid) == offset else (lo, mid)
            return float(hi)
        lo = hi
    return None


# -- zones and instants ---------------------------------------------------------------------


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(
            f"unknown time zone {name!r}", hint="use an IANA name such as Europe/Paris or UTC"
        ) from None


def default_zone_name(configured: str | None) -> str:
    """The job's zone when --tz is not given: user.timezone, else the system's (by name,
    so it can be stored), else UTC."""
    from claw.tasks.when import user_zone

    key = getattr(user_zone(configured), "key", None)
    if key and key != "localtime":
        return str(key)
    try:  # /etc/localtime copied rather than linked (containers): Debian names it here
        name = Path("/etc/timezone").read_text(encoding="utf-8").strip()
        ZoneInfo(name)
        return name
    except (OSError, ValueError, ZoneInfoNotFoundError):
        return "UTC"


def format_instant(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def parse_instant(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def format_local(ts: float | None, tz: str | None = None) -> str:
    """`2026-03-30 09:00 CEST` in `tz` (or the system's zone)."""
    if ts is None:
        return "-"
    moment = datetime.fromtimestamp(ts, zone(tz)) if tz else datetime.fromtimestamp(ts).astimezone()
    return moment.strftime("%Y-%m-%d %H:%M %Z")
