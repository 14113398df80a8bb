"""Stats: spend from the daily rollups, the runs of a range, resource names."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, func, select

from creditbook.store import schema
from creditbook.store.queries.sums import exact_sum


def rollup_spend(account_id: str, start: date, end: date) -> Select[Any]:
    """Net spend on the local days [start, end] (0 without any)."""
    rollups = schema.rollups.c
    return select(func.coalesce(exact_sum(rollups.amount), 0)).where(
        rollups.account_id == account_id, rollups.day >= start, rollups.day <= end
    )


def rollup_groups(account_id: str, start: date, end: date, *names: str) -> Select[Any]:
    """Spend (`amount`) and units of the rollups of [start, end], grouped by the columns
    `names`, which lead each row in that order."""
    rollups = schema.rollups.c
    columns = [rollups[name] for name in names]
    return (
        select(
            *columns,
            exact_sum(rollups.amount).label("amount"),
            exact_sum(rollups.quantity).label("units"),
        )
        .where(rollups.account_id == account_id, rollups.day >= start, rollups.day <= end)
        .group_by(*columns)
    )


def runs_started_between(
    account_id: str, begin: datetime, finish: datetime, limit: int
) -> Select[Any]:
    """Up to `limit` runs started in [begin, finish), most expensive first."""
    runs = schema.runs.c
    return (
        select(
            runs.run_id,
            runs.rate_card_id,
            runs.status,
            runs.rows_kept,
            runs.charged,
            runs.started_at,
        )
        .where(runs.account_id == account_id, runs.started_at >= begin, runs.started_at < finish)
        .order_by(runs.charged.desc(), runs.run_id)
        .limit(limit)
    )


def resource_names(account_id: str, resource_ids: list[str]) -> Select[Any]:
    """The names of the resources `resource_ids`."""
    table = schema.resources.c
    return select(table.resource_id, table.name).where(
        table.account_id == account_id, table.resource_id.in_(resource_ids)
    )
