"""Runs, their pages and their lines."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, func, or_, select

from creditbook.store import schema

# Runs in these states hold their slots.
SLOT_HOLDING_STATUSES = ("running", "paused")


def used_slots(account_id: str) -> Select[Any]:
    """The slots the account's unfinished runs hold (0 without any)."""
    runs = schema.runs.c
    return select(func.coalesce(func.sum(runs.slots), 0)).where(
        runs.account_id == account_id, runs.status.in_(SLOT_HOLDING_STATUSES)
    )


def run(account_id: str, run_id: str) -> Select[Any]:
    """The run's row."""
    runs = schema.runs.c
    return select(schema.runs).where(runs.account_id == account_id, runs.run_id == run_id)


def runs_page(account_id: str, after: tuple[datetime, str] | None, limit: int) -> Select[Any]:
    """Up to `limit` runs newest first (start time, then id) after the keyset `after`."""
    table = schema.runs.c
    conditions = [table.account_id == account_id]
    if after is not None:
        started_at, run_id = after
        conditions.append(
            or_(
                table.started_at < started_at,
                and_(table.started_at == started_at, table.run_id > run_id),
            )
        )
    return (
        select(schema.runs)
        .where(*conditions)
        .order_by(table.started_at.desc(), table.run_id)
        .limit(limit)
    )


def run_lines(account_id: str, run_id: str) -> Select[Any]:
    """The run's recorded lines (functions and filters)."""
    lines = schema.run_lines.c
    return select(schema.run_lines).where(lines.account_id == account_id, lines.run_id == run_id)
