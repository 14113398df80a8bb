"""Holds: writing a new hold and reading one."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, select

from creditbook.store import schema

_HOLDS = schema.holds.c


def insert_hold(connection: Connection, values: dict[str, Any]) -> None:
    connection.execute(schema.holds.insert(), values)


def hold(connection: Connection, account_id: str, hold_id: str) -> Row[Any] | None:
    """The hold's row (None: the account has no such hold)."""
    return connection.execute(
        select(schema.holds).where(_HOLDS.account_id == account_id, _HOLDS.hold_id == hold_id)
    ).first()
