"""Webhooks: endpoints, the deliveries the dispatcher queues per endpoint and event, and the
attempts it makes to deliver them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, func, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from creditbook.store import schema

_E = schema.webhook_endpoints.c
_D = schema.webhook_deliveries.c
_A = schema.webhook_attempts.c
_EVENTS = schema.events.c

# -- endpoints ----------------------------------------------------------------------------------


def insert_endpoint(connection: Connection, row: Mapping[str, Any]) -> None:
    connection.execute(schema.webhook_endpoints.insert(), dict(row))


def endpoint(connection: Connection, endpoint_id: str) -> Any:
    return connection.execute(
        select(schema.webhook_endpoints).where(_E.endpoint_id == endpoint_id)
    ).first()


def endpoint_page(
    connection: Connection, after: tuple[datetime, str] | None, limit: int
) -> Sequence[Any]:
    """Up to `limit` endpoints, oldest first, after `after` (created_at, endpoint_id)."""
    query = select(schema.webhook_endpoints)
    if after is not None:
        at, endpoint_id = after
        query = query.where(
            or_(_E.created_at > at, and_(_E.created_at == at, _E.endpoint_id > endpoint_id))
        )
    query = query.order_by(_E.created_at, _E.endpoint_id).limit(limit)
    return connection.execute(query).all()


def enabled_endpoints(connection: Connection) -> Sequence[Any]:
    return connection.execute(
        select(schema.webhook_endpoints).where(_E.status == "enabled").order_by(_E.endpoint_id)
    ).all()


def update_endpoint(connection: Connection, endpoint_id: str, values: Mapping[str, Any]) -> None:
    connection.execute(
        update(schema.webhook_endpoints).where(_E.endpoint_id == endpoint_id).values(**values)
    )


def delete_endpoint(connection: Connection, endpoint_id: str) -> None:
    """The endpoint, its deliveries and their attempts."""
    deliveries = select(_D.account_id, _D.delivery_id).where(_D.endpoint_id == endpoint_id)
    connection.execute(
        delete(schema.webhook_attempts).where(tuple_(_A.account_id, _A.delivery_id).in_(deliveries))
    )
    connection.execute(delete(schema.webhook_deliveries).where(_D.endpoint_id == endpoint_id))
    connection.execute(delete(schema.webhook_endpoints).where(_E.endpoint_id == endpoint_id))


# -- fan-out ------------------------------------------------------------------------------------


def insert_deliveries(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Queue deliveries; one already queued for the same endpoint and event stays as it is."""
    if not rows:
        return
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(schema.webhook_deliveries).on_conflict_do_nothing(
        index_elements=["endpoint_id", "account_id", "event_seq"]
    )
    connection.execute(statement, rows)


_MARK_DISPATCHED = (
    update(schema.events)
    .where(_EVENTS.account_id == bindparam("p_account"), _EVENTS.seq == bindparam("p_seq"))
    .values(dispatched=True)
)


def mark_events_dispatched(connection: Connection, keys: Sequence[tuple[str, int]]) -> None:
    """Mark events (account_id, seq) as queued for delivery, in one executemany."""
    if keys:
        connection.execute(
            _MARK_DISPATCHED, [{"p_account": account, "p_seq": seq} for account, seq in keys]
        )


# -- deliveries ---------------------------------------------------------------------------------


def _head_of_queue() -> Any:
    """Whether a pending delivery is the lowest pending one of its (endpoint, account)."""
    lower = schema.webhook_deliveries.alias("lower")
    return _D.event_seq == (
        select(func.min(lower.c.event_seq))
        .where(
            lower.c.status == "pending",
            lower.c.endpoint_id == _D.endpoint_id,
            lower.c.account_id == _D.account_id,
        )
        .scalar_subquery()
    )


def due_heads(connection: Connection, now: datetime, limit: int) -> Sequence[Any]:
    """Pending deliveries due by `now` to enabled endpoints that head their (endpoint,
    account) queue, longest due first."""
    query = (
        select(schema.webhook_deliveries)
        .join(
            schema.webhook_endpoints,
            and_(_E.endpoint_id == _D.endpoint_id, _E.status == "enabled"),
        )
        .where(_D.status == "pending", _D.next_attempt_at <= now, _head_of_queue())
        .order_by(_D.next_attempt_at)
        .limit(limit)
    )
    return connection.execute(query).all()


def head(connection: Connection, endpoint_id: str, account_id: str) -> Any:
    """The lowest pending delivery of one (endpoint, account) queue, due or not."""
    return connection.execute(
        select(schema.webhook_deliveries)
        .where(_D.status == "pending", _D.endpoint_id == endpoint_id, _D.account_id == account_id)
        .order_by(_D.event_seq)
        .limit(1)
    ).first()


def delivery(connection: Connection, delivery_id: str) -> Any:
    return connection.execute(
        select(schema.webhook_deliveries).where(_D.delivery_id == delivery_id)
    ).first()


def update_delivery(
    connection: Connection, account_id: str, delivery_id: str, values: Mapping[str, Any]
) -> int:
    """Change a delivery; how many rows changed (0: it is gone, its endpoint deleted)."""
    result = connection.execute(
        update(schema.webhook_deliveries)
        .where(_D.account_id == account_id, _D.delivery_id == delivery_id)
        .values(**values)
    )
    return int(result.rowcount)


def delivery_page(
    connection: Connection,
    endpoint_id: str,
    before: tuple[datetime, str] | None,
    limit: int,
) -> Sequence[Any]:
    """Up to `limit` deliveries of an endpoint, newest first, before (created_at, id)."""
    query = select(schema.webhook_deliveries).where(_D.endpoint_id == endpoint_id)
    if before is not None:
        at, delivery_id = before
        query = query.where(
            or_(_D.created_at < at, and_(_D.created_at == at, _D.delivery_id < delivery_id))
        )
    query = query.order_by(_D.created_at.desc(), _D.delivery_id.desc()).limit(limit)
    return connection.execute(query).all()


def count_by_status(connection: Connection) -> dict[str, int]:
    rows = connection.execute(select(_D.status, func.count()).group_by(_D.status)).all()
    return {str(status): int(count) for status, count in rows}


# -- attempts -----------------------------------------------------------------------------------


def insert_attempt(connection: Connection, row: Mapping[str, Any]) -> None:
    connection.execute(schema.webhook_attempts.insert(), dict(row))


def attempts_of(connection: Connection, keys: Sequence[tuple[str, str]]) -> Sequence[Any]:
    """The attempts of deliveries (account_id, delivery_id), in attempt order."""
    if not keys:
        return []
    return connection.execute(
        select(schema.webhook_attempts)
        .where(tuple_(_A.account_id, _A.delivery_id).in_(list(keys)))
        .order_by(_A.account_id, _A.delivery_id, _A.attempt)
    ).all()
