"""Usage stats: spend over a range of days, grouped every way the API offers."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import Field

from creditbook.wire.common import Amount, Out, SpentCredits
from creditbook.wire.payments import RevenueOut


class TotalOut(Out):
    key: str
    credits: SpentCredits
    units: int


class DayOut(Out):
    date: date
    credits: SpentCredits
    by_module: dict[str, Amount]
    by_user: dict[str, Amount]


class ResourceOut(Out):
    resource_id: str
    name: str
    module: str
    credits: SpentCredits
    units: int


class BucketOut(Out):
    start: date
    credits: SpentCredits


class RunTotalOut(Out):
    run_id: str
    rate_card_id: str
    status: str
    rows_kept: int
    credits: SpentCredits
    started_at: datetime


class ForecastOut(Out):
    window_days: int
    daily_burn: Amount
    runs_out_on: date | None
    before_reset: bool


class StatsPlanOut(Out):
    """The plan behind the stats: credits and price per period, the next reset."""

    plan_id: str
    interval: str
    credits_per_period: Amount
    period_end_at: datetime
    currency: str | None
    fee: Decimal | None
    cost_per_credit: Decimal | None
    prices: dict[str, Decimal]


class StatsOut(Out):
    account_id: str
    start: date
    end: date
    total: Amount
    previous_total: Amount
    change_percent: Amount | None
    daily: list[DayOut]
    by_module: list[TotalOut]
    by_service: list[TotalOut]
    by_user: list[TotalOut]
    by_function: list[TotalOut]
    by_pool: list[TotalOut]
    by_resource: list[ResourceOut]
    group_by: str
    buckets: list[BucketOut]
    by_run: list[RunTotalOut]
    forecast: list[ForecastOut]
    plan: StatsPlanOut | None = None
    purchases: list[RevenueOut] = Field(
        default_factory=list,
        description="What purchases made in the range paid, per currency (real revenue, "
        "beside the plan's price per credit in `plan`).",
    )

    @classmethod
    def of(cls, stats: Any, group_by: str = "day") -> StatsOut:
        """The grouping is the request's: the result does not carry it."""
        fields = {name: getattr(stats, name) for name in cls.model_fields if name != "group_by"}
        return cls.model_validate({**fields, "group_by": group_by})
