"""Next-run computation: cron expressions in a zone (across DST), intervals, one-shots."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

from claw.cron.schedule import Schedule, cron_next, make_schedule, normalise_cron
from claw.errors import UsageError

PARIS = ZoneInfo("Europe/Paris")


def paris(*args: int) -> float:
    return datetime(*args, tzinfo=PARIS).timestamp()


def runs(expr: str, start: float, n: int, tz: ZoneInfo = PARIS) -> list[str]:
    """The next `n` runs as Paris wall times with their offset."""
    out, t = [], start
    for _ in range(n):
        nxt = cron_next(expr, tz, t)
        assert nxt is not None and nxt > t
        out.append(datetime.fromtimestamp(nxt, tz).isoformat())
        t = nxt
    return out


def test_weekdays_at_nine_in_paris_across_the_spring_dst_change() -> None:
    # 2026-03-29 (a Sunday): Paris goes from +01:00 to +02:00 at 02:00.
    got = runs("0 9 * * 1-5", paris(2026, 3, 26, 12), 4)
    assert got == [
        "2026-03-27T09:00:00+01:00",  # Friday, winter time: 08:00 UTC
        "2026-03-30T09:00:00+02:00",  # Monday, summer time: 07:00 UTC; the weekend skipped
        "2026-03-31T09:00:00+02:00",
        "2026-04-01T09:00:00+02:00",
    ]
    friday = cron_next("0 9 * * 1-5", PARIS, paris(2026, 3, 26, 12))
    monday = cron_next("0 9 * * 1-5", PARIS, friday or 0)
    assert datetime.fromtimestamp(friday or 0, UTC).hour == 8
    assert datetime.fromtimestamp(monday or 0, UTC).hour == 7


def test_the_same_expression_in_another_zone() -> None:
    ny = ZoneInfo("America/New_York")
    start = datetime(2026, 3, 6, 12, tzinfo=ny).timestamp()  # US DST starts 2026-03-08
    assert runs("0 9 * * 1-5", start, 2, ny) == [
        "2026-03-09T09:00:00-04:00",
        "2026-03-10T09:00:00-04:00",
    ]


def test_a_time_in_the_spring_gap_runs_once_after_the_change() -> None:
    assert runs("30 2 * * *", paris(2026, 3, 28, 12), 3) == [
        "2026-03-29T03:30:00+02:00",  # 02:30 does not exist that night
        "2026-03-30T02:30:00+02:00",
        "2026-03-31T02:30:00+02:00",
    ]


def test_from_inside_the_gap_day_the_shifted_run_is_still_ahead() -> None:
    assert runs("30 2 * * *", paris(2026, 3, 29, 3, 10), 1) == ["2026-03-29T03:30:00+02:00"]
    # 02:15 and 03:15 are one instant that day, and so are 02:30 and 03:30: one run each
    assert runs("15,30 2-3 * * *", paris(2026, 3, 29, 1), 3) == [
        "2026-03-29T03:15:00+02:00",
        "2026-03-29T03:30:00+02:00",
        "2026-03-30T02:15:00+02:00",
    ]


def test_a_repeated_time_runs_once_but_wildcard_hours_run_in_both() -> None:
    # 2026-10-25: Paris goes back from 03:00 +02:00 to 02:00 +01:00.
    assert runs("30 2 * * *", paris(2026, 10, 24, 12), 2) == [
        "2026-10-25T02:30:00+02:00",
        "2026-10-26T02:30:00+01:00",
    ]
    assert runs("*/30 * * * *", paris(2026, 10, 25, 1, 40), 6) == [
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:30:00+02:00",
        "2026-10-25T02:00:00+01:00",
        "2026-10-25T02:30:00+01:00",
        "2026-10-25T03:00:00+01:00",
        "2026-10-25T03:30:00+01:00",
    ]
    # and across the spring gap, a wildcard-hour job keeps its elapsed-time rhythm
    assert runs("30 * * * *", paris(2026, 3, 29, 1), 2) == [
        "2026-03-29T01:30:00+01:00",
        "2026-03-29T03:30:00+02:00",
    ]


def test_rare_dates_and_aliases() -> None:
    assert runs("0 * 29 2 *", paris(2026, 7, 1), 1) == ["2028-02-29T00:00:00+01:00"]
    assert normalise_cron("@daily") == "0 0 * * *"
    assert normalise_cron("  0  9 * *   1-5 ") == "0 9 * * 1-5"


@settings(max_examples=500, deadline=None)
@given(
    st.sampled_from(
        ["0 9 * * 1-5", "*/15 * * * *", "30 2 * * *", "15,30 2-3 * * *", "0 */3 * * 6,0"]
    ),
    st.one_of(
        st.integers(min_value=int(paris(2026, 1, 1)), max_value=int(paris(2027, 12, 31))),
        st.integers(min_value=int(paris(2026, 3, 28, 20)), max_value=int(paris(2026, 3, 29, 5))),
        st.integers(min_value=int(paris(2026, 10, 24, 20)), max_value=int(paris(2026, 10, 25, 5))),
    ),
)
def test_the_next_run_is_later_and_matches(expr: str, after: int) -> None:
    nxt = cron_next(expr, PARIS, after)
    assert nxt is not None and nxt > after
    wall = datetime.fromtimestamp(nxt, PARIS).replace(tzinfo=None)
    shifted = "2" in expr.split()[1] and wall.hour == 3  # a 02:xx run moved by the gap
    assert croniter.match(expr, wall) or shifted
    assert cron_next(expr, PARIS, nxt - 1) == nxt  # nothing matches in between


def test_every_is_anchored_and_does_not_drift() -> None:
    s = Schedule("every", "30m", "UTC", anchor=1000.0)
    assert s.next_after(999.0) == 1000.0
    assert s.next_after(1000.0) == 2800.0  # strictly after
    assert s.next_after(1001.0) == 2800.0
    assert s.next_after(1000.0 + 3 * 1800 + 5) == 1000.0 + 4 * 1800
    assert s.describe() == "every 30m"


def test_at_is_one_shot() -> None:
    at = datetime(2026, 4, 1, 9, tzinfo=PARIS)
    s = make_schedule(at=at, every=None, cron=None, tz="Europe/Paris", now=at.timestamp() - 60)
    assert s.kind == "at" and s.value == "2026-04-01T07:00:00+00:00"
    assert s.next_after(at.timestamp() - 1) == at.timestamp()
    assert s.next_after(at.timestamp()) is None
    assert "2026-04-01 09:00 CEST" in s.describe()


def test_make_schedule_checks_its_input() -> None:
    now = paris(2026, 3, 1)
    past = datetime(2026, 2, 1, tzinfo=PARIS)
    cases = [
        (dict(at=None, every=None, cron=None, tz="UTC"), "exactly one schedule"),
        (dict(at=None, every="30m", cron="* * * * *", tz="UTC"), "--every and --cron"),
        (dict(at=past, every=None, cron=None, tz="UTC"), "in the past"),
        (dict(at=None, every="0s", cron=None, tz="UTC"), "at least"),
        (dict(at=None, every="1.5s", cron=None, tz="UTC"), "whole seconds"),
        (dict(at=None, every="soon", cron=None, tz="UTC"), "--every: invalid duration"),
        (dict(at=None, every=None, cron="61 * * * *", tz="UTC"), "invalid expression"),
        (dict(at=None, every=None, cron="0 0 0 9 * *", tz="UTC"), "invalid expression"),
        (dict(at=None, every=None, cron="0 0 30 2 *", tz="UTC"), "never matches"),
        (dict(at=None, every=None, cron="0 9 * * *", tz="Mars/Base"), "unknown time zone"),
    ]
    for kwargs, message in cases:
        with pytest.raises(UsageError) as e:
            make_schedule(now=now, **kwargs)  # type: ignore[arg-type]
        assert message in e.value.message, (kwargs, e.value.message)


def test_an_at_within_the_current_second_still_runs() -> None:
    """`--at now` (or "in 0m"): the stored instant has whole seconds, and truncating it put
    it before `now`, so the job was added with no next run and never ran."""
    for now, delta in ((paris(2026, 3, 1) + 0.25, 0.5), (paris(2026, 3, 1), 0.0)):
        at = datetime.fromtimestamp(now + delta, PARIS)  # delta 0: "--at now" exactly
        s = make_schedule(at=at, every=None, cron=None, tz="Europe/Paris", now=now)
        nxt = s.next_after(now)
        assert nxt is not None and now < nxt <= now + 1
