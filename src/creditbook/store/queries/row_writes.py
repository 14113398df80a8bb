"""Writes of one row at a time (a hold, a rollup, a grant's or a hold's remaining credits;
on SQLite a transfer posted outside deferred mode, row by row: PostgreSQL writes one in a
single statement, `deferred.write_transfer`) and the open grants read again, as SQL on the
raw driver (see `hot`). Each statement is built once per dialect."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from creditbook.store.queries import hot
from creditbook.store.queries.hot import Record
from creditbook.store.queries.ledger_state import (
    ENTRY_TYPES,
    ROLLUP_TYPES,
    ROLLUP_UPSERT,
    TRANSFER_TYPES,
)


def _mark(connection: Connection) -> str:
    return "%s" if hot.is_postgres(connection) else "?"


_STATEMENTS: dict[tuple[str, str], str] = {}


def statement(connection: Connection, name: str, build: Callable[[str], str]) -> str:
    """A fixed statement in the dialect's parameter style, built once."""
    key = (connection.dialect.name, name)
    sql = _STATEMENTS.get(key)
    if sql is None:
        sql = _STATEMENTS[key] = build(_mark(connection))
    return sql


def insert_sql(
    table: str, columns: tuple[tuple[str, str], ...], mark: str, *, rows: int = 1
) -> str:
    """INSERT of `rows` rows of `columns` into `table`, with `mark` as each value's
    placeholder."""
    names = ", ".join(name for name, _ in columns)
    row = f"({', '.join([mark] * len(columns))})"
    return f"INSERT INTO {table} ({names}) VALUES {', '.join([row] * rows)}"


_TYPES = {"transfers": TRANSFER_TYPES, "entries": ENTRY_TYPES}


def insert_rows(
    connection: Connection,
    table: str,
    rows: list[dict[str, Any]],
    columns: tuple[tuple[str, str], ...] | None = None,
) -> None:
    """Insert rows of `columns` (by default the columns of transfers or entries) into
    `table`: one statement for one row; on PostgreSQL one statement for as many rows as
    psycopg converts from its cache (a transfer's entries), as executemany would cost more;
    else executemany."""
    columns = columns or _TYPES[table]
    sqlite = not hot.is_postgres(connection)
    values = list(hot.stored_rows(rows, columns, sqlite=sqlite))
    count = len(values)
    if not count:
        return
    together = count == 1 or (not sqlite and count * len(columns) <= hot.CONVERSION_CACHE_PARAMS)
    per_statement = count if together else 1
    sql = statement(
        connection,
        f"{table}:{per_statement}",
        lambda mark: insert_sql(table, columns, mark, rows=per_statement),
    )
    if together:
        hot.execute(connection, sql, [value for row in values for value in row], rows=False)
    else:
        hot.executemany(connection, sql, values)


def add_remaining(
    connection: Connection, table: str, account_id: str, object_id: str, amount: int
) -> int:
    """Add `amount` to a grant's or a hold's (`table`) remaining credits; rows changed."""
    id_column = "grant_id" if table == "grants" else "hold_id"
    sql = statement(
        connection,
        f"apply:{table}",
        lambda mark: (
            f"UPDATE {table} SET remaining = remaining + {mark}"
            f" WHERE account_id = {mark} AND {id_column} = {mark}"
        ),
    )
    return hot.execute_count(connection, sql, (amount, account_id, object_id))


def _upsert_rollup(mark: str) -> str:
    return insert_sql("rollups", ROLLUP_TYPES, mark) + ROLLUP_UPSERT


def add_rollup(connection: Connection, row: dict[str, Any]) -> None:
    """Add a rollup row's sums to its day's row (inserting it if new)."""
    sql = statement(connection, "rollup", _upsert_rollup)
    [values] = hot.stored_rows([row], ROLLUP_TYPES, sqlite=not hot.is_postgres(connection))
    hot.execute(connection, sql, values, rows=False)


def open_grants(
    connection: Connection, account_id: str, pool: str, now: datetime, *, spendable: bool
) -> list[Record]:
    """A pool's grants in effect at `now` and not closed; `spendable`: only those that can
    be drawn from (credits left, or the overdraft grant)."""
    name = "open_grants:spendable" if spendable else "open_grants"
    condition = " AND (g.remaining > 0 OR g.source = 'overdraft')" if spendable else ""
    sql = statement(
        connection,
        name,
        lambda mark: (
            f"SELECT {hot.GRANT_SELECT} FROM grants g WHERE g.account_id = {mark}"
            f" AND g.pool = {mark} AND " + hot.OPEN_GRANTS_WHERE.format(now=mark) + condition
        ),
    )
    params = (account_id, pool, hot.stored_value(now, not hot.is_postgres(connection)))
    return [hot.grant_record(values) for values in hot.execute(connection, sql, params)]
