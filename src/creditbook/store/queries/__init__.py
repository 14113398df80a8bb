"""Small statement helpers that differ between SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite

_UPSERT_ADD: dict[tuple[Any, ...], Any] = {}


def upsert_add(
    connection: Connection, table: Table, keys: dict[str, Any], adds: dict[str, int]
) -> None:
    """Insert a row, or add `adds` to the existing row with the same key."""
    connection.execute(_upsert_add(connection, table, tuple(keys), tuple(adds)), {**keys, **adds})


def upsert_add_many(
    connection: Connection, table: Table, keys: tuple[str, ...], rows: list[dict[str, Any]]
) -> None:
    """upsert_add for many rows (distinct keys) in one executemany."""
    adds = tuple(name for name in rows[0] if name not in keys)
    connection.execute(_upsert_add(connection, table, keys, adds), rows)


def _upsert_add(
    connection: Connection, table: Table, keys: tuple[str, ...], adds: tuple[str, ...]
) -> Any:
    """Build each upsert once per dialect, table and column set: building it per call (and
    its `.excluded`) costs more than executing it."""
    cache_key = (connection.dialect.name, table.name, keys, adds)
    statement = _UPSERT_ADD.get(cache_key)
    if statement is None:
        module = postgresql if connection.dialect.name == "postgresql" else sqlite
        statement = module.insert(table)
        statement = _UPSERT_ADD[cache_key] = statement.on_conflict_do_update(
            index_elements=list(keys),
            set_={name: table.c[name] + statement.excluded[name] for name in adds},
        )
    return statement


def upsert_set(
    connection: Connection, table: Table, keys: dict[str, Any], values: dict[str, Any]
) -> None:
    """Insert a row, or overwrite `values` on the existing row with the same key."""
    module = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = module.insert(table).values({**keys, **values})
    statement = statement.on_conflict_do_update(
        index_elements=list(keys), set_={name: statement.excluded[name] for name in values}
    )
    connection.execute(statement)


def upsert_versioned(
    connection: Connection, table: Table, keys: dict[str, Any], values: dict[str, Any]
) -> None:
    """Insert a row at version 1, or overwrite `values` and bump its version, atomically."""
    module = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = module.insert(table).values({**keys, **values, "version": 1})
    statement = statement.on_conflict_do_update(
        index_elements=list(keys),
        set_={
            "version": table.c.version + 1,
            **{name: statement.excluded[name] for name in values},
        },
    )
    connection.execute(statement)
