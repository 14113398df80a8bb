"""Small statement helpers that differ between SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def upsert_add(
    connection: Connection, table: Table, keys: dict[str, Any], adds: dict[str, int]
) -> None:
    """Insert a row, or add `adds` to the existing row with the same key."""
    module = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = module.insert(table).values({**keys, **adds})
    statement = statement.on_conflict_do_update(
        index_elements=list(keys),
        set_={name: table.c[name] + statement.excluded[name] for name in adds},
    )
    connection.execute(statement)


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
