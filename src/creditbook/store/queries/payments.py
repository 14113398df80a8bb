"""Payments: credit packs, billing profiles (an account's Stripe customer, saved card and
auto-recharge), purchases fulfilled, and recharges."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from creditbook.store import schema
from creditbook.store.queries import upsert_versioned

_PACKS = schema.credit_packs.c
_PROFILES = schema.billing_profiles.c
_PAYMENTS = schema.payments.c
_RECHARGES = schema.recharges.c

# -- credit packs ---------------------------------------------------------------------------


def put_pack(connection: Connection, pack_id: str, body: Any, now: datetime) -> None:
    upsert_versioned(
        connection, schema.credit_packs, {"pack_id": pack_id}, {"body": body, "updated_at": now}
    )


def pack_body(connection: Connection, pack_id: str) -> Any | None:
    return connection.execute(
        select(_PACKS.body).where(_PACKS.pack_id == pack_id)
    ).scalar_one_or_none()


def pack_bodies(connection: Connection) -> list[Any]:
    return list(connection.execute(select(_PACKS.body).order_by(_PACKS.pack_id)).scalars())


# -- billing profiles -----------------------------------------------------------------------


def profile(connection: Connection, account_id: str) -> Row[Any] | None:
    return connection.execute(
        select(schema.billing_profiles).where(_PROFILES.account_id == account_id)
    ).first()


def profile_of_customer(connection: Connection, customer_id: str) -> Row[Any] | None:
    return connection.execute(
        select(schema.billing_profiles).where(_PROFILES.customer_id == customer_id)
    ).first()


def ensure_profile(connection: Connection, account_id: str, now: datetime) -> None:
    """Insert the account's empty profile unless it has one."""
    module = postgresql if connection.dialect.name == "postgresql" else sqlite
    connection.execute(
        module.insert(schema.billing_profiles)
        .values(account_id=account_id, updated_at=now)
        .on_conflict_do_nothing(index_elements=["account_id"])
    )


def update_profile(connection: Connection, account_id: str, now: datetime, **values: Any) -> None:
    ensure_profile(connection, account_id, now)
    connection.execute(
        update(schema.billing_profiles)
        .where(_PROFILES.account_id == account_id)
        .values(**values, updated_at=now)
    )


# -- purchases ------------------------------------------------------------------------------


def payment_of_object(connection: Connection, stripe_object_id: str) -> Row[Any] | None:
    return connection.execute(
        select(schema.payments).where(_PAYMENTS.stripe_object_id == stripe_object_id)
    ).first()


def payment_of_intent(connection: Connection, payment_intent_id: str) -> Row[Any] | None:
    return connection.execute(
        select(schema.payments).where(_PAYMENTS.payment_intent_id == payment_intent_id)
    ).first()


def insert_payment(connection: Connection, row: dict[str, Any]) -> None:
    connection.execute(schema.payments.insert(), row)


def update_payment(connection: Connection, account_id: str, payment_id: str, **values: Any) -> None:
    connection.execute(
        update(schema.payments)
        .where(_PAYMENTS.account_id == account_id, _PAYMENTS.payment_id == payment_id)
        .values(**values)
    )


def payments_of(
    connection: Connection, account_id: str, limit: int, before: tuple[datetime, str] | None
) -> Sequence[Row[Any]]:
    """The account's purchases newest first, after the (created_at, payment_id) cursor."""
    query = select(schema.payments).where(_PAYMENTS.account_id == account_id)
    if before is not None:
        at, payment_id = before
        query = query.where(
            (_PAYMENTS.created_at < at)
            | ((_PAYMENTS.created_at == at) & (_PAYMENTS.payment_id < payment_id))
        )
    order = (_PAYMENTS.created_at.desc(), _PAYMENTS.payment_id.desc())
    return connection.execute(query.order_by(*order).limit(limit)).all()


def revenue(
    connection: Connection, account_id: str, start: datetime, end: datetime
) -> Sequence[Row[Any]]:
    """Per currency, purchases made within [start, end): their count, what was paid, what
    was refunded, credits bought and credits the refunds cover."""
    return connection.execute(
        select(
            _PAYMENTS.currency,
            func.count().label("purchases"),
            func.sum(_PAYMENTS.amount_paid).label("amount_paid"),
            func.sum(_PAYMENTS.amount_refunded).label("amount_refunded"),
            func.sum(_PAYMENTS.credits).label("credits"),
            func.sum(_PAYMENTS.credits_refunded).label("credits_refunded"),
        )
        .where(
            _PAYMENTS.account_id == account_id,
            _PAYMENTS.created_at >= start,
            _PAYMENTS.created_at < end,
        )
        .group_by(_PAYMENTS.currency)
        .order_by(_PAYMENTS.currency)
    ).all()


# -- recharges ------------------------------------------------------------------------------


def insert_recharges(connection: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        connection.execute(schema.recharges.insert(), rows)


def due_recharges(connection: Connection, limit: int) -> Sequence[Row[Any]]:
    return connection.execute(
        select(schema.recharges)
        .where(_RECHARGES.status == "due")
        .order_by(_RECHARGES.created_at, _RECHARGES.recharge_id)
        .limit(limit)
    ).all()


def recharge(connection: Connection, account_id: str, recharge_id: str) -> Row[Any] | None:
    return connection.execute(
        select(schema.recharges).where(
            _RECHARGES.account_id == account_id, _RECHARGES.recharge_id == recharge_id
        )
    ).first()


def recharges_of(connection: Connection, account_id: str, limit: int) -> Sequence[Row[Any]]:
    return connection.execute(
        select(schema.recharges)
        .where(_RECHARGES.account_id == account_id)
        .order_by(_RECHARGES.created_at.desc(), _RECHARGES.recharge_id.desc())
        .limit(limit)
    ).all()


def count_recharges(
    connection: Connection, account_id: str, statuses: Sequence[str], since: datetime
) -> int:
    """The account's recharges in `statuses` created at or after `since`."""
    return int(
        connection.execute(
            select(func.count()).where(
                _RECHARGES.account_id == account_id,
                _RECHARGES.status.in_(list(statuses)),
                _RECHARGES.created_at >= since,
            )
        ).scalar_one()
    )


def update_recharge(
    connection: Connection, account_id: str, recharge_id: str, **values: Any
) -> None:
    connection.execute(
        update(schema.recharges)
        .where(_RECHARGES.account_id == account_id, _RECHARGES.recharge_id == recharge_id)
        .values(**values)
    )


def account_name_and_plan(connection: Connection, account_id: str) -> Row[Any, Any] | None:
    accounts = schema.accounts.c
    return connection.execute(
        select(accounts.name, accounts.plan_id).where(accounts.account_id == account_id)
    ).first()


def account_timezone(connection: Connection, account_id: str) -> str | None:
    accounts = schema.accounts.c
    found: str | None = connection.execute(
        select(accounts.timezone).where(accounts.account_id == account_id)
    ).scalar_one_or_none()
    return found
