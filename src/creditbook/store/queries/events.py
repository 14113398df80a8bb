"""Events: the outbox rows a write inserts in its own transaction, the event log read newest
first, and what the dispatcher has yet to queue."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, update

from creditbook.store import schema

_EVENTS = schema.events.c
_ACCOUNTS = schema.accounts.c


def insert_events(connection: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        connection.execute(schema.events.insert(), rows)


def save_alerts(
    connection: Connection, account_id: str, alerts: dict[str, Any], last_event_seq: int
) -> None:
    """Write back an account's alert rules and state, and its last event number."""
    connection.execute(
        update(schema.accounts)
        .where(_ACCOUNTS.account_id == account_id)
        .values(alerts=alerts, last_event_seq=last_event_seq)
    )


def next_operator_seq(connection: Connection) -> int:
    """The next number of an operator-wide event (the empty account id). Only the one
    active dispatcher writes them."""
    last = connection.execute(
        select(func.max(_EVENTS.seq)).where(_EVENTS.account_id == "")
    ).scalar_one()
    return 1 if last is None else int(last) + 1


def event(connection: Connection, event_id: str) -> Any:
    return connection.execute(select(schema.events).where(_EVENTS.event_id == event_id)).first()


def page(
    connection: Connection,
    *,
    account_id: str | None,
    types: Sequence[str],
    before: tuple[datetime, str, int] | None,
    limit: int,
) -> Sequence[Any]:
    """Up to `limit` events, newest first (by creation time, then account and sequence),
    after `before` (created_at, account_id, seq) in that order."""
    query = select(schema.events)
    if account_id is not None:
        query = query.where(_EVENTS.account_id == account_id)
    if types:
        query = query.where(_EVENTS.type.in_(list(types)))
    if before is not None:
        at, account, seq = before
        query = query.where(
            or_(
                _EVENTS.created_at < at,
                and_(_EVENTS.created_at == at, _EVENTS.account_id < account),
                and_(_EVENTS.created_at == at, _EVENTS.account_id == account, _EVENTS.seq < seq),
            )
        )
    query = query.order_by(
        _EVENTS.created_at.desc(), _EVENTS.account_id.desc(), _EVENTS.seq.desc()
    ).limit(limit)
    return connection.execute(query).all()


def undispatched(connection: Connection, limit: int) -> Sequence[Any]:
    """Events not yet queued for delivery, oldest first (per account in sequence order)."""
    return connection.execute(
        select(schema.events)
        .where(_EVENTS.dispatched.is_(False))
        .order_by(_EVENTS.created_at, _EVENTS.account_id, _EVENTS.seq)
        .limit(limit)
    ).all()


def mark_dispatched(connection: Connection, keys: Sequence[tuple[str, int]]) -> None:
    """Mark events (account_id, seq) as queued for delivery."""
    for account_id, seq in keys:
        connection.execute(
            update(schema.events)
            .where(_EVENTS.account_id == account_id, _EVENTS.seq == seq)
            .values(dispatched=True)
        )


def alerts_of(connection: Connection, account_id: str) -> dict[str, Any] | None:
    """An account's alert rules and state (None: no such account)."""
    row = connection.execute(
        select(_ACCOUNTS.alerts).where(_ACCOUNTS.account_id == account_id)
    ).first()
    if row is None:
        return None
    alerts: dict[str, Any] = row.alerts or {}
    return alerts


def account_row(connection: Connection, account_id: str) -> Any:
    """The account row, read without locking it (None: no such account)."""
    return connection.execute(
        select(schema.accounts).where(_ACCOUNTS.account_id == account_id)
    ).first()
