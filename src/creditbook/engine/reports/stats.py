"""Stats: spend from the daily rollups, aggregated in the database, with buckets, the
runs of the range, the plan's figures and forecasts of when the credits run out.

Spend figures are sums of stored amounts, reported exactly however large
(`Credits.unbounded`): a database written before the amount bound may hold more."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from sqlalchemy import Connection

from creditbook.domain.amounts import Credits
from creditbook.domain.errors import ValidationError
from creditbook.domain.periods import local_date, zone
from creditbook.domain.plans import Plan
from creditbook.domain.stats import change_percent, check_range, cost_per_credit, previous_range
from creditbook.engine.reports.accounts import account_row
from creditbook.engine.results import (
    Balance,
    Bucket,
    Day,
    Forecast,
    ResourceTotal,
    RunTotal,
    Stats,
    StatsPlan,
    Total,
)
from creditbook.store.queries.reports import stats as queries

BUCKETS = ("day", "week", "month")
FORECAST_WINDOWS_DAYS = (7, 30)
# A forecast never looks further ahead than this.
MAX_FORECAST_DAYS = 36_500
MAX_RUNS_IN_STATS = 100


def spend_between(connection: Connection, account_id: str, start: date, end: date) -> Credits:
    """Net spend on the local days [start, end]."""
    total = connection.execute(queries.rollup_spend(account_id, start, end)).scalar_one()
    return Credits.unbounded(int(total))


def stats(
    connection: Connection, account_id: str, start: date, end: date, group_by: str = "day"
) -> Stats:
    """Spend from the daily rollups, aggregated in the database: never scans entries.

    Four grouped passes over the range's rollups: (day, module, function) and (day, user)
    for the daily figures and the user totals, (pool, function, module, service), whose
    groups do not grow with the range, for the other totals, and (resource, module).
    """
    check_range(start, end)
    if group_by not in BUCKETS:
        raise ValidationError(f"group_by must be one of {', '.join(BUCKETS)}", field="group_by")
    account_row(connection, account_id)
    by_day_module = _grouped(connection, account_id, start, end, "day", "module", "function")
    by_day_user = _grouped(connection, account_id, start, end, "day", "user_id")
    by_kind = _grouped(connection, account_id, start, end, "pool", "function", "module", "service")
    daily = _daily(by_day_module, by_day_user)
    total = Credits.unbounded(sum(day.amount.millicredits for day in daily))
    previous = spend_between(connection, account_id, *previous_range(start, end))
    return Stats(
        account_id,
        start,
        end,
        total,
        previous,
        change_percent(total, previous),
        daily,
        _totals(by_kind, 2),
        _totals(by_kind, 3),
        _totals(by_day_user, 1),
        _totals(by_kind, 1),
        _totals(by_kind, 0),
        _by_resource(connection, account_id, start, end),
        buckets=_buckets(daily, group_by),
        by_run=_runs_in_range(connection, account_id, start, end),
    )


def _grouped(
    connection: Connection, account_id: str, start: date, end: date, *names: str
) -> list[Any]:
    """Spend and units of the rollups in a range, grouped in SQL by the columns `names`."""
    statement = queries.rollup_groups(account_id, start, end, *names)
    return list(connection.execute(statement).all())


def _totals(rows: list[Any], index: int) -> list[Total]:
    """Spend and units per non-empty key in column `index` of grouped rows, by spend
    descending, then key."""
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        if row[index]:
            found = sums[row[index]]
            found[0] += int(row.amount)
            found[1] += int(row.units)
    items = [Total(key, Credits.unbounded(amount), units) for key, (amount, units) in sums.items()]
    return sorted(items, key=lambda item: (-item.amount.millicredits, item.key))


@dataclass(slots=True)
class _DaySums:
    """One day's spend in millicredits: in all, and per module, user and function."""

    amount: int = 0
    by_module: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    by_user: dict[str, int] = field(default_factory=dict)
    by_function: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))


def _daily(by_day_module: list[Any], by_day_user: list[Any]) -> list[Day]:
    """The days with spend, in order, from the (day, module, function) and (day, user)
    groups; each (day, user) group is one row, so its spend is set, not added."""
    days: defaultdict[date, _DaySums] = defaultdict(_DaySums)
    for row in by_day_module:
        day = days[row.day]
        day.amount += int(row.amount)
        if row.module:
            day.by_module[row.module] += int(row.amount)
        if row.function:
            day.by_function[row.function] += int(row.amount)
    for row in by_day_user:
        if row.user_id:
            days[row.day].by_user[row.user_id] = int(row.amount)
    return [
        Day(
            day,
            Credits.unbounded(sums.amount),
            _credits_of(sums.by_module),
            _credits_of(sums.by_user),
            _credits_of(sums.by_function),
        )
        for day, sums in sorted(days.items())
    ]


def _credits_of(sums: dict[str, int]) -> dict[str, Credits]:
    return {key: Credits.unbounded(amount) for key, amount in sorted(sums.items())}


def _by_resource(
    connection: Connection, account_id: str, start: date, end: date
) -> list[ResourceTotal]:
    """Spend and units per resource (and module) in the range, by spend descending, then
    resource id."""
    resources = [
        row
        for row in _grouped(connection, account_id, start, end, "resource_id", "module")
        if row[0]
    ]
    names = _resource_names(connection, account_id, [row[0] for row in resources])
    return sorted(
        (
            ResourceTotal(
                row[0],
                names.get(row[0], ""),
                row[1],
                Credits.unbounded(int(row.amount)),
                int(row.units),
            )
            for row in resources
        ),
        key=lambda item: (-item.amount.millicredits, item.resource_id),
    )


def _resource_names(connection: Connection, account_id: str, ids: list[str]) -> dict[str, str]:
    if not ids:
        return {}
    rows = connection.execute(queries.resource_names(account_id, sorted(set(ids))))
    return {row.resource_id: row.name for row in rows}


def bucket_start(day: date, group_by: str) -> date:
    """The first day of the bucket `day` falls in (ISO weeks start on Monday)."""
    if group_by == "week":
        return day - timedelta(days=day.weekday())
    if group_by == "month":
        return day.replace(day=1)
    return day


def _buckets(daily: list[Day], group_by: str) -> list[Bucket]:
    sums: dict[date, int] = defaultdict(int)
    for day in daily:
        sums[bucket_start(day.date, group_by)] += day.amount.millicredits
    return [Bucket(start, Credits.unbounded(amount)) for start, amount in sorted(sums.items())]


def _runs_in_range(
    connection: Connection, account_id: str, start: date, end: date
) -> list[RunTotal]:
    """The runs started in the range (local dates), most expensive first."""
    tz = zone(account_row(connection, account_id).timezone)
    begin = datetime.combine(start, datetime.min.time(), tzinfo=tz)
    finish = datetime.combine(end + timedelta(days=1), datetime.min.time(), tzinfo=tz)
    statement = queries.runs_started_between(account_id, begin, finish, MAX_RUNS_IN_STATS)
    return [
        RunTotal(
            row.run_id,
            row.rate_card_id,
            row.status,
            row.rows_kept,
            Credits(row.charged),
            row.started_at,
        )
        for row in connection.execute(statement)
    ]


def stats_plan(plan: Plan, balance: Balance) -> StatsPlan:
    """The plan's figures next to the stats: credits and fee per period, cost per credit."""
    credits = sum(plan.allowances.values(), Credits(0))
    currency = plan.currency()
    fee = plan.prices.get(currency) if currency else None
    return StatsPlan(
        plan_id=plan.plan_id,
        interval=plan.interval,
        credits_per_period=credits,
        period_end_at=balance.period_end_at,
        currency=currency,
        fee=fee,
        cost_per_credit=cost_per_credit(fee, credits) if fee is not None else None,
        prices=dict(sorted(plan.prices.items())),
    )


def forecast(
    connection: Connection, account_id: str, balance: Balance, now: datetime
) -> list[Forecast]:
    """When the account's credits run out at its trailing 7- and 30-day burn."""
    timezone = account_row(connection, account_id).timezone
    today = local_date(now, timezone)
    available = sum((max(p.available, Credits(0)) for p in balance.pools.values()), Credits(0))
    period_end = local_date(balance.period_end_at, timezone)
    return [
        _forecast(
            window,
            spend_between(connection, account_id, today - timedelta(days=window - 1), today),
            available,
            today,
            period_end,
        )
        for window in FORECAST_WINDOWS_DAYS
    ]


def _forecast(
    window: int, spent: Credits, available: Credits, today: date, period_end: date
) -> Forecast:
    """When `available` runs out at the burn of `spent` over the trailing `window` days."""
    burn = spent.to_decimal() / window
    if burn <= 0:
        return Forecast(window, Decimal(0), None, False)
    days = int((available.to_decimal() / burn).to_integral_value(rounding=ROUND_FLOOR))
    runs_out = today + timedelta(days=min(days, MAX_FORECAST_DAYS))
    return Forecast(window, burn.quantize(Decimal("0.001")) + 0, runs_out, runs_out < period_end)
