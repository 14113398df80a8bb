"""Purchases read back: an account's payments newest first, and revenue per currency."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Connection

from creditbook.domain.amounts import Credits
from creditbook.domain.errors import NotFoundError
from creditbook.engine.context import Context
from creditbook.engine.payments.results import Payment, PaymentPage
from creditbook.engine.reports.paging import (
    MAX_PAGE_SIZE,
    check_limit,
    decode_instant_cursor,
    encode_instant_cursor,
)
from creditbook.store.queries import payments as queries

CURSOR_KIND = "payment"


@dataclass(frozen=True, slots=True)
class Revenue:
    """What purchases in one currency paid, net of refunds, and the credits they bought.

    `cost_per_credit` is the net amount paid per credit still bought (credits less what the
    refunds cover), in the currency's minor unit; None when no credit is left bought.
    """

    currency: str
    purchases: int
    amount_paid: int
    amount_refunded: int
    credits_bought: Credits
    credits_refunded: Credits

    @property
    def net_amount(self) -> int:
        return self.amount_paid - self.amount_refunded

    @property
    def cost_per_credit(self) -> Decimal | None:
        kept = self.credits_bought.millicredits - self.credits_refunded.millicredits
        if kept <= 0:
            return None
        return (Decimal(self.net_amount) * 1000 / Decimal(kept)).quantize(Decimal("0.0001"))


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


def revenue(context: Context, account_id: str, start: datetime, end: datetime) -> list[Revenue]:
    rows = context.run(
        lambda connection: queries.revenue(connection, account_id, start, end), read_only=True
    )
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
