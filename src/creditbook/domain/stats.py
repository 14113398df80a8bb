"""Stats arithmetic: change against the previous period, cost per credit, rounding."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from creditbook.domain.amounts import Credits
from creditbook.domain.errors import ValidationError

MAX_STATS_RANGE_DAYS = 1830


def check_range(start: date, end: date) -> None:
    """`from`/`to` are inclusive; the range may span at most 1830 days."""
    if start > end:
        raise ValidationError("from must be on or before to", field="from")
    if (end - start).days + 1 > MAX_STATS_RANGE_DAYS:
        raise ValidationError(f"range may span at most {MAX_STATS_RANGE_DAYS} days", field="to")


def previous_range(start: date, end: date) -> tuple[date, date]:
    """The same number of days immediately before `start`."""
    days = (end - start).days + 1
    return start - timedelta(days=days), start - timedelta(days=1)


def round_half_up(value: Decimal, places: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def change_percent(current: Credits, previous: Credits) -> Decimal | None:
    """Percent change, one decimal; None when the previous period spent nothing."""
    if previous.millicredits == 0:
        return None
    change = Decimal(current.millicredits - previous.millicredits) * 100
    return round_half_up(change / Decimal(previous.millicredits), 1)


def ratio(credits: Credits, units: int, places: int = 2) -> Decimal | None:
    """Credits per unit (`credits_per_product`), None without units."""
    if units == 0:
        return None
    return round_half_up(credits.to_decimal() / Decimal(units), places)


def cost_per_credit(fee: Decimal, credits: Credits, places: int = 4) -> Decimal | None:
    """The period fee divided by the period's credits, in the fee's currency."""
    if credits.millicredits <= 0:
        return None
    # `+ 0` turns an exponent form (2.5E+2) back into plain digits (250).
    return round_half_up(fee / credits.to_decimal(), places).normalize() + 0
