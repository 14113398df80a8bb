"""The charge hot path at the driver: the account lock with the account's open grants and
stored idempotency answers, and the account write-back, as SQL run on the raw driver cursor
(psycopg 3 with server-side prepared statements; `sqlite3` directly); the deferred writes
are in `deferred`, the writes one row at a time in `row_writes`. SQLAlchemy's
per-execution machinery costs more than these statements themselves; it stays for
everything else.

A driver error is raised as SQLAlchemy's own (`DBAPIError` and its subclasses), so the
transaction runner's retry rules see one kind of error; a dropped connection is invalidated
and marked `connection_invalidated`.

PostgreSQL locks the accounts and reads their grants in one statement. That statement's
snapshot is taken before it waits for a lock, so the grants it read are only current when no
other transaction locked the account in between: the statement also reads the account's
`last_seq` from the snapshot, and the grants are kept only when the lock took the next number
after it (every write bumps it under the lock). Otherwise the caller reads them again. The
answers stored under idempotency keys it read are kept on the same condition (a key is stored
under its account's lock); the caller looks them up itself otherwise.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cached_property
from typing import Any, TypeVar

from psycopg import pq
from psycopg.types.numeric import Int8
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError, StatementError

from creditbook.domain.errors import invariant
from creditbook.store import schema

T = TypeVar("T")
_IDLE = pq.TransactionStatus.IDLE

ACCOUNT_COLUMNS = tuple(column.name for column in schema.accounts.c)
GRANT_COLUMNS = (
    "grant_id",
    "pool",
    "source",
    "priority",
    "expires_at",
    "created_seq",
    "remaining",
)
_ACCOUNT_TIMES = {"anchor_at", "next_event_at", "created_at"}
_GRANT_TIMES = ("expires_at",)
_JSON_COLUMNS = ("metadata", "alerts")
_PLAN_VERSION = "(SELECT plans.version FROM plans WHERE plans.plan_id = accounts.plan_id)"


class Record:
    """A row read on the driver, with attribute access like SQLAlchemy's rows."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(name)


class AccountRecord(Record):
    """A locked account row. Its metadata (free-form, possibly large, and seldom needed by
    a write) is decoded when first read."""

    @cached_property
    def metadata(self) -> Any:
        return decoded(self.stored_metadata)


@dataclass
class Locked:
    """A locked account row, its open grants by pool (None: read them again), and the
    answers stored under the idempotency keys asked for, by key (None: look them up).
    `version` is set by `peek` only: the row version it read (see `peek`). `reserved`:
    how many transfer numbers the lock reserved, the last of them `row.last_seq`."""

    row: Record
    grants: dict[str, list[Record]] | None
    stored: dict[str, Record] | None = None
    version: str | None = None
    reserved: int = 1


# -- running SQL on the driver -------------------------------------------------------------


def _driver(connection: Connection) -> Any:
    """The driver's connection (sqlite3 and psycopg are their own DB-API layer). Through
    `dbapi_connection`, which a connection detached from its pool keeps too."""
    return connection.connection.dbapi_connection


def is_postgres(connection: Connection) -> bool:
    return connection.dialect.name == "postgresql"


@contextmanager
def each_on_its_own(connection: Connection) -> Iterator[bool]:
    """On PostgreSQL, when no transaction has begun on the connection yet, run each
    statement of the block as a transaction of its own (autocommit) and yield True: no
    BEGIN and no COMMIT round trip. Otherwise yield False and change nothing."""
    raw = _driver(connection)
    if not is_postgres(connection) or raw.pgconn.transaction_status != _IDLE:
        yield False
        return
    raw.autocommit = True
    try:
        yield True
    finally:
        if raw.pgconn.transaction_status == _IDLE:
            raw.autocommit = False
        else:  # dropped, or interrupted mid-statement: never to be used again in autocommit
            connection.invalidate()


def _driver_error(
    connection: Connection, raw: Any, cursor: Any, sql: str, params: Any, error: Any
) -> StatementError:
    """A driver error as SQLAlchemy's (the connection invalidated when it dropped)."""
    dialect = connection.dialect
    dropped = bool(dialect.is_disconnect(error, raw, cursor))
    if dropped:
        connection.invalidate(error)
    mapped: StatementError = DBAPIError.instance(
        sql,
        params,
        error,
        dialect.loaded_dbapi.Error,
        connection_invalidated=dropped,
        dialect=dialect,
    )
    return mapped


_OUTCOME_UNKNOWN = "creditbook_outcome_unknown"
# psycopg keeps how it converts a statement's parameters only for statements of at most 50
# parameters (and 4,096 characters); it parses any other again on every execution.
CONVERSION_CACHE_PARAMS = 50


def commits_alone(error: DBAPIError) -> None:
    """Mark the error of a write that commits by itself: if its connection dropped, the
    write may have been committed, and the transaction runner must not run it again."""
    setattr(error, _OUTCOME_UNKNOWN, True)


def outcome_unknown(error: DBAPIError) -> bool:
    """Whether the error is that of a write that committed by itself (`commits_alone`)."""
    return bool(getattr(error, _OUTCOME_UNKNOWN, False))


def execute(
    connection: Connection, sql: str, params: Any, *, rows: bool = True
) -> list[tuple[Any, ...]]:
    """Run one statement and fetch its rows when it returns `rows` (prepared on the server
    for PostgreSQL). Asking the cursor whether there are rows would build its column
    descriptions, which costs more than the fetch."""
    return _run(connection, sql, params, lambda cursor: cursor.fetchall() if rows else [])


def execute_count(connection: Connection, sql: str, params: Any) -> int:
    """Run one statement; the number of rows it changed."""
    return _run(connection, sql, params, lambda cursor: int(cursor.rowcount))


def _run(connection: Connection, sql: str, params: Any, answer: Callable[[Any], T]) -> T:
    raw = _driver(connection)
    if is_postgres(connection):
        return _run_postgres(connection, raw, sql, params, answer)
    cursor = raw.cursor()
    try:
        cursor.execute(sql, params)
        return answer(cursor)
    except connection.dialect.loaded_dbapi.Error as error:
        raise _driver_error(connection, raw, cursor, sql, params, error) from error
    finally:
        cursor.close()


# Where a pooled PostgreSQL connection keeps the cursor the hot path runs on.
_CURSOR = "creditbook.hot_cursor"


def _run_postgres(
    connection: Connection, raw: Any, sql: str, params: Any, answer: Callable[[Any], T]
) -> T:
    """Run one prepared statement on the cursor the connection keeps for the hot path, in
    its pool entry's `info` (which lives as long as the driver's connection). A new psycopg
    cursor learns again how to convert each parameter and column: on a kept one, a single
    charge runs 3.7% fewer instructions (`benchmarks/instructions.py`). A cursor that saw
    an error is not kept. (SQLite's cursors cost nothing to make.)"""
    info = connection.connection.info
    cursor = info.get(_CURSOR)
    if cursor is None or cursor.connection is not raw:
        cursor = info[_CURSOR] = raw.cursor()
    try:
        cursor.execute(sql, params, prepare=True)
        return answer(cursor)
    except connection.dialect.loaded_dbapi.Error as error:
        del info[_CURSOR]
        cursor.close()
        raise _driver_error(connection, raw, cursor, sql, params, error) from error


def executemany(connection: Connection, sql: str, rows: Sequence[Any]) -> int:
    """Run the statement once for each row; the number of rows it changed. psycopg runs an
    executemany in pipeline mode, which costs far more than one statement: on PostgreSQL
    one row is one execution."""
    if len(rows) == 1 and is_postgres(connection):
        return execute_count(connection, sql, rows[0])
    raw = _driver(connection)
    cursor = raw.cursor()
    try:
        cursor.executemany(sql, rows)
        return int(cursor.rowcount)
    except connection.dialect.loaded_dbapi.Error as error:
        raise _driver_error(connection, raw, cursor, sql, rows, error) from error
    finally:
        cursor.close()


# -- values as the schema stores them --------------------------------------------------------


def aware(value: Any) -> Any:
    """A stored timestamp (naive UTC; text on SQLite) as an aware datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC)


def stored_value(value: Any, sqlite: bool) -> Any:
    """A bound value as the schema stores it: datetimes naive UTC (SQLAlchemy's text form
    on SQLite, `YYYY-MM-DD HH:MM:SS.ffffff`), dates ISO text on SQLite."""
    if isinstance(value, datetime):
        naive = value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
        return naive.isoformat(" ", "microseconds") if sqlite else naive
    if sqlite and isinstance(value, date):
        return value.isoformat()
    return value


_TIME_KINDS = ("timestamp", "date")


def stored_rows(
    rows: list[dict[str, Any]],
    columns: tuple[tuple[str, str], ...],
    *,
    sqlite: bool,
    skipped: frozenset[str] = frozenset(),
) -> Iterator[list[Any]]:
    """Each row's values of `columns` but `skipped`, as the schema stores them: only the
    time columns need converting (`stored_value`), so only they are looked at."""
    names, times = _layout(columns, skipped)
    for row in rows:
        values = [row[name] for name in names]
        for index in times:
            if values[index] is not None:
                values[index] = stored_value(values[index], sqlite)
        yield values


@functools.cache
def _layout(
    columns: tuple[tuple[str, str], ...], skipped: frozenset[str]
) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """The names of `columns` but `skipped`, and where the time columns are among them."""
    kept = [(name, kind) for name, kind in columns if name not in skipped]
    times = tuple(index for index, (_, kind) in enumerate(kept) if kind in _TIME_KINDS)
    return tuple(name for name, _ in kept), times


def _account(values: Sequence[Any]) -> Record:
    row = dict(zip((*ACCOUNT_COLUMNS, "plan_version"), values, strict=True))
    for name in _ACCOUNT_TIMES:
        row[name] = aware(row[name])
    row["has_unpaid_bill"] = bool(row["has_unpaid_bill"])
    row["alerts"] = decoded(row["alerts"])
    row["stored_metadata"] = row.pop("metadata")
    return AccountRecord(row)


def decoded(value: Any) -> Any:
    """A JSON column as read: text on SQLite and from the lock's `::text`. Most accounts'
    alerts are the empty object, read without the JSON parser."""
    if value == "{}":
        return {}
    return json.loads(value) if isinstance(value, str) else value


def record(
    values: Sequence[Any],
    names: tuple[str, ...],
    *,
    times: tuple[str, ...] = (),
    json_columns: tuple[str, ...] = (),
) -> Record:
    """A row read on the driver as a Record named `names`, its `times` aware datetimes and
    its `json_columns` decoded, as SQLAlchemy's column types would give them."""
    row = dict(zip(names, values, strict=True))
    for name in times:
        row[name] = aware(row[name])
    for name in json_columns:
        row[name] = decoded(row[name])
    return Record(row)


def records(
    rows: list[tuple[Any, ...]],
    names: tuple[str, ...],
    *,
    times: tuple[str, ...] = (),
    json_columns: tuple[str, ...] = (),
) -> list[Record]:
    """Each of `rows` as `record` reads it."""
    return [record(values, names, times=times, json_columns=json_columns) for values in rows]


def grant_record(values: Sequence[Any]) -> Record:
    return record(values, GRANT_COLUMNS, times=_GRANT_TIMES)


# -- the lock --------------------------------------------------------------------------------

_RETURNING = ", ".join((*ACCOUNT_COLUMNS, f"{_PLAN_VERSION} AS plan_version"))
# JSON columns come back as text, decoded once per account (a row per grant repeats them).
_PG_RETURNING = ", ".join(
    (
        *(
            f"accounts.{name}::text AS {name}" if name in _JSON_COLUMNS else f"accounts.{name}"
            for name in ACCOUNT_COLUMNS
        ),
        f"{_PLAN_VERSION} AS plan_version",
    )
)
OPEN_GRANTS_WHERE = "g.closed_at IS NULL AND g.effective_at <= {now}"
GRANT_SELECT = ", ".join(f"g.{name}" for name in GRANT_COLUMNS)
_L_COLUMNS = ", ".join(f"l.{name}" for name in (*ACCOUNT_COLUMNS, "plan_version"))

# Several accounts are locked in account-id order (the FOR UPDATE subquery), so two batches
# never deadlock. Every table is reached through its key, whatever the plan: the statement
# is prepared, and the generic plan PostgreSQL settles on assumes nothing of the arrays'
# sizes (a join on `o` alone, or a hash join with the grants, scanned whole tables on every
# charge).
_POSTGRES_LOCK_MANY = (
    "o AS (SELECT account_id FROM accounts WHERE account_id = ANY(%(accounts)s::varchar[])"
    " ORDER BY account_id FOR UPDATE),"
    " l AS (UPDATE accounts SET last_seq = accounts.last_seq + 1 FROM o"
    " WHERE accounts.account_id = o.account_id"
    " AND accounts.account_id = ANY(%(accounts)s::varchar[])"
    f" RETURNING {_PG_RETURNING})"
)
# One account needs no order: its UPDATE takes the row lock itself. Locking it first as
# well cost a second tuple lock and WAL record on every single charge. It reserves as many
# numbers as it is asked for (an int8, whatever its size: one prepared statement).
_POSTGRES_LOCK_ONE = (
    "l AS (UPDATE accounts SET last_seq = accounts.last_seq + %(reserved)s"
    " WHERE accounts.account_id = %(account)s::varchar"
    f" RETURNING {_PG_RETURNING})"
)
# The optimistic read of one account (`peek`): the lock's statement without the lock. It
# answers as the lock would, with the next transfer number as `last_seq`, and the row's
# version (xmin) where the lock answers the last number its snapshot saw.
_POSTGRES_PEEK_ONE = (
    "l AS (SELECT "
    + _PG_RETURNING.replace("accounts.last_seq", "accounts.last_seq + 1 AS last_seq", 1)
    + ", accounts.xmin::text AS version FROM accounts"
    " WHERE accounts.account_id = %(account)s::varchar)"
)
_SEEN = "(SELECT seen.last_seq FROM accounts seen WHERE seen.account_id = l.account_id)"
_POSTGRES_LOCK = (
    "WITH {lock}"
    f" SELECT {_L_COLUMNS},"
    " {seen},"
    " {stored},"
    f" {GRANT_SELECT} FROM l"
    f" LEFT JOIN LATERAL (SELECT {GRANT_SELECT} FROM grants g"
    " WHERE %(grants)s AND g.account_id = l.account_id AND "
    + OPEN_GRANTS_WHERE.format(now="%(now)s")
    + ") g ON true"
)
_STORED = (
    "(SELECT json_agg(json_build_array(i.key, i.request_hash, i.response))"
    " FROM idempotency i WHERE i.account_id = l.account_id AND i.key {match})"
)


@functools.cache
def _postgres_lock(one: bool, keys: int, peek: bool = False) -> str:
    """The lock of one account or of several, reading the answers stored under no key, one
    key or several. One account, one key: by equality, not in an array. With arrays
    PostgreSQL prices the generic plan for arrays of unknown length above the plan for the
    values at hand, and so plans the statement again on every execution (planning took
    twice as long as running it); with equalities the generic plan costs what a custom one
    does, and PostgreSQL keeps it. A batch's lock is planned once for all its accounts."""
    stored = "NULL"
    if keys:
        match = "= %(key)s" if one and keys == 1 else "= ANY(%(keys)s::varchar[])"
        stored = _STORED.format(match=match)
    if peek:
        return _POSTGRES_LOCK.format(lock=_POSTGRES_PEEK_ONE, seen="l.version", stored=stored)
    lock = _POSTGRES_LOCK_ONE if one else _POSTGRES_LOCK_MANY
    return _POSTGRES_LOCK.format(lock=lock, seen=_SEEN, stored=stored)


SQLITE_LOCK = (
    "UPDATE accounts SET last_seq = last_seq + ? WHERE account_id IN ({marks})"
    f" RETURNING {_RETURNING}"
)
SQLITE_GRANTS = (
    f"SELECT g.account_id, {GRANT_SELECT} FROM grants g WHERE g.account_id IN ({{marks}}) AND "
    + OPEN_GRANTS_WHERE.format(now="?")
)


def lock(
    connection: Connection,
    account_ids: Sequence[str],
    now: datetime,
    *,
    grants: bool,
    keys: Sequence[str] = (),
    reserved: int = 1,
) -> dict[str, Locked]:
    """Lock the accounts (in id order), reserve one transfer number on each (`reserved`
    numbers when one account is locked), and read their open grants when `grants` (in
    effect at `now`, not closed, empty ones included) and the answers stored under `keys`
    in each account's scope (idempotency keys). Accounts that do not exist are missing from
    the answer."""
    invariant(
        reserved >= 1 and (reserved == 1 or len(set(account_ids)) == 1),
        "several numbers are reserved on one account only",
    )
    if is_postgres(connection):
        return _lock_postgres(connection, account_ids, now, grants, keys, reserved=reserved)
    return _lock_sqlite(connection, account_ids, now, grants, keys, reserved)


def peek(
    connection: Connection, account_id: str, now: datetime, keys: Sequence[str]
) -> Locked | None:
    """Read one account as `lock` reads it, with its open grants and the answers stored
    under `keys`, without locking it or reserving a number (PostgreSQL only; None: no such
    account). All of it comes from one snapshot; `row.last_seq` is the number a transfer
    would take, and `version` names the row version read: a write guarded by it
    (`deferred.flush_guarded`) applies only if no other transaction changed the account
    since, and every write to an account's grants, holds or keys locks its row, which
    makes a new version."""
    found = _lock_postgres(connection, [account_id], now, True, keys, peek=True)
    return found.get(account_id)


def _lock_postgres(
    connection: Connection,
    account_ids: Sequence[str],
    now: datetime,
    grants: bool,
    keys: Sequence[str],
    *,
    peek: bool = False,
    reserved: int = 1,
) -> dict[str, Locked]:
    params = {"now": stored_value(now, False), "grants": grants}
    one = len(account_ids) == 1
    if one:
        params["account"] = account_ids[0]
        if not peek:
            params["reserved"] = Int8(reserved)
    else:
        params["accounts"] = list(account_ids)
    if one and len(keys) == 1:
        params["key"] = keys[0]
    elif keys:
        params["keys"] = list(keys)
    sql = _postgres_lock(one, min(len(keys), 2), peek)
    width = len(ACCOUNT_COLUMNS) + 1
    locked: dict[str, Locked] = {}
    for values in execute(connection, sql, params):
        account_id = values[0]
        found = locked.get(account_id)
        if found is None:
            row = _account(values[:width])
            # What the statement read is current only when no other writer committed on
            # the account between its snapshot and its lock (see the module's docstring).
            # A peek reads without a lock: all it read is of one snapshot.
            current = peek or values[width] == row.last_seq - reserved
            found = locked[account_id] = Locked(
                row,
                {} if grants and current else None,
                _stored(values[width + 1]) if keys and current else None,
                values[width] if peek else None,
                reserved,
            )
        grant_values = values[width + 2 :]
        if found.grants is not None and grant_values[0] is not None:
            grant = grant_record(grant_values)
            found.grants.setdefault(grant.pool, []).append(grant)
    return locked


def _stored(answers: Any) -> dict[str, Record]:
    """Stored answers as the lock read them ([key, request_hash, response] in JSON)."""
    return {key: _answer(request_hash, response) for key, request_hash, response in answers or ()}


def _answer(request_hash: str, response: Any) -> Record:
    return Record({"request_hash": request_hash, "response": decoded(response)})


SQLITE_STORED = (
    "SELECT account_id, key, request_hash, response FROM idempotency"
    " WHERE account_id IN ({accounts}) AND key IN ({keys})"
)


def _lock_sqlite(
    connection: Connection,
    account_ids: Sequence[str],
    now: datetime,
    grants: bool,
    keys: Sequence[str],
    reserved: int,
) -> dict[str, Locked]:
    ids = sorted(set(account_ids))
    marks = ", ".join("?" * len(ids))
    rows = execute(connection, SQLITE_LOCK.format(marks=marks), [reserved, *ids])
    locked = {
        values[0]: Locked(
            _account(values), {} if grants else None, {} if keys else None, reserved=reserved
        )
        for values in rows
    }
    if keys and locked:
        found_ids, unique_keys = sorted(locked), sorted(set(keys))
        sql = SQLITE_STORED.format(
            accounts=", ".join("?" * len(found_ids)), keys=", ".join("?" * len(unique_keys))
        )
        for account_id, key, request_hash, response in execute(
            connection, sql, [*found_ids, *unique_keys]
        ):
            stored = locked[account_id].stored
            if stored is not None:
                stored[key] = _answer(request_hash, response)
    if grants and locked:
        found = sorted(locked)
        marks = ", ".join("?" * len(found))
        sql = SQLITE_GRANTS.format(marks=marks)
        for values in execute(connection, sql, [*found, stored_value(now, True)]):
            grant = grant_record(values[1:])
            by_pool = locked[values[0]].grants
            if by_pool is not None:
                by_pool.setdefault(grant.pool, []).append(grant)
    return locked


# -- the account write-back ------------------------------------------------------------------

_UPDATE_ACCOUNT = {
    "postgresql": "UPDATE accounts SET last_seq = %s, period_index = %s, next_event_at = %s,"
    " anchor_at = %s, plan_id = %s WHERE account_id = %s",
    "sqlite": "UPDATE accounts SET last_seq = ?, period_index = ?, next_event_at = ?,"
    " anchor_at = ?, plan_id = ? WHERE account_id = ?",
}


def begin(connection: Connection, *, read_only: bool) -> None:
    """Begin a SQLite transaction on the driver: DEFERRED to read, IMMEDIATE to write (so
    writers queue for the database lock instead of failing on upgrade)."""
    execute(connection, "BEGIN DEFERRED" if read_only else "BEGIN IMMEDIATE", (), rows=False)


def update_accounts(connection: Connection, rows: list[tuple[Any, ...]]) -> None:
    """Write back locked accounts' (last_seq, period_index, next_event_at, anchor_at,
    plan_id, account_id), in one executemany."""
    sqlite = not is_postgres(connection)
    values = [tuple(stored_value(value, sqlite) for value in row) for row in rows]
    executemany(connection, _UPDATE_ACCOUNT[connection.dialect.name], values)
