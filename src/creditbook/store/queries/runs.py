"""Runs: starting, billing results, pausing and finishing; run lines."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from creditbook.store import schema
from creditbook.store.queries import hot, row_writes
from creditbook.store.queries.hot import Record

_RUNS = schema.runs.c


def insert_run(connection: Connection, values: dict[str, Any]) -> None:
    connection.execute(schema.runs.insert(), values)


# The run's row as a write reads it and answers it, on the driver (see `hot`): every batch
# of results reads the run, adds to its lines and to its totals, and answers the run.
RUN_COLUMNS = tuple(column.name for column in schema.runs.c)
_RUN_TIMES = ("started_at", "finished_at")
_RUN_JSON = ("rate_card", "active_filters", "rows_discarded")
_RUN_SELECT = ", ".join(f"r.{name}" for name in RUN_COLUMNS)
_RETURNING = " RETURNING " + ", ".join(RUN_COLUMNS)
_LINE_KEYS = ("account_id", "run_id", "kind", "name")
_LINE_SUMS = ("attempts", "quantity", "amount")


def _run(values: tuple[Any, ...], names: tuple[str, ...] = RUN_COLUMNS) -> Record:
    return hot.record(values, names, times=_RUN_TIMES, json_columns=_RUN_JSON)


def run_to_bill(connection: Connection, account_id: str, run_id: str) -> Record | None:
    """The run's row with its hold's `hold_status` and `hold_pool` (None when the run
    holds nothing); None when the account has no such run."""
    sql = row_writes.statement(
        connection,
        "run_to_bill",
        lambda mark: (
            f"SELECT {_RUN_SELECT}, h.status AS hold_status, h.pool AS hold_pool FROM runs r"
            " LEFT JOIN holds h ON h.account_id = r.account_id AND h.hold_id = r.hold_id"
            f" WHERE r.account_id = {mark} AND r.run_id = {mark}"
        ),
    )
    rows = hot.execute(connection, sql, (account_id, run_id))
    return _run(rows[0], (*RUN_COLUMNS, "hold_status", "hold_pool")) if rows else None


def add_results(
    connection: Connection,
    account_id: str,
    run_id: str,
    rows_kept: int,
    rows_discarded: dict[str, int],
    charged: int,
) -> Record:
    """Add billed results to a run (`rows_discarded` is the merged total) and resume it;
    the run's row as it now stands."""
    postgres = hot.is_postgres(connection)
    sql = row_writes.statement(
        connection,
        "add_results",
        lambda mark: (
            f"UPDATE runs SET status = 'running', rows_kept = rows_kept + {mark},"
            f" rows_discarded = {mark}{'::json' if postgres else ''},"
            f" charged = charged + {mark} WHERE account_id = {mark} AND run_id = {mark}"
            + _RETURNING
        ),
    )
    params = (rows_kept, json.dumps(rows_discarded), charged, account_id, run_id)
    [values] = hot.execute(connection, sql, params)
    return _run(values)


def add_line(
    connection: Connection, keys: dict[str, Any], attempts: int, quantity: int, amount: int
) -> None:
    """Add to a run's line (account, run, kind, name), creating it when new."""
    sql = row_writes.statement(
        connection,
        "add_run_line",
        lambda mark: (
            f"INSERT INTO run_lines ({', '.join((*_LINE_KEYS, *_LINE_SUMS))})"
            f" VALUES ({', '.join([mark] * (len(_LINE_KEYS) + len(_LINE_SUMS)))})"
            f" ON CONFLICT ({', '.join(_LINE_KEYS)}) DO UPDATE SET "
            + ", ".join(f"{name} = run_lines.{name} + excluded.{name}" for name in _LINE_SUMS)
        ),
    )
    params = (*(keys[name] for name in _LINE_KEYS), attempts, quantity, amount)
    hot.execute(connection, sql, params, rows=False)


def pause(connection: Connection, account_id: str, run_id: str) -> bool:
    """Pause the run if it is running; whether it was."""
    result = connection.execute(
        update(schema.runs)
        .where(_RUNS.account_id == account_id, _RUNS.run_id == run_id, _RUNS.status == "running")
        .values(status="paused")
    )
    return bool(result.rowcount)


def finish(connection: Connection, account_id: str, run_id: str, at: datetime) -> Record:
    """Mark the run finished at `at`; the run's row as it now stands."""
    sql = row_writes.statement(
        connection,
        "finish_run",
        lambda mark: (
            f"UPDATE runs SET status = 'finished', finished_at = {mark}"
            f" WHERE account_id = {mark} AND run_id = {mark}" + _RETURNING
        ),
    )
    finished_at = hot.stored_value(at, not hot.is_postgres(connection))
    [values] = hot.execute(connection, sql, (finished_at, account_id, run_id))
    return _run(values)


def account_of_run(connection: Connection, run_id: str) -> str | None:
    """The account of a run (None: no run has this id)."""
    account_id: str | None = connection.execute(
        select(_RUNS.account_id).where(_RUNS.run_id == run_id)
    ).scalar()
    return account_id
