"""Numbers and dates for people: thousands separators, decimals only when needed, readable
dates in the account's time zone. Used as Jinja filters; pure functions."""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from creditbook.domain.amounts import Credits
from creditbook.domain.periods import zone

MINUS = "−"  # U+2212: a real minus sign lines up with the plus in tables
PERCENT_PLACES = Decimal("0.1")
BURN_PLACES = Decimal("0.01")


def number(value: Decimal | int) -> str:
    """`12345.50` → `12,345.5`; `-3` → `−3`; no exponent, no trailing zeros."""
    amount = Decimal(value)
    if amount == amount.to_integral_value():
        text = f"{int(amount):,}"
    else:
        text = f"{amount.normalize():,f}"
    return text.replace("-", MINUS)


def credits(value: Credits) -> str:
    """Credits as a person reads them: `10,000`, `0.5`, `6.67`, `−43`."""
    return number(value.to_decimal())


def signed_credits(value: Credits) -> str:
    """Credits with an explicit sign for history: `+25`, `−43`, `0`."""
    text = credits(value)
    return f"+{text}" if value.is_positive() else text


def burn(value: Decimal) -> str:
    """A daily burn rate, to the hundredth: `62`, `18.57`."""
    return number(value.quantize(BURN_PLACES, rounding=ROUND_HALF_UP))


def percent(value: Decimal | float | int | None) -> str:
    """`42.857` → `42.9 %`; None → `—`."""
    if value is None:
        return "—"
    rounded = Decimal(str(value)).quantize(PERCENT_PLACES, rounding=ROUND_HALF_UP)
    return f"{number(rounded)} %"


def count(value: int) -> str:
    return number(value)


def day(value: date) -> str:
    """`2026-05-05` → `5 May 2026`."""
    return f"{value.day} {value:%b %Y}"


def short_day(value: date) -> str:
    """`2026-05-05` → `5 May` (chart labels)."""
    return f"{value.day} {value:%b}"


def when(value: datetime | None, timezone: str = "UTC") -> str:
    """An instant in the account's time zone: `5 May 2026, 10:01`; None → `—`."""
    if value is None:
        return "—"
    local = value.astimezone(zone(timezone))
    return f"{local.day} {local:%b %Y, %H:%M}"


def when_with_zone(value: datetime | None, timezone: str = "UTC") -> str:
    """`5 May 2026, 10:01 UTC` (the zone's abbreviation, e.g. CEST)."""
    if value is None:
        return "—"
    local = value.astimezone(zone(timezone))
    return f"{when(value, timezone)} {local.tzname() or timezone}"


FILTERS = {
    "credits": credits,
    "signed_credits": signed_credits,
    "burn": burn,
    "percent": percent,
    "count": count,
    "number": number,
    "day": day,
    "short_day": short_day,
    "when": when,
    "when_with_zone": when_with_zone,
}
