"""Holds on a locked account: writing a new hold, reading one, what it still holds per
grant, and closing it. They run on every hold, capture and release, as SQL on the raw
driver (see `hot`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from creditbook.store.queries import hot, row_writes
from creditbook.store.queries.hot import Record

HOLD_TYPES = (
    ("account_id", "varchar"),
    ("hold_id", "varchar"),
    ("pool", "varchar"),
    ("amount", "bigint"),
    ("remaining", "bigint"),
    ("status", "varchar"),
    ("run_id", "varchar"),
    ("created_at", "timestamp"),
    ("expires_at", "timestamp"),
    ("closed_at", "timestamp"),
)
_HOLD_COLUMNS = tuple(name for name, _ in HOLD_TYPES)
_HOLD_TIMES = ("created_at", "expires_at", "closed_at")
_ALLOCATION_COLUMNS = (
    "grant_id",
    "held",
    "source",
    "priority",
    "expires_at",
    "created_seq",
    "closed",
)


def insert_hold(connection: Connection, values: dict[str, Any]) -> None:
    row_writes.insert_rows(connection, "holds", [values], HOLD_TYPES)


def hold(connection: Connection, account_id: str, hold_id: str) -> Record | None:
    """The hold's row (None: the account has no such hold)."""
    sql = row_writes.statement(
        connection,
        "hold",
        lambda mark: (
            f"SELECT {', '.join(_HOLD_COLUMNS)} FROM holds"
            f" WHERE account_id = {mark} AND hold_id = {mark}"
        ),
    )
    rows = hot.execute(connection, sql, (account_id, hold_id))
    return hot.record(rows[0], _HOLD_COLUMNS, times=_HOLD_TIMES) if rows else None


def _allocations_sql(mark: str) -> str:
    # `e.hold_id <> ''` is the condition of the partial index ix_entries_hold.
    return (
        "SELECT e.grant_id, SUM(e.amount) AS held, g.source, g.priority, g.expires_at,"
        " g.created_seq, g.closed_at IS NOT NULL AS closed"
        " FROM entries e JOIN grants g"
        " ON g.account_id = e.account_id AND g.grant_id = e.grant_id"
        f" WHERE e.account_id = {mark} AND e.book = 'hold' AND e.hold_id = {mark}"
        " AND e.hold_id <> ''"
        " GROUP BY e.grant_id, g.source, g.priority, g.expires_at, g.created_seq, g.closed_at"
    )


def allocations(connection: Connection, account_id: str, hold_id: str) -> list[Record]:
    """What a hold took from each grant, net of what it has given back or spent: records
    (grant_id, held, source, priority, expires_at, created_seq, closed), `closed` whether
    the grant has closed (expired) since."""
    sql = row_writes.statement(connection, "hold_allocations", _allocations_sql)
    rows = hot.execute(connection, sql, (account_id, hold_id))
    return hot.records(rows, _ALLOCATION_COLUMNS, times=("expires_at",))


def close_hold(
    connection: Connection, account_id: str, hold_id: str, status: str, at: datetime
) -> None:
    sql = row_writes.statement(
        connection,
        "close_hold",
        lambda mark: (
            f"UPDATE holds SET status = {mark}, closed_at = {mark}"
            f" WHERE account_id = {mark} AND hold_id = {mark}"
        ),
    )
    closed_at = hot.stored_value(at, not hot.is_postgres(connection))
    hot.execute(connection, sql, (status, closed_at, account_id, hold_id), rows=False)
