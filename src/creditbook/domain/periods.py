"""Allowance periods: monthly on the billing anniversary, or daily in the account's time zone.

A monthly period starts on the anchor's day of month at the anchor's wall-clock time in the
account's time zone; in shorter months the day is clamped to the month's last day (an anchor
on the 31st renews on Feb 28, or Feb 29 in leap years, then on Mar 31 again). A daily period
starts at local midnight, so a day across a DST change lasts 23 or 25 hours.
"""

from __future__ import annotations

import calendar
import enum
import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from creditbook.domain.errors import ValidationError

# The instants and days a caller may name (the API and the dashboard alike): the calendar
# arithmetic on them (periods, local days, the range before a stats range) stays far inside
# what datetime can represent.
EARLIEST_SUPPORTED_AT = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_SUPPORTED_AT = datetime(9000, 1, 1, tzinfo=UTC)  # exclusive
SUPPORTED_YEARS = "the years 1970 to 8999"


def is_supported_instant(instant: datetime) -> bool:
    """Whether an aware `instant` lies in SUPPORTED_YEARS."""
    return EARLIEST_SUPPORTED_AT <= instant < LATEST_SUPPORTED_AT


def is_supported_day(day: date) -> bool:
    """Whether a calendar `day` lies in SUPPORTED_YEARS."""
    return EARLIEST_SUPPORTED_AT.date() <= day < LATEST_SUPPORTED_AT.date()


class Interval(enum.StrEnum):
    MONTHLY = "monthly"
    DAILY = "daily"


class PeriodError(ValueError):
    """A calendar that cannot exist: unknown time zone or a naive anchor."""


@dataclass(frozen=True, slots=True)
class Period:
    """One allowance window.

    Attributes:
        index: 0 for the period containing the anchor, counting up.
        start_at: first instant of the period (UTC, inclusive).
        end_at: first instant of the next period (UTC, exclusive).
    """

    index: int
    start_at: datetime
    end_at: datetime

    def contains(self, instant: datetime) -> bool:
        return self.start_at <= instant < self.end_at


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise PeriodError(f"unknown time zone {name!r}") from error


def require_aware(instant: datetime) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise PeriodError("timestamps must be timezone-aware")
    return instant.astimezone(UTC)


def add_months_clamped(year: int, month: int, day: int, months: int) -> date:
    """The date `months` after (year, month, day), clamped to the target month's end."""
    month_index = year * 12 + (month - 1) + months
    target_year, target_month = divmod(month_index, 12)
    target_month += 1
    last_day = calendar.monthrange(target_year, target_month)[1]
    return date(target_year, target_month, min(day, last_day))


@dataclass(frozen=True, slots=True)
class PeriodCalendar:
    """The sequence of periods of one account.

    Attributes:
        interval: monthly or daily.
        anchor_at: the billing anchor (UTC); period 0 contains it.
        timezone: IANA name of the account's time zone.
    """

    interval: Interval
    anchor_at: datetime
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        try:
            interval = Interval(self.interval)
        except ValueError as error:
            raise PeriodError(f"unknown interval {self.interval!r}") from error
        object.__setattr__(self, "interval", interval)
        object.__setattr__(self, "anchor_at", require_aware(self.anchor_at))
        zone(self.timezone)

    def _local_anchor(self) -> datetime:
        return self.anchor_at.astimezone(zone(self.timezone))

    def start_of(self, index: int) -> datetime:
        """First instant (UTC) of period `index`."""
        tz = zone(self.timezone)
        local = self._local_anchor()
        if self.interval is Interval.MONTHLY:
            day = add_months_clamped(local.year, local.month, local.day, index)
            wall = datetime.combine(day, local.time().replace(tzinfo=None), tzinfo=tz)
        else:
            return local_midnight(local.date() + timedelta(days=index), self.timezone)
        return wall.astimezone(UTC)

    def period(self, index: int) -> Period:
        return Period(index, self.start_of(index), self.start_of(index + 1))

    def index_at(self, instant: datetime) -> int:
        """Index of the period containing `instant` (negative before the anchor)."""
        instant = require_aware(instant)
        tz = zone(self.timezone)
        local_anchor = self._local_anchor()
        local = instant.astimezone(tz)
        if self.interval is Interval.MONTHLY:
            guess = (local.year - local_anchor.year) * 12 + (local.month - local_anchor.month)
        else:
            guess = (local.date() - local_anchor.date()).days
        # The guess is off by at most one either way (time of day, clamped days).
        while self.start_of(guess) > instant:
            guess -= 1
        while self.start_of(guess + 1) <= instant:
            guess += 1
        return guess

    def period_at(self, instant: datetime) -> Period:
        return self.period(self.index_at(instant))


@functools.lru_cache(maxsize=256)
def local_date(instant: datetime, timezone: str) -> date:
    """The calendar date of `instant` in `timezone` (stats and rollups are per local day).
    Remembered: every charge of a batch or a group asks for the same instant."""
    return require_aware(instant).astimezone(zone(timezone)).date()


def local_midnight(day: date, timezone: str) -> datetime:
    """First instant (UTC) of the local calendar date `day` in `timezone`."""
    return datetime.combine(day, time(0), tzinfo=zone(timezone)).astimezone(UTC)


def check_instant(name: str, instant: datetime) -> datetime:
    """A caller's timestamp: aware, or a ValidationError naming the field."""
    if not isinstance(instant, datetime):
        raise ValidationError(f"{name} must be a datetime", field=name)
    try:
        return require_aware(instant)
    except PeriodError as error:
        raise ValidationError(f"{name}: {error}", field=name) from None


def rfc3339(instant: datetime) -> str:
    """UTC with a `Z`, to the second unless there is a fraction: every timestamp creditbook
    answers with."""
    text = instant.astimezone(UTC).replace(tzinfo=None).isoformat()
    return f"{text}Z"
