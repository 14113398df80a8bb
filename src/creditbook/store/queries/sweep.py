"""The sweeper's queries: accounts with something due; the database health check."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select, text

from creditbook.store import schema

_ACCOUNTS = schema.accounts.c
_PING = text("SELECT 1")


def due_accounts(connection: Connection, now: datetime, limit: int) -> list[str]:
    """Up to `limit` accounts with something due by `now`, the longest due first."""
    return list(
        connection.execute(
            select(_ACCOUNTS.account_id)
            .where(_ACCOUNTS.next_event_at <= now)
            .order_by(_ACCOUNTS.next_event_at)
            .limit(limit)
        )
        .scalars()
        .all()
    )


def ping(connection: Connection) -> None:
    """Ask the database for a constant: it answers when it is up and reachable."""
    connection.execute(_PING).scalar_one()
