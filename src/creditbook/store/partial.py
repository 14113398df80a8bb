"""Partial indexes: an index whose key is mostly empty (a grant, hold or run id that most
rows leave blank) holds only the rows where it is not, on both databases.

A query uses such an index only when it repeats the index's condition as written: the
planners (SQLite's, and PostgreSQL's generic plans) do not match it through a bound
parameter, so `not_empty` writes the `''` inline."""

from __future__ import annotations

from typing import Any

from sqlalchemy import literal_column, text
from sqlalchemy.sql.elements import ColumnElement


def where_not_empty(column: str) -> dict[str, Any]:
    """The `Index(...)` options that leave out the rows whose `column` is `''`."""
    condition = text(f"{column} <> ''")
    return {"sqlite_where": condition, "postgresql_where": condition}


def not_empty(column: ColumnElement[str]) -> ColumnElement[bool]:
    """`column <> ''`, the condition a query repeats to use such an index."""
    return column != literal_column("''")
