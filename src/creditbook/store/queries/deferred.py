"""The deferred writes of charges and batches, as SQL on the raw driver (see `hot`): the
transfers, entries, grant changes, rollups and idempotency answers a transaction collected,
in one statement on PostgreSQL and one executemany per table on SQLite. A transfer another
write posts as it goes (`write_transfer`) takes the same statement on PostgreSQL."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any, NamedTuple

from psycopg.types.numeric import Int8
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from creditbook.domain.errors import invariant
from creditbook.store.queries import hot, row_writes
from creditbook.store.queries.hot import is_postgres, stored_rows, stored_value
from creditbook.store.queries.ledger_state import (
    ENTRY_TYPES,
    KEY_TYPES,
    ROLLUP_TYPES,
    ROLLUP_UPSERT,
    TRANSFER_TYPES,
    postgres_flush,
)
from creditbook.store.queries.row_writes import insert_sql

_SQLITE_INSERT_TRANSFERS = insert_sql("transfers", TRANSFER_TYPES, "?")
_SQLITE_INSERT_ENTRIES = insert_sql("entries", ENTRY_TYPES, "?")
_SQLITE_INSERT_KEYS = insert_sql("idempotency", KEY_TYPES, "?")
_SQLITE_APPLY = "UPDATE grants SET remaining = remaining + ? WHERE account_id = ? AND grant_id = ?"
_SQLITE_ROLLUPS = insert_sql("rollups", ROLLUP_TYPES, "?") + ROLLUP_UPSERT


def _tuples(
    rows: list[dict[str, Any]], columns: tuple[tuple[str, str], ...]
) -> list[tuple[Any, ...]]:
    """Rows as SQLite's executemany takes them."""
    return [tuple(values) for values in stored_rows(rows, columns, sqlite=True)]


class Guard(NamedTuple):
    """The account a guarded flush applies to, the row version it must still be (xmin, as
    `hot.peek` read it), and the last transfer number it sets."""

    account_id: str
    version: str
    last_seq: int


class Writes(NamedTuple):
    """What deferred transactions collected: rows of transfers, entries and rollups (by
    column name), grant changes as (account_id, grant_id, amount), and idempotency answers
    (KEY_TYPES, the response as JSON text). `holds`: changes to holds' remaining credits as
    (account_id, hold_id, amount), only in the flush of one transfer (`write_transfer`)."""

    transfers: list[dict[str, Any]]
    entries: list[dict[str, Any]]
    rollups: list[dict[str, Any]]
    deltas: list[tuple[str, str, int]]
    keys: list[dict[str, Any]]
    holds: Sequence[tuple[str, str, int]] = ()


def flush(connection: Connection, writes: Writes) -> int:
    """Write deferred transfers, entries, grant changes, rollups and idempotency answers:
    one statement on PostgreSQL, one executemany per table on SQLite. The number of grants
    (and holds) updated (-1: the driver did not count them)."""
    if is_postgres(connection):
        small = len(writes.transfers) <= SMALL_FLUSH_TRANSFERS
        invariant(small or not writes.holds, "holds change only in the flush of one transfer")
        sql, values = (_small_flush if small else _set_flush)(writes)
        return int(hot.execute(connection, sql, values)[0][0])
    transfers, entries, rollups, deltas, keys, holds = writes
    invariant(not holds, "SQLite writes a transfer's hold changes row by row")
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


def write_transfer(
    connection: Connection,
    transfer: dict[str, Any],
    entries: list[dict[str, Any]],
    grants: dict[str, int],
    holds: dict[str, int],
) -> None:
    """Write one transfer as it is posted (outside deferred mode): its row, its entries,
    and what they add to grants and holds (`grants`, `holds`: amounts by id). On PostgreSQL
    as the flush of one transfer, in one statement; on SQLite row by row."""
    account_id = transfer["account_id"]
    if is_postgres(connection):
        writes = Writes(
            [transfer],
            entries,
            [],
            [(account_id, grant_id, amount) for grant_id, amount in grants.items()],
            [],
            [(account_id, hold_id, amount) for hold_id, amount in holds.items()],
        )
        updated = flush(connection, writes)
        invariant(updated == len(grants) + len(holds), "an entry names a missing grant or hold")
        return
    row_writes.insert_rows(connection, "transfers", [transfer])
    row_writes.insert_rows(connection, "entries", entries)
    for table, changes in (("grants", grants), ("holds", holds)):
        for object_id, amount in changes.items():
            changed = row_writes.add_remaining(connection, table, account_id, object_id, amount)
            invariant(changed == 1, f"an entry names a missing row {object_id}")


def flush_guarded(connection: Connection, writes: Writes, guard: Guard) -> int | None:
    """Write the deferred rows of one transfer on one account (PostgreSQL) together with
    the account's new last transfer number, in one statement meant to run on its own
    (autocommit), and only if the account row is still the version `peek` read: otherwise
    nothing at all is written and the answer is None. Else the number of grants updated."""
    sql, values = _small_flush(writes, guard)
    try:
        written, updated = hot.execute(connection, sql, values)[0]
    except DBAPIError as error:
        hot.commits_alone(error)
        raise
    return int(updated) if written else None


def _set_flush(writes: Writes) -> tuple[str, Any]:
    """The flush as one statement over arrays, one per column (in binary: psycopg's text
    form quotes every element by regular expression). A column with the same value on
    every row is bound once instead; whole numbers bound once go as int8, so that a prepared
    statement serves them whatever their size."""
    transfers, entries, rollups, deltas, keys, _ = writes
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
# prepared statement per shape (how many transfers, entries, answers, grants and rollups,
# and whether its shared values are bound once). psycopg parses a statement's text again
# on every execution when it takes more than 50 parameters (about 80 µs here); a keyed
# charge, or one drawing on two grants, has more. Since the rows of one transfer share its
# account and number, such a flush binds those once, and fits again. Below 50 a copy on
# each row costs less than naming the parameters.
SMALL_FLUSH_TRANSFERS = 2
_Shape = tuple[int, int, int, int, int, int, bool, bool]
_SMALL_FLUSH: dict[_Shape, tuple[str, tuple[str, ...]]] = {}
_DELTA_COLUMNS = (("account_id", "varchar"), ("grant_id", "varchar"), ("amount", "bigint"))
_DELTA_NAMES = tuple(name for name, _ in _DELTA_COLUMNS)
_HOLD_COLUMNS = (("account_id", "varchar"), ("hold_id", "varchar"), ("amount", "bigint"))
_HOLD_NAMES = tuple(name for name, _ in _HOLD_COLUMNS)
# What the rows of one transfer's flush repeat from it: its account and number, and on its
# rollup its pool and attribution.
_ATTRIBUTION = ("pool", "function", "module", "service", "user_id", "resource_id")
_TRANSFER_SHARED = ("account_id", "seq", *_ATTRIBUTION)
# The tables of a small flush in the order its values are given, and the columns that take
# the transfer's value when the flush binds it once.
_SMALL_TABLES = (
    ("t", TRANSFER_TYPES, frozenset(_TRANSFER_SHARED)),
    ("e", ENTRY_TYPES, frozenset(("account_id", "seq"))),
    ("k", KEY_TYPES, frozenset(("account_id",))),
    ("d", _DELTA_COLUMNS, frozenset(("account_id",))),
    ("h", _HOLD_COLUMNS, frozenset(("account_id",))),
    ("r", ROLLUP_TYPES, frozenset(("account_id", *_ATTRIBUTION))),
)
_WIDTHS = tuple(len(columns) for _, columns, _ in _SMALL_TABLES)


def _small_flush_sql(shape: _Shape) -> tuple[str, tuple[str, ...]]:
    """The statement of a small flush and, when it binds shared values once, the names of
    the others in the order they are given (each table's rows, each row's columns).

    A guarded flush first sets the account's last number, only if its row is still the
    version given (`a`), and every other write reads `a`: when `a` changed no row, none
    of them writes anything. Its rows are then selected rather than given as VALUES of
    the INSERT, so each value names its type."""
    *counts, shares, guarded = shape
    names: list[str] = []
    values: dict[str, str] = {}
    for (prefix, columns, shared), rows in zip(_SMALL_TABLES, counts, strict=True):
        tuples = []
        for index in range(rows):
            marks = []
            for name, kind in columns:
                if not shares:
                    mark = "%s"
                elif name in shared:
                    mark = f"%({name})s"
                else:
                    names.append(f"{prefix}{index}_{name}")
                    mark = f"%({names[-1]})s"
                cast = f"::{kind}" if guarded or prefix in "dh" or kind == "json" else ""
                marks.append(mark + cast)
            tuples.append("(" + ", ".join(marks) + ")")
        values[prefix] = ", ".join(tuples)
    keys, deltas, holds, rollups = counts[2:]
    invariant(not (guarded and holds), "a guarded flush changes no hold")
    given = _guarded_rows if guarded else _plain_rows
    grants = "SELECT 1 WHERE false"
    if deltas:
        grants = _add_remaining_sql("grants", "d", "a, " if guarded else "", values["d"])
    held, unguarded = "", "SELECT count(*) FROM g"
    if holds:
        held = f", h AS ({_add_remaining_sql('holds', 'c', '', values['h'])})"
        unguarded = "SELECT (SELECT count(*) FROM g) + (SELECT count(*) FROM h)"
    rollup = ""
    if rollups:
        r_names = ", ".join(name for name, _ in ROLLUP_TYPES)
        rollup = f", r AS (INSERT INTO rollups ({r_names}) {given(values['r'])}{ROLLUP_UPSERT})"
    stored = ""
    if keys:
        k_names = ", ".join(name for name, _ in KEY_TYPES)
        stored = f" k AS (INSERT INTO idempotency ({k_names}) {given(values['k'])}),"
    t_names = ", ".join(name for name, _ in TRANSFER_TYPES)
    e_names = ", ".join(name for name, _ in ENTRY_TYPES)
    account, answer = _guard_sql(shares) if guarded else ("", unguarded)
    sql = (
        f"WITH {account}t AS (INSERT INTO transfers ({t_names}) {given(values['t'])}),"
        f" e AS (INSERT INTO entries ({e_names}) {given(values['e'])}),"
        f"{stored} g AS ({grants}){held}{rollup} {answer}"
    )
    return sql, tuple(names)


def _add_remaining_sql(table: str, alias: str, joined: str, values: str) -> str:
    """Add to the remaining credits of grants or holds (`table`) the amounts of `values`
    (account, id, amount; one row per grant or hold: an UPDATE joined to several rows for
    one target changes it once), as `alias`, after the tables `joined`."""
    key = "grant_id" if table == "grants" else "hold_id"
    return (
        f"UPDATE {table} SET remaining = {table}.remaining + {alias}.amount"
        f" FROM {joined}(VALUES {values}) AS {alias}(account_id, {key}, amount)"
        f" WHERE {table}.account_id = {alias}.account_id AND {table}.{key} = {alias}.{key}"
        " RETURNING 1"
    )


def _guard_sql(shares: bool) -> tuple[str, str]:
    """A guarded flush's account update (`a`, first) and its answer: whether it changed
    the row, and how many grants were updated."""
    mark = "%({})s" if shares else "%s"
    account = (
        f"a AS (UPDATE accounts SET last_seq = {mark.format('a_last_seq')}::bigint"
        f" WHERE account_id = {mark.format('a_account_id')}::varchar"
        f" AND xmin = {mark.format('a_version')}::xid RETURNING 1), "
    )
    return account, "SELECT (SELECT count(*) FROM a), (SELECT count(*) FROM g)"


def _plain_rows(values: str) -> str:
    return f"VALUES {values}"


def _guarded_rows(values: str) -> str:
    return f"SELECT v.* FROM a, (VALUES {values}) AS v"


def _small_flush(writes: Writes, guard: Guard | None = None) -> tuple[str, Any]:
    transfers, entries, rollups, deltas, keys, holds = writes
    delta_rows = [dict(zip(_DELTA_NAMES, delta, strict=True)) for delta in deltas]
    hold_rows = [dict(zip(_HOLD_NAMES, change, strict=True)) for change in holds]
    tables = (transfers, entries, keys, delta_rows, hold_rows, rollups)
    counts = (len(transfers), len(entries), len(keys), len(deltas), len(holds), len(rollups))
    first = transfers[0]
    shares = (
        sum(map(operator.mul, counts, _WIDTHS)) + (guard is not None) * len(Guard._fields)
        > hot.CONVERSION_CACHE_PARAMS
        and len(transfers) == 1
        and all(
            row[name] == first[name]
            for (_, _, shared), rows in zip(_SMALL_TABLES, tables, strict=True)
            for row in rows
            for name in shared
        )
    )
    shape = (*counts, shares, guard is not None)
    found = _SMALL_FLUSH.get(shape)
    if found is None:
        found = _SMALL_FLUSH[shape] = _small_flush_sql(shape)
    sql, names = found
    values: list[Any] = []
    if guard is not None and not shares:
        values.extend((guard.last_seq, guard.account_id, guard.version))
    for (_, columns, shared), rows in zip(_SMALL_TABLES, tables, strict=True):
        skipped = shared if shares else frozenset()
        for row_values in stored_rows(rows, columns, sqlite=False, skipped=skipped):
            values.extend(row_values)
    if not shares:
        return sql, values
    params = dict(zip(names, values, strict=True))
    params.update((name, stored_value(first[name], False)) for name in _TRANSFER_SHARED)
    if guard is not None:
        params.update(
            a_last_seq=guard.last_seq, a_account_id=guard.account_id, a_version=guard.version
        )
    return sql, params
