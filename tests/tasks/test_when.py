"""parse_when: ISO times and everyday phrases in the user's zone, exact across DST."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claw.errors import UsageError
from claw.tasks.when import parse_when, relative, user_zone, wall

PARIS = ZoneInfo("Europe/Paris")
NY = ZoneInfo("America/New_York")
# Saturday 2026-03-28 15:00 in Paris: the clocks spring forward the next night.
SAT = datetime(2026, 3, 28, 15, 0, tzinfo=PARIS)


def at(text: str, now: datetime = SAT, zone: ZoneInfo = PARIS) -> datetime:
    result = parse_when(text, now=now, zone=zone)
    assert result.tzinfo is not None
    return result


def elapsed(later: datetime, earlier: datetime) -> timedelta:
    """Real time between two instants (same-zone subtraction in Python is wall time)."""
    return later.astimezone(UTC) - earlier.astimezone(UTC)


def iso(text: str, now: datetime = SAT, zone: ZoneInfo = PARIS) -> str:
    return at(text, now, zone).isoformat()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-04-01T09:30", "2026-04-01T09:30:00+02:00"),
        ("2026-04-01 09:30", "2026-04-01T09:30:00+02:00"),
        ("2026-04-01t09:30", "2026-04-01T09:30:00+02:00"),
        ("2026-01-15 08:00:30", "2026-01-15T08:00:30+01:00"),
        ("2026-04-01T09:30+00:00", "2026-04-01T11:30:00+02:00"),  # the instant, shown local
        ("2026-04-01T07:30Z", "2026-04-01T09:30:00+02:00"),
        ("2026-04-01", "2026-04-01T09:00:00+02:00"),  # a day alone: 09:00
        ("2026-04-01 9pm", "2026-04-01T21:00:00+02:00"),
    ],
)
def test_iso_forms(text: str, expected: str) -> None:
    assert iso(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tomorrow 9am", "2026-03-29T09:00:00+02:00"),  # after the spring-forward night
        ("Tomorrow 09:30", "2026-03-29T09:30:00+02:00"),
        ("tomorrow at 9 a.m.", "2026-03-29T09:00:00+02:00"),
        ("9am tomorrow", "2026-03-29T09:00:00+02:00"),
        ("tomorrow", "2026-03-29T09:00:00+02:00"),
        ("today 17:00", "2026-03-28T17:00:00+01:00"),
        ("today 9am", "2026-03-28T09:00:00+01:00"),  # past, allowed: the caller decides
        ("tonight", "2026-03-28T20:00:00+01:00"),
        ("tonight 9:30", "2026-03-28T21:30:00+01:00"),
        ("tonight 11pm", "2026-03-28T23:00:00+01:00"),
        ("tonight midnight", "2026-03-29T00:00:00+01:00"),
        ("this evening", "2026-03-28T19:00:00+01:00"),
        ("tomorrow morning", "2026-03-29T09:00:00+02:00"),
        ("now", "2026-03-28T15:00:00+01:00"),
    ],
)
def test_days(text: str, expected: str) -> None:
    assert iso(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("fri 17:00", "2026-04-03T17:00:00+02:00"),
        ("FRIDAY 5PM", "2026-04-03T17:00:00+02:00"),
        ("monday 9am", "2026-03-30T09:00:00+02:00"),
        ("on mon at 9am", "2026-03-30T09:00:00+02:00"),
        ("thurs", "2026-04-02T09:00:00+02:00"),
        ("sat 16:00", "2026-03-28T16:00:00+01:00"),  # today, still ahead
        ("sat 14:00", "2026-04-04T14:00:00+02:00"),  # today, passed: next week
        ("sat", "2026-04-04T09:00:00+02:00"),  # 09:00 today has passed
        ("next sat 16:00", "2026-04-04T16:00:00+02:00"),  # next: never today
        ("sun", "2026-03-29T09:00:00+02:00"),
    ],
)
def test_weekdays(text: str, expected: str) -> None:
    assert iso(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("17:00", "2026-03-28T17:00:00+01:00"),  # later today
        ("9am", "2026-03-29T09:00:00+02:00"),  # passed today: tomorrow
        ("9:30pm", "2026-03-28T21:30:00+01:00"),
        ("12am", "2026-03-29T00:00:00+01:00"),
        ("12pm", "2026-03-29T12:00:00+02:00"),
        ("noon", "2026-03-29T12:00:00+02:00"),
        ("midnight", "2026-03-29T00:00:00+01:00"),
        ("15:00", "2026-03-28T15:00:00+01:00"),  # exactly now: now, not tomorrow
    ],
)
def test_bare_times_are_the_next_occurrence(text: str, expected: str) -> None:
    assert iso(text) == expected


@pytest.mark.parametrize(
    ("text", "delta"),
    [
        ("in 2h", timedelta(hours=2)),
        ("in 30m", timedelta(minutes=30)),
        ("in 30 min", timedelta(minutes=30)),
        ("in 90s", timedelta(seconds=90)),
        ("in 1h30m", timedelta(hours=1, minutes=30)),
        ("in 2 hours and 30 minutes", timedelta(hours=2, minutes=30)),
        ("in an hour", timedelta(hours=1)),
        ("2h", timedelta(hours=2)),
        ("+90s", timedelta(seconds=90)),
        ("IN 45 MINUTES", timedelta(minutes=45)),
    ],
)
def test_delays_in_elapsed_time(text: str, delta: timedelta) -> None:
    assert elapsed(at(text), SAT) == delta


def test_days_and_weeks_keep_the_wall_clock_across_dst() -> None:
    # Paris springs forward on 2026-03-29: one calendar day from Saturday 15:00 is Sunday
    # 15:00, only 23 hours later; "in 24h" is elapsed time.
    assert iso("in 1 day") == "2026-03-29T15:00:00+02:00"
    assert elapsed(at("in 1 day"), SAT) == timedelta(hours=23)
    assert iso("in 24h") == "2026-03-29T16:00:00+02:00"
    assert iso("in 1w") == "2026-04-04T15:00:00+02:00"
    assert iso("in 3 days") == "2026-03-31T15:00:00+02:00"
    # ... and back on 2026-10-25: that day has 25 hours.
    before = datetime(2026, 10, 24, 9, 0, tzinfo=PARIS)
    assert elapsed(at("in 1 day", before), before) == timedelta(hours=25)
    assert iso("in 1 day", before) == "2026-10-25T09:00:00+01:00"


def test_hours_across_the_spring_forward_gap() -> None:
    early = datetime(2026, 3, 29, 1, 30, tzinfo=PARIS)
    assert iso("in 2h", early) == "2026-03-29T04:30:00+02:00"
    assert elapsed(at("in 2h", early), early) == timedelta(hours=2)


def test_nonexistent_times_move_forward() -> None:
    assert iso("2026-03-29 02:30") == "2026-03-29T03:30:00+02:00"
    assert iso("tomorrow 2:30") == "2026-03-29T03:30:00+02:00"
    ny_before = datetime(2026, 3, 7, 12, 0, tzinfo=NY)
    assert iso("2026-03-08 02:30", ny_before, NY) == "2026-03-08T03:30:00-04:00"
    assert iso("sun 2:15am", ny_before, NY) == "2026-03-08T03:15:00-04:00"


def test_in_the_repeated_hour_a_passed_first_occurrence_is_passed() -> None:
    # 02:20 of the second pass (+01:00) is after 02:30 of the first (+02:00).
    second_pass = datetime(2026, 10, 25, 2, 20, fold=1, tzinfo=PARIS)
    assert second_pass.utcoffset() == timedelta(hours=1)
    assert iso("02:30", second_pass) == "2026-10-26T02:30:00+01:00"


def test_ambiguous_times_are_the_first_occurrence() -> None:
    assert iso("2026-10-25 02:30") == "2026-10-25T02:30:00+02:00"
    ny_before = datetime(2026, 10, 31, 12, 0, tzinfo=NY)
    assert iso("tomorrow 1:30am", ny_before, NY) == "2026-11-01T01:30:00-04:00"
    assert iso("2026-11-01 01:30", ny_before, NY) == "2026-11-01T01:30:00-04:00"


def test_new_york_weekday_and_tomorrow_on_its_dst_days() -> None:
    sat = datetime(2026, 3, 7, 22, 0, tzinfo=NY)
    assert iso("tomorrow 9am", sat, NY) == "2026-03-08T09:00:00-04:00"
    assert iso("in 1 day", sat, NY) == "2026-03-08T22:00:00-04:00"
    assert iso("in 4h", sat, NY) == "2026-03-08T03:00:00-04:00"  # 02:00 EST never happens
    assert iso("mon 08:15", sat, NY) == "2026-03-09T08:15:00-04:00"


def test_now_in_another_zone_or_naive() -> None:
    utc_now = SAT.astimezone(UTC)
    assert iso("17:00", utc_now) == "2026-03-28T17:00:00+01:00"
    naive = datetime(2026, 3, 28, 15, 0)
    assert iso("17:00", naive) == "2026-03-28T17:00:00+01:00"
    assert at("now", utc_now).tzinfo is PARIS


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "soon",
        "9",
        "25:00",
        "13pm",
        "0am",
        "12:61",
        "tomorrow fri",
        "9am 10am",
        "2026-13-01",
        "2026-02-30 9am",
        "in 2 months",
        "in a while",
        "in 99999999 days",
        "next",
        "next week",
        "yesterday-ish",
    ],
)
def test_errors_name_the_accepted_forms(text: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_when(text, now=SAT, zone=PARIS)
    assert "tomorrow 9am" in str(info.value) and "in 2h" in str(info.value)


def test_relative() -> None:
    assert relative(SAT + timedelta(hours=3), SAT) == "in 3h"
    assert relative(SAT + timedelta(days=2, hours=1, minutes=5), SAT) == "in 2d1h"
    assert relative(SAT + timedelta(days=2, minutes=5), SAT) == "in 2d"
    assert relative(SAT - timedelta(minutes=90), SAT) == "overdue 1h30m"
    assert relative(SAT + timedelta(seconds=30), SAT) == "due now"


def test_user_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    assert user_zone("Europe/Paris") == PARIS
    with pytest.raises(UsageError, match="Mars/Base"):
        user_zone("Mars/Base")
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    assert user_zone(None) == ZoneInfo("Asia/Tokyo")
    monkeypatch.delenv("TZ")
    assert datetime(2026, 1, 1, tzinfo=user_zone(None)).utcoffset() is not None


_ZONES = st.sampled_from([PARIS, NY, ZoneInfo("Australia/Sydney"), ZoneInfo("Asia/Kolkata")])
_NOWS = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31))


@settings(max_examples=300, deadline=None)
@given(_NOWS, _ZONES, st.integers(0, 23), st.integers(0, 59), st.integers(0, 6))
def test_weekday_and_clock_properties(now_naive, zone, hour, minute, weekday) -> None:
    now = wall(now_naive.date(), now_naive.time(), zone)
    clock = f"{hour:02d}:{minute:02d}"
    bare = parse_when(clock, now=now, zone=zone)
    assert timedelta(0) <= elapsed(bare, now) < timedelta(hours=26)
    name = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[weekday]
    day = parse_when(f"{name} {clock}", now=now, zone=zone)
    assert day.weekday() == weekday and timedelta(0) <= elapsed(day, now) < timedelta(days=8)
    for result in (bare, day):
        # The wall clock is the one asked for, unless it fell in a spring-forward gap.
        naive = result.replace(tzinfo=None)
        if (naive.hour, naive.minute) != (hour, minute):
            asked = naive.replace(hour=hour, minute=minute)
            assert wall(asked.date(), asked.time(), zone) == result
            assert result.utcoffset() > (result - timedelta(hours=3)).utcoffset()
