"""The deferred writes of charges and batches, as SQL on the raw driver (see `hot`): the
transfers, entries, grant changes, rollups and idempotency answers a transaction collected,
in one statement on PostgreSQL and one executemany per table on SQLite."""

from __future__ import annotations

from typing import Any

from psycopg.types.numeric import Int8
from sqlalchemy import Connection

from creditbook.store.queries import hot
from creditbook.store.queries.hot import insert_sql, is_postgres, stored_value
from creditbook.store.queries.ledger_state import (
    ENTRY_TYPES,
    KEY_TYPES,
    ROLLUP_TYPES,
    ROLLUP_UPSERT,
    TRANSFER_TYPES,
    postgres_flush,
)

_SQLITE_INSERT_TRANSFERS = insert_sql("transfers", TRANSFER_TYPES, "?")
_SQLITE_INSERT_ENTRIES = insert_sql("entries", ENTRY_TYPES, "?")
_SQLITE_INSERT_KEYS = insert_sql("idempotency", KEY_TYPES, "?")
_SQLITE_APPLY = "UPDATE grants SET remaining = remaining + ? WHERE account_id = ? AND grant_id = ?"
_SQLITE_ROLLUPS = insert_sql("rollups", ROLLUP_TYPES, "?") + ROLLUP_UPSERT


_TIME_KINDS = ("timestamp", "date")


def _tuples(
    rows: list[dict[str, Any]], columns: tuple[tuple[str, str], ...]
) -> list[tuple[Any, ...]]:
    """Rows as SQLite's executemany takes them; only the time columns need converting."""
    names = [name for name, _ in columns]
    times = [index for index, (_, kind) in enumerate(columns) if kind in _TIME_KINDS]
    tuples = []
    for row in rows:
        values = [row[name] for name in names]
        for index in times:
            if values[index] is not None:
                values[index] = stored_value(values[index], True)
        tuples.append(tuple(values))
    return tuples


def flush(
    connection: Connection,
    transfers: list[dict[str, Any]],
    entries: list[dict[str, Any]],
    rollups: list[dict[str, Any]],
    deltas: list[tuple[str, str, int]],
    keys: list[dict[str, Any]],
) -> int:
    """Write deferred transfers, entries, grant changes, rollups and idempotency answers
    (`keys`, KEY_TYPES with the response as JSON text): one statement on PostgreSQL, one
    executemany per table on SQLite. The number of grants updated (-1: the driver did not
    count them)."""
    if is_postgres(connection):
        flush_of = _small_flush if len(transfers) <= SMALL_FLUSH_TRANSFERS else _set_flush
        sql, values = flush_of(transfers, entries, rollups, deltas, keys)
        return int(hot.execute(connection, sql, values)[0][0])
    hot.executemany(connection, _SQLITE_INSERT_TRANSFERS, _tuples(transfers, TRANSFER_TYPES))
    hot.executemany(connection, _SQLITE_INSERT_ENTRIES, _tuples(entries, ENTRY_TYPES))
    if keys:
        hot.executemany(connection, _SQLITE_INSERT_KEYS, _tuples(keys, KEY_TYPES))
    updated = -1
    if deltas:
        updated = hot.executemany(
            connection, _SQLITE_APPLY, [(amount, a, g) for a, g, amount in deltas]
        )
    if rollups:
        hot.executemany(connection, _SQLITE_ROLLUPS, _tuples(rollups, ROLLUP_TYPES))
    return updated


def _set_flush(
    transfers: list[dict[str, Any]],
    entries: list[dict[str, Any]],
    rollups: list[dict[str, Any]],
    deltas: list[tuple[str, str, int]],
    keys: list[dict[str, Any]],
) -> tuple[str, Any]:
    """The flush as one statement over arrays, one per column (in binary: psycopg's text
    form quotes every element by regular expression). A column with the same value on
    every row is bound once instead; whole numbers bound once go as int8, so that a prepared
    statement serves them whatever their size."""
    params: dict[str, Any] = {}
    shared: set[str] = set()
    tables = [
        ("t", TRANSFER_TYPES, transfers),
        ("e", ENTRY_TYPES, entries),
        ("r", ROLLUP_TYPES, rollups),
    ]
    if keys:  # the statement stores answers only when there are some
        tables.append(("k", KEY_TYPES, keys))
    for prefix, columns, rows in tables:
        for name, kind in columns:
            key = f"{prefix}_{name}"
            if kind == "timestamp":
                values = [stored_value(row[name], False) for row in rows]
            else:
                values = [row[name] for row in rows]
            if values and values.count(values[0]) == len(values):
                shared.add(key)
                first = values[0]
                params[key] = Int8(first) if type(first) is int else first
            else:
                params[key] = values
    params["g_account_id"] = [delta[0] for delta in deltas]
    params["g_grant_id"] = [delta[1] for delta in deltas]
    params["g_amount"] = [delta[2] for delta in deltas]
    return postgres_flush(frozenset(shared), bool(keys)), params


# A flush of a few transfers (a single charge) binds plain values instead of arrays: one
# prepared statement per shape (how many transfers, entries, grants and rollups).
SMALL_FLUSH_TRANSFERS = 2
_SMALL_FLUSH: dict[tuple[int, int, int, int, int], str] = {}


def _values(rows: int, width: int) -> str:
    row = "(" + ", ".join(["%s"] * width) + ")"
    return ", ".join([row] * rows)


def _small_flush_sql(shape: tuple[int, int, int, int, int]) -> str:
    transfers, entries, rollups, deltas, keys = shape
    t_names = ", ".join(name for name, _ in TRANSFER_TYPES)
    e_names = ", ".join(name for name, _ in ENTRY_TYPES)
    r_names = ", ".join(name for name, _ in ROLLUP_TYPES)
    grants = "SELECT 1 WHERE false"
    if deltas:
        delta = "(%s::varchar, %s::varchar, %s::bigint)"
        grants = (
            "UPDATE grants SET remaining = grants.remaining + d.amount"
            f" FROM (VALUES {', '.join([delta] * deltas)}) AS d(account_id, grant_id, amount)"
            " WHERE grants.account_id = d.account_id AND grants.grant_id = d.grant_id"
            " RETURNING 1"
        )
    rollup = ""
    if rollups:
        rollup = (
            f", r AS (INSERT INTO rollups ({r_names})"
            f" VALUES {_values(rollups, len(ROLLUP_TYPES))}{ROLLUP_UPSERT})"
        )
    stored = ""
    if keys:
        k_names = ", ".join(name for name, _ in KEY_TYPES)
        row = "(" + ", ".join("%s::json" if kind == "json" else "%s" for _, kind in KEY_TYPES) + ")"
        stored = f" k AS (INSERT INTO idempotency ({k_names}) VALUES {', '.join([row] * keys)}),"
    return (
        f"WITH t AS (INSERT INTO transfers ({t_names})"
        f" VALUES {_values(transfers, len(TRANSFER_TYPES))}),"
        f" e AS (INSERT INTO entries ({e_names}) VALUES {_values(entries, len(ENTRY_TYPES))}),"
        f"{stored} g AS ({grants}){rollup}"
        " SELECT count(*) FROM g"
    )


def _small_flush(
    transfers: list[dict[str, Any]],
    entries: list[dict[str, Any]],
    rollups: list[dict[str, Any]],
    deltas: list[tuple[str, str, int]],
    keys: list[dict[str, Any]],
) -> tuple[str, Any]:
    shape = (len(transfers), len(entries), len(rollups), len(deltas), len(keys))
    sql = _SMALL_FLUSH.get(shape)
    if sql is None:
        sql = _SMALL_FLUSH[shape] = _small_flush_sql(shape)
    values: list[Any] = []
    for rows, columns in (
        (transfers, TRANSFER_TYPES),
        (entries, ENTRY_TYPES),
        (keys, KEY_TYPES),
    ):
        for row in rows:
            values.extend(stored_value(row[name], False) for name, _ in columns)
    for delta in deltas:
        values.extend(delta)
    for row in rollups:
        values.extend(stored_value(row[name], False) for name, _ in ROLLUP_TYPES)
    return sql, values
