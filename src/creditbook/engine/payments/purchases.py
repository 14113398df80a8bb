"""Purchases read back: an account's payments newest first, and revenue per currency."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import Connection

from creditbook.domain.amounts import Credits
from creditbook.domain.errors import NotFoundError
from creditbook.domain.periods import local_midnight
from creditbook.engine.context import Context
from creditbook.engine.payments.results import Payment, PaymentPage, Revenue
from creditbook.engine.reports.paging import (
    MAX_PAGE_SIZE,
    check_limit,
    decode_instant_cursor,
    encode_instant_cursor,
)
from creditbook.store.queries import payments as queries

CURSOR_KIND = "payment"


def purchases(context: Context, account_id: str, limit: int, cursor: str | None) -> PaymentPage:
    check_limit("limit", limit, MAX_PAGE_SIZE)
    before = decode_instant_cursor(cursor, CURSOR_KIND) if cursor else None

    def read(connection: Connection) -> PaymentPage:
        if queries.account_name_and_plan(connection, account_id) is None:
            raise NotFoundError("account", account_id)
        rows = queries.payments_of(connection, account_id, limit + 1, before)
        page = [Payment.from_row(row) for row in rows[:limit]]
        more = len(rows) > limit
        last = page[-1] if page else None
        return PaymentPage(
            page,
            more,
            encode_instant_cursor(CURSOR_KIND, last.created_at, last.payment_id)
            if more and last
            else None,
        )

    return context.run(read, read_only=True)


def revenue(context: Context, account_id: str, start: date, end: date) -> list[Revenue]:
    def read(connection: Connection) -> list[Revenue]:
        timezone = queries.account_timezone(connection, account_id)
        if timezone is None:
            raise NotFoundError("account", account_id)
        return revenue_on_days(connection, account_id, timezone, start, end)

    return context.run(read, read_only=True)


def revenue_on_days(
    connection: Connection, account_id: str, timezone: str, start: date, end: date
) -> list[Revenue]:
    """Per currency, what purchases made on the account's local days [start, end] paid, net
    of refunds (the days of its stats)."""
    start_at = local_midnight(start, timezone)
    end_at = local_midnight(end + timedelta(days=1), timezone)
    rows = queries.revenue(connection, account_id, start_at, end_at)
    return [
        Revenue(
            row.currency,
            int(row.purchases),
            int(row.amount_paid),
            int(row.amount_refunded),
            Credits(int(row.credits)),
            Credits(int(row.credits_refunded)),
        )
        for row in rows
    ]
