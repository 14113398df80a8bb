"""Runs: starting, billing results, pausing and finishing; run lines."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from creditbook.store import schema
from creditbook.store.queries import upsert_add

_RUNS = schema.runs.c


def insert_run(connection: Connection, values: dict[str, Any]) -> None:
    connection.execute(schema.runs.insert(), values)


def add_results(
    connection: Connection,
    account_id: str,
    run_id: str,
    rows_kept: int,
    rows_discarded: dict[str, int],
    charged: int,
) -> None:
    """Add billed results to a run (`rows_discarded` is the merged total) and resume it."""
    connection.execute(
        update(schema.runs)
        .where(_RUNS.account_id == account_id, _RUNS.run_id == run_id)
        .values(
            status="running",
            rows_kept=_RUNS.rows_kept + rows_kept,
            rows_discarded=rows_discarded,
            charged=_RUNS.charged + charged,
        )
    )


def add_line(
    connection: Connection, keys: dict[str, Any], attempts: int, quantity: int, amount: int
) -> None:
    """Add to a run's line (account, run, kind, name), creating it when new."""
    upsert_add(
        connection,
        schema.run_lines,
        keys,
        {"attempts": attempts, "quantity": quantity, "amount": amount},
    )


def pause(connection: Connection, account_id: str, run_id: str) -> bool:
    """Pause the run if it is running; whether it was."""
    result = connection.execute(
        update(schema.runs)
        .where(_RUNS.account_id == account_id, _RUNS.run_id == run_id, _RUNS.status == "running")
        .values(status="paused")
    )
    return bool(result.rowcount)


def finish(connection: Connection, account_id: str, run_id: str, at: datetime) -> None:
    connection.execute(
        update(schema.runs)
        .where(_RUNS.account_id == account_id, _RUNS.run_id == run_id)
        .values(status="finished", finished_at=at)
    )


def account_of_run(connection: Connection, run_id: str) -> str | None:
    """The account of a run (None: no run has this id)."""
    account_id: str | None = connection.execute(
        select(_RUNS.account_id).where(_RUNS.run_id == run_id)
    ).scalar()
    return account_id
