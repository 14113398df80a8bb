"""Accounts: the row lock every write starts with, opening, updating, resource names."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Integer, Row, bindparam, literal_column, select, update

from creditbook.store import schema
from creditbook.store.queries import upsert_set

_ACCOUNTS = schema.accounts.c

# The account lock also returns the plan's version, so a cached plan costs no query. The
# subquery is spelled out: SQLite renders RETURNING columns unqualified, and an unqualified
# `plan_id` inside the subquery would bind to plans.plan_id.
_LOCK = (
    update(schema.accounts)
    .where(_ACCOUNTS.account_id == bindparam("p_account"))
    .values(last_seq=_ACCOUNTS.last_seq + 1)
    .returning(
        *schema.accounts.c,
        literal_column(
            "(SELECT plans.version FROM plans WHERE plans.plan_id = accounts.plan_id)", Integer
        ).label("plan_version"),
    )
)


def lock(connection: Connection, account_id: str) -> Row[Any] | None:
    """Lock the account row and reserve one transfer number (None: no such account)."""
    return connection.execute(_LOCK, {"p_account": account_id}).first()


def exists(connection: Connection, account_id: str) -> bool:
    found = connection.execute(
        select(_ACCOUNTS.account_id).where(_ACCOUNTS.account_id == account_id)
    ).first()
    return found is not None


def insert_account(connection: Connection, values: dict[str, Any]) -> None:
    connection.execute(schema.accounts.insert(), values)


def update_values(connection: Connection, account_id: str, values: dict[str, Any]) -> bool:
    """Overwrite columns of an account; False when there is no such account."""
    result = connection.execute(
        update(schema.accounts).where(_ACCOUNTS.account_id == account_id).values(**values)
    )
    return result.rowcount == 1


def next_event_at(connection: Connection, account_id: str) -> datetime | None:
    """When something is next due on the account (None: no such account)."""
    due: datetime | None = connection.execute(
        select(_ACCOUNTS.next_event_at).where(_ACCOUNTS.account_id == account_id)
    ).scalar()
    return due


def name_resource(connection: Connection, account_id: str, resource_id: str, name: str) -> None:
    """Remember the display name of one of the account's resources."""
    upsert_set(
        connection,
        schema.resources,
        {"account_id": account_id, "resource_id": resource_id},
        {"name": name},
    )
