"""Allowance periods: monthly on the billing anniversary, daily at local midnight."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from creditbook.domain.periods import (
    Interval,
    Period,
    PeriodCalendar,
    PeriodError,
    add_months_clamped,
    local_date,
    require_aware,
    zone,
)

PRAGUE = ZoneInfo("Europe/Prague")
NEW_YORK = ZoneInfo("America/New_York")
HOUR = timedelta(hours=1)
MICROSECOND = timedelta(microseconds=1)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def monthly(anchor: datetime, tz: str = "UTC") -> PeriodCalendar:
    return PeriodCalendar(Interval.MONTHLY, anchor, tz)


def daily(anchor: datetime, tz: str = "UTC") -> PeriodCalendar:
    return PeriodCalendar(Interval.DAILY, anchor, tz)


def starts(calendar: PeriodCalendar, indexes: range) -> list[datetime]:
    return [calendar.start_of(index) for index in indexes]


# --- monthly: clamping to the end of shorter months ----------------------------------------


def test_monthly_anchor_on_the_31st_in_a_common_year() -> None:
    calendar = monthly(utc(2027, 1, 31))
    assert starts(calendar, range(0, 5)) == [
        utc(2027, 1, 31),
        utc(2027, 2, 28),
        utc(2027, 3, 31),
        utc(2027, 4, 30),
        utc(2027, 5, 31),
    ]


def test_monthly_anchor_on_the_31st_in_a_leap_year() -> None:
    calendar = monthly(utc(2028, 1, 31))
    assert starts(calendar, range(0, 4)) == [
        utc(2028, 1, 31),
        utc(2028, 2, 29),
        utc(2028, 3, 31),
        utc(2028, 4, 30),
    ]
    # Twelve months on, February is short again.
    assert calendar.start_of(13) == utc(2029, 2, 28)


def test_monthly_anchor_on_the_30th() -> None:
    calendar = monthly(utc(2026, 1, 30))
    assert starts(calendar, range(0, 4)) == [
        utc(2026, 1, 30),
        utc(2026, 2, 28),
        utc(2026, 3, 30),
        utc(2026, 4, 30),
    ]
    assert monthly(utc(2028, 1, 30)).start_of(1) == utc(2028, 2, 29)


def test_monthly_anchor_on_the_29th() -> None:
    assert starts(monthly(utc(2026, 1, 29)), range(0, 3)) == [
        utc(2026, 1, 29),
        utc(2026, 2, 28),
        utc(2026, 3, 29),
    ]
    assert starts(monthly(utc(2028, 1, 29)), range(0, 3)) == [
        utc(2028, 1, 29),
        utc(2028, 2, 29),
        utc(2028, 3, 29),
    ]


def test_monthly_anchor_on_feb_29_renews_on_the_29th_where_it_exists() -> None:
    calendar = monthly(utc(2028, 2, 29))
    assert calendar.start_of(1) == utc(2028, 3, 29)
    assert calendar.start_of(12) == utc(2029, 2, 28)
    assert calendar.start_of(48) == utc(2032, 2, 29)


def test_monthly_periods_end_where_the_next_begins() -> None:
    calendar = monthly(utc(2027, 1, 31))
    assert calendar.period(0) == Period(0, utc(2027, 1, 31), utc(2027, 2, 28))
    assert calendar.period(1) == Period(1, utc(2027, 2, 28), utc(2027, 3, 31))


def test_monthly_keeps_the_anchor_time_of_day() -> None:
    calendar = monthly(datetime(2026, 1, 31, 14, 30, 15, 123456, tzinfo=UTC))
    assert calendar.start_of(1) == datetime(2026, 2, 28, 14, 30, 15, 123456, tzinfo=UTC)
    assert calendar.start_of(2) == datetime(2026, 3, 31, 14, 30, 15, 123456, tzinfo=UTC)


def test_monthly_crosses_year_ends_both_ways() -> None:
    calendar = monthly(utc(2026, 11, 30, 8))
    assert calendar.start_of(3) == utc(2027, 2, 28, 8)
    assert calendar.start_of(-1) == utc(2026, 10, 30, 8)
    assert calendar.start_of(-11) == utc(2025, 12, 30, 8)
    assert calendar.start_of(-12) == utc(2025, 11, 30, 8)
    assert calendar.start_of(-9) == utc(2026, 2, 28, 8)


# --- index_at ------------------------------------------------------------------------------


def test_index_at_the_anchor_is_zero() -> None:
    anchor = utc(2026, 1, 31, 9, 15)
    assert monthly(anchor).index_at(anchor) == 0
    assert daily(anchor).index_at(anchor) == 0


def test_index_at_a_boundary_belongs_to_the_later_period() -> None:
    calendar = monthly(utc(2027, 1, 31, 12))
    boundary = utc(2027, 2, 28, 12)
    assert calendar.index_at(boundary) == 1
    assert calendar.index_at(boundary - MICROSECOND) == 0
    assert calendar.period_at(boundary).start_at == boundary
    assert calendar.period_at(boundary - MICROSECOND).end_at == boundary


def test_period_contains_start_but_not_end() -> None:
    period = monthly(utc(2027, 1, 31)).period(0)
    assert period.contains(period.start_at)
    assert period.contains(period.end_at - MICROSECOND)
    assert not period.contains(period.end_at)
    assert not period.contains(period.start_at - MICROSECOND)


def test_index_at_between_boundaries() -> None:
    calendar = monthly(utc(2027, 1, 31))
    assert calendar.index_at(utc(2027, 2, 27, 23, 59)) == 0
    assert calendar.index_at(utc(2027, 3, 30)) == 1
    assert calendar.index_at(utc(2027, 3, 31)) == 2
    assert calendar.index_at(utc(2037, 1, 31)) == 120
    assert calendar.index_at(utc(2037, 1, 30)) == 119


def test_index_at_before_the_anchor_is_negative() -> None:
    anchor = utc(2026, 3, 31, 10)
    calendar = monthly(anchor)
    assert calendar.index_at(anchor - MICROSECOND) == -1
    assert calendar.period(-1) == Period(-1, utc(2026, 2, 28, 10), anchor)
    assert calendar.index_at(utc(2026, 2, 28, 10)) == -1
    assert calendar.index_at(utc(2026, 2, 28, 9, 59)) == -2
    assert calendar.period_at(utc(2025, 3, 31, 10)).index == -12

    days = daily(anchor)
    assert days.index_at(utc(2026, 3, 31, 0)) == 0
    assert days.index_at(utc(2026, 3, 30, 23, 59)) == -1
    assert days.index_at(utc(2026, 3, 1)) == -30


def test_index_at_accepts_any_aware_timezone() -> None:
    calendar = monthly(utc(2027, 1, 31))
    plus_two = timezone(timedelta(hours=2))
    # 01:00 at +02:00 is still Feb 27 23:00 UTC, before the boundary.
    assert calendar.index_at(datetime(2027, 2, 28, 1, tzinfo=plus_two)) == 0
    assert calendar.index_at(datetime(2027, 2, 28, 2, tzinfo=plus_two)) == 1


# --- monthly in a local time zone ----------------------------------------------------------


def test_monthly_keeps_local_wall_clock_time_across_dst() -> None:
    anchor = datetime(2026, 1, 15, 9, 0, tzinfo=PRAGUE)  # 08:00 UTC in winter
    calendar = monthly(anchor, "Europe/Prague")
    assert calendar.anchor_at == utc(2026, 1, 15, 8)
    assert calendar.start_of(2) == utc(2026, 3, 15, 8)  # still winter time
    assert calendar.start_of(3) == utc(2026, 4, 15, 7)  # summer time, 09:00 CEST
    assert calendar.start_of(10) == utc(2026, 11, 15, 8)
    for index in range(-12, 25):
        local = calendar.start_of(index).astimezone(PRAGUE)
        assert (local.day, local.hour, local.minute) == (15, 9, 0)
    # March's period is an hour shorter in absolute time, October's an hour longer.
    assert calendar.period(2).end_at - calendar.period(2).start_at == timedelta(days=31) - HOUR
    assert calendar.period(9).end_at - calendar.period(9).start_at == timedelta(days=31) + HOUR


def test_monthly_clamps_on_the_local_date_not_the_utc_date() -> None:
    # Jan 31 23:30 in New York is Feb 1 04:30 UTC: the anniversary is the 31st locally.
    anchor = datetime(2027, 1, 31, 23, 30, tzinfo=NEW_YORK)
    calendar = monthly(anchor, "America/New_York")
    assert calendar.anchor_at == utc(2027, 2, 1, 4, 30)
    assert calendar.start_of(1) == datetime(2027, 2, 28, 23, 30, tzinfo=NEW_YORK)
    assert calendar.start_of(1) == utc(2027, 3, 1, 4, 30)
    assert calendar.start_of(2) == datetime(2027, 3, 31, 23, 30, tzinfo=NEW_YORK)
    assert calendar.start_of(2) == utc(2027, 4, 1, 3, 30)  # daylight time


def test_calendar_stores_the_anchor_in_utc() -> None:
    anchor = datetime(2026, 7, 1, 12, tzinfo=PRAGUE)
    calendar = monthly(anchor, "Europe/Prague")
    assert calendar.anchor_at == anchor
    assert calendar.anchor_at.tzinfo is UTC
    assert calendar.start_of(0).tzinfo is UTC
    assert calendar.period(5).end_at.tzinfo is UTC


# --- daily across DST ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tz", "day", "start", "end", "hours"),
    [
        ("Europe/Prague", date(2026, 3, 29), utc(2026, 3, 28, 23), utc(2026, 3, 29, 22), 23),
        ("Europe/Prague", date(2026, 10, 25), utc(2026, 10, 24, 22), utc(2026, 10, 25, 23), 25),
        ("Europe/Prague", date(2026, 6, 1), utc(2026, 5, 31, 22), utc(2026, 6, 1, 22), 24),
        ("America/New_York", date(2026, 3, 8), utc(2026, 3, 8, 5), utc(2026, 3, 9, 4), 23),
        ("America/New_York", date(2026, 11, 1), utc(2026, 11, 1, 4), utc(2026, 11, 2, 5), 25),
        ("America/New_York", date(2026, 1, 1), utc(2026, 1, 1, 5), utc(2026, 1, 2, 5), 24),
    ],
)
def test_daily_periods_across_dst(
    tz: str, day: date, start: datetime, end: datetime, hours: int
) -> None:
    calendar = daily(utc(2026, 2, 1, 12), tz)
    noon = datetime.combine(day, datetime.min.time().replace(hour=12), tzinfo=ZoneInfo(tz))
    period = calendar.period_at(noon)
    assert (period.start_at, period.end_at) == (start, end)
    assert period.end_at - period.start_at == timedelta(hours=hours)
    assert period.index == (day - date(2026, 2, 1)).days
    assert calendar.index_at(start) == period.index
    assert calendar.index_at(end - MICROSECOND) == period.index
    assert calendar.index_at(end) == period.index + 1


@pytest.mark.parametrize("tz", ["Europe/Prague", "America/New_York", "Australia/Lord_Howe"])
def test_daily_periods_start_at_local_midnight_all_year(tz: str) -> None:
    local = ZoneInfo(tz)
    calendar = daily(datetime(2026, 1, 1, 15, tzinfo=local), tz)
    for index in range(-5, 400):
        start = calendar.start_of(index).astimezone(local)
        assert start.date() == date(2026, 1, 1) + timedelta(days=index)
        assert (start.hour, start.minute, start.second, start.microsecond) == (0, 0, 0, 0)


def test_daily_period_follows_the_local_date() -> None:
    # 20:00 on Jan 10 in New York is 01:00 UTC on Jan 11.
    calendar = daily(datetime(2026, 1, 10, 20, tzinfo=NEW_YORK), "America/New_York")
    assert calendar.period(0) == Period(0, utc(2026, 1, 10, 5), utc(2026, 1, 11, 5))
    assert calendar.index_at(utc(2026, 1, 11, 4, 59, 59)) == 0
    assert calendar.index_at(utc(2026, 1, 11, 5)) == 1
    assert calendar.index_at(utc(2026, 1, 10, 4, 59)) == -1


def test_daily_in_utc_is_24_hours_from_midnight() -> None:
    calendar = daily(utc(2026, 5, 17, 13, 45))
    assert calendar.period(0) == Period(0, utc(2026, 5, 17), utc(2026, 5, 18))
    assert calendar.period(-17) == Period(-17, utc(2026, 4, 30), utc(2026, 5, 1))


# --- interval ------------------------------------------------------------------------------


def test_interval_values() -> None:
    assert Interval.MONTHLY == "monthly"
    assert Interval.DAILY == "daily"
    assert {member.value for member in Interval} == {"monthly", "daily"}


@pytest.mark.parametrize(
    ("name", "interval"), [("monthly", Interval.MONTHLY), ("daily", Interval.DAILY)]
)
def test_interval_given_as_a_string_is_honoured(name: str, interval: Interval) -> None:
    calendar = PeriodCalendar(name, utc(2027, 1, 31))  # type: ignore[arg-type]
    assert calendar.interval is interval
    expected = utc(2027, 2, 28) if interval is Interval.MONTHLY else utc(2027, 2, 1)
    assert calendar.start_of(1) == expected


@pytest.mark.parametrize("name", ["weekly", "Monthly", "", None])
def test_unknown_interval_is_refused(name: object) -> None:
    with pytest.raises(PeriodError, match="unknown interval"):
        PeriodCalendar(name, utc(2027, 1, 31))  # type: ignore[arg-type]


# --- errors --------------------------------------------------------------------------------


def test_local_date_is_the_date_in_the_zone_asked_for_each_time() -> None:
    """`local_date` is remembered per instant and zone: the same instant asked in other
    zones, in any order, or as the same instant in another offset, gets each zone's date."""
    instant = utc(2026, 3, 1, 23, 30)
    asked = [("UTC", 1), ("Asia/Tokyo", 2), ("America/Los_Angeles", 1), ("UTC", 1)]
    for name, day in asked:
        assert local_date(instant, name) == date(2026, 3, day)
    in_tokyo = instant.astimezone(ZoneInfo("Asia/Tokyo"))
    assert local_date(in_tokyo, "UTC") == date(2026, 3, 1)
    assert local_date(in_tokyo, "Asia/Tokyo") == date(2026, 3, 2)


def test_period_error_is_a_value_error() -> None:
    assert issubclass(PeriodError, ValueError)


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "../etc/passwd", "/UTC", "Europe/"])
def test_unknown_time_zone_is_refused(name: str) -> None:
    with pytest.raises(PeriodError, match="unknown time zone"):
        PeriodCalendar(Interval.MONTHLY, utc(2026, 1, 1), name)
    with pytest.raises(PeriodError, match="unknown time zone"):
        zone(name)
    with pytest.raises(PeriodError, match="unknown time zone"):
        local_date(utc(2026, 1, 1), name)


class _NoOffset(tzinfo):
    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None

    def tzname(self, dt: datetime | None) -> str | None:
        return None


@pytest.mark.parametrize(
    "instant", [datetime(2026, 1, 1), datetime(2026, 1, 1, tzinfo=_NoOffset())]
)
def test_naive_datetimes_are_refused(instant: datetime) -> None:
    with pytest.raises(PeriodError, match="timezone-aware"):
        PeriodCalendar(Interval.MONTHLY, instant)
    with pytest.raises(PeriodError, match="timezone-aware"):
        PeriodCalendar(Interval.DAILY, utc(2026, 1, 1)).index_at(instant)
    with pytest.raises(PeriodError, match="timezone-aware"):
        monthly(utc(2026, 1, 1)).period_at(instant)
    with pytest.raises(PeriodError, match="timezone-aware"):
        local_date(instant, "UTC")
    with pytest.raises(PeriodError, match="timezone-aware"):
        require_aware(instant)


def test_require_aware_converts_to_utc() -> None:
    instant = require_aware(datetime(2026, 7, 1, 2, tzinfo=PRAGUE))
    assert instant == utc(2026, 7, 1, 0)
    assert instant.tzinfo is UTC


# --- helpers -------------------------------------------------------------------------------


def test_local_date() -> None:
    assert local_date(utc(2026, 1, 11, 1), "America/New_York") == date(2026, 1, 10)
    assert local_date(utc(2026, 1, 10, 23, 30), "Europe/Prague") == date(2026, 1, 11)
    assert local_date(utc(2026, 1, 10, 23, 30), "UTC") == date(2026, 1, 10)


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        ((2026, 1, 31), 1, date(2026, 2, 28)),
        ((2028, 1, 31), 1, date(2028, 2, 29)),
        ((2026, 1, 31), 2, date(2026, 3, 31)),
        ((2026, 1, 31), 0, date(2026, 1, 31)),
        ((2026, 1, 31), -2, date(2025, 11, 30)),
        ((2026, 3, 31), -1, date(2026, 2, 28)),
        ((2026, 12, 15), 1, date(2027, 1, 15)),
        ((2026, 1, 15), -1, date(2025, 12, 15)),
        ((2024, 2, 29), 12, date(2025, 2, 28)),
        ((2024, 2, 29), 48, date(2028, 2, 29)),
        ((2026, 5, 31), 25, date(2028, 6, 30)),
    ],
)
def test_add_months_clamped(start: tuple[int, int, int], months: int, expected: date) -> None:
    assert add_months_clamped(*start, months) == expected


# --- properties ----------------------------------------------------------------------------

# Real zones with odd offsets, DST at midnight, half-hour DST and southern-hemisphere DST.
ZONES = [
    "UTC",
    "Europe/Prague",
    "America/New_York",
    "America/Sao_Paulo",
    "America/Santiago",
    "America/St_Johns",
    "Australia/Lord_Howe",
    "Asia/Kathmandu",
    "Asia/Kolkata",
    "Pacific/Chatham",
    "Africa/Casablanca",
]

zone_names = st.sampled_from(ZONES)
intervals = st.sampled_from(list(Interval))
instants = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2060, 12, 31), timezones=st.just(UTC)
)
PROPERTY = settings(database=None, deadline=None, max_examples=200)


@PROPERTY
@given(intervals, zone_names, instants, st.integers(min_value=-2000, max_value=2000))
def test_period_at_contains_the_instant(
    interval: Interval, tz: str, anchor: datetime, offset_hours: int
) -> None:
    calendar = PeriodCalendar(interval, anchor, tz)
    instant = anchor + timedelta(hours=offset_hours * 7, seconds=offset_hours)
    period = calendar.period_at(instant)
    assert period.contains(instant)
    assert period.index == calendar.index_at(instant)
    assert period == calendar.period(period.index)
    assert (period.index < 0) == (instant < calendar.start_of(0))


@PROPERTY
@given(intervals, zone_names, instants)
def test_the_anchor_is_in_period_zero(interval: Interval, tz: str, anchor: datetime) -> None:
    calendar = PeriodCalendar(interval, anchor, tz)
    assert calendar.period(0).contains(anchor)
    assert calendar.index_at(anchor) == 0
    if interval is Interval.MONTHLY:
        assert calendar.start_of(0) == anchor


@PROPERTY
@given(intervals, zone_names, instants, st.integers(min_value=-300, max_value=300))
def test_periods_are_contiguous_and_increasing(
    interval: Interval, tz: str, anchor: datetime, first: int
) -> None:
    calendar = PeriodCalendar(interval, anchor, tz)
    periods = [calendar.period(index) for index in range(first, first + 6)]
    for earlier, later in pairwise(periods):
        assert earlier.end_at == later.start_at
        assert earlier.index + 1 == later.index
    for period in periods:
        assert period.start_at < period.end_at
        assert calendar.index_at(period.start_at) == period.index
        assert calendar.index_at(period.end_at - MICROSECOND) == period.index
        length = period.end_at - period.start_at
        if interval is Interval.DAILY:
            assert timedelta(hours=22) <= length <= timedelta(hours=26)
        else:
            assert timedelta(days=28) - 2 * HOUR <= length <= timedelta(days=31) + 2 * HOUR
