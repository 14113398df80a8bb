"""Verification: the entries replayed next to every materialised figure.

Each query reads one account with `account_id`, or every account with None."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, and_, case, func, select

from creditbook.store import schema
from creditbook.store.partial import not_empty
from creditbook.store.queries.sums import exact_sum

# The dimensions a daily rollup row is keyed by, after the account and the day.
ROLLUP_DIMENSIONS = ("pool", "function", "module", "service", "user_id", "resource_id")

# The books whose materialised `remaining` replays from entries: table and id column.
_BOOKS: dict[str, tuple[Table, str]] = {
    "grant": (schema.grants, "grant_id"),
    "hold": (schema.holds, "hold_id"),
}


def _scope(columns: Any, account_id: str | None) -> list[ColumnElement[bool]]:
    return [] if account_id is None else [columns.account_id == account_id]


def unbalanced_transfers(account_id: str | None) -> Select[Any]:
    """The transfers whose entries do not sum to zero, with their sum (`total`)."""
    entries = schema.entries.c
    return (
        select(entries.account_id, entries.seq, func.sum(entries.amount).label("total"))
        .where(*_scope(entries, account_id))
        .group_by(entries.account_id, entries.seq)
        .having(func.sum(entries.amount) != 0)
    )


def entries_total(account_id: str | None) -> Select[Any]:
    """The sum of every entry (0 without any), exact: on the way to 0 it may pass 64 bits."""
    entries = schema.entries.c
    return select(func.coalesce(exact_sum(entries.amount), 0)).where(*_scope(entries, account_id))


def book_mismatches(book: str, account_id: str | None) -> Select[Any]:
    """The grants or holds (`book`) whose stored `remaining` differs from their entries'
    replayed `total`; the id is the row's second column."""
    table, id_name = _BOOKS[book]
    entries = schema.entries.c
    replayed = (
        select(
            entries.account_id,
            getattr(entries, id_name),
            func.sum(entries.amount).label("total"),
        )
        # Lines of either book always name it; the condition lets the partial index serve.
        .where(
            entries.book == book,
            not_empty(getattr(entries, id_name)),
            *_scope(entries, account_id),
        )
        .group_by(entries.account_id, getattr(entries, id_name))
        .subquery()
    )
    return (
        select(
            table.c.account_id,
            table.c[id_name],
            table.c.remaining,
            func.coalesce(replayed.c.total, 0).label("total"),
        )
        .outerjoin(
            replayed,
            and_(
                replayed.c.account_id == table.c.account_id,
                replayed.c[id_name] == table.c[id_name],
            ),
        )
        .where(
            table.c.remaining != func.coalesce(replayed.c.total, 0),
            *_scope(table.c, account_id),
        )
    )


def negative_grants(account_id: str | None, unbounded_source: str) -> Select[Any]:
    """The grants below zero other than those of `unbounded_source` (the overdraft)."""
    grants = schema.grants.c
    return select(grants.account_id, grants.grant_id, grants.remaining).where(
        grants.remaining < 0, grants.source != unbounded_source, *_scope(grants, account_id)
    )


def transfer_amount_mismatches(account_id: str | None) -> Select[Any]:
    """The transfers whose amount differs from the net (`net`) of their customer books."""
    entries, transfers = schema.entries.c, schema.transfers.c
    customer = func.sum(case((entries.book.in_(("grant", "hold")), entries.amount), else_=0))
    return (
        select(transfers.account_id, transfers.seq, transfers.amount, customer.label("net"))
        .join(
            schema.entries,
            and_(entries.account_id == transfers.account_id, entries.seq == transfers.seq),
        )
        .where(*_scope(transfers, account_id))
        .group_by(transfers.account_id, transfers.seq, transfers.amount)
        .having(customer != transfers.amount)
    )


def refunded_mismatches(account_id: str | None, charge_type: str, refund_type: str) -> Select[Any]:
    """The charges (`charge_type`) whose materialised `refunded` differs from the spent book
    their linked refunds (`refund_type`) gave back (`total`)."""
    transfers = schema.transfers.c
    refunds = schema.transfers.alias("refunds")
    spent = schema.entries.alias("spent")
    refunded = (
        select(refunds.c.account_id, refunds.c.linked_seq, func.sum(-spent.c.amount).label("total"))
        .join(
            spent,
            and_(
                spent.c.account_id == refunds.c.account_id,
                spent.c.seq == refunds.c.seq,
                spent.c.book == "spent",
            ),
        )
        .where(refunds.c.type == refund_type, *_scope(refunds.c, account_id))
        .group_by(refunds.c.account_id, refunds.c.linked_seq)
        .subquery()
    )
    return (
        select(
            transfers.account_id,
            transfers.seq,
            transfers.refunded,
            func.coalesce(refunded.c.total, 0).label("total"),
        )
        .outerjoin(
            refunded,
            and_(
                refunded.c.account_id == transfers.account_id,
                refunded.c.linked_seq == transfers.seq,
            ),
        )
        .where(
            transfers.type == charge_type,
            transfers.refunded != func.coalesce(refunded.c.total, 0),
            *_scope(transfers, account_id),
        )
    )


def account_timezones(account_id: str | None) -> Select[Any]:
    """Each account's id and time zone."""
    accounts = schema.accounts.c
    return select(accounts.account_id, accounts.timezone).where(*_scope(accounts, account_id))


def spend_transfers(account_id: str | None, spend_types: Sequence[str]) -> Select[Any]:
    """Each transfer of `spend_types` with its rollup dimensions and its spent-book sum
    (`spent`)."""
    entries, transfers = schema.entries.c, schema.transfers.c
    dimensions = [transfers[name] for name in ROLLUP_DIMENSIONS]
    return (
        select(
            transfers.account_id,
            transfers.created_at,
            transfers.type,
            transfers.quantity,
            *dimensions,
            func.sum(entries.amount).label("spent"),
        )
        .join(
            schema.entries,
            and_(
                entries.account_id == transfers.account_id,
                entries.seq == transfers.seq,
                entries.book == "spent",
            ),
        )
        .where(transfers.type.in_(spend_types), *_scope(transfers, account_id))
        .group_by(
            transfers.account_id,
            transfers.seq,
            transfers.created_at,
            transfers.type,
            transfers.quantity,
            *dimensions,
        )
    )


def rollups(account_id: str | None) -> Select[Any]:
    """The stored daily rollups."""
    return select(schema.rollups).where(*_scope(schema.rollups.c, account_id))


def billed_by_run_function(account_id: str | None, charge_type: str) -> Select[Any]:
    """The sum (`total`) of the charges (`charge_type`) made in runs, per run and function."""
    transfers = schema.transfers.c
    return (
        select(
            transfers.account_id,
            transfers.run_id,
            transfers.function,
            func.sum(transfers.amount).label("total"),
        )
        .where(
            transfers.type == charge_type,
            not_empty(transfers.run_id),
            *_scope(transfers, account_id),
        )
        .group_by(transfers.account_id, transfers.run_id, transfers.function)
    )


def run_lines(account_id: str | None) -> Select[Any]:
    """The runs' recorded lines."""
    return select(schema.run_lines).where(*_scope(schema.run_lines.c, account_id))


def run_charges(account_id: str | None) -> Select[Any]:
    """Each run's materialised `charged`."""
    runs = schema.runs.c
    return select(runs.account_id, runs.run_id, runs.charged).where(*_scope(runs, account_id))


def row_counts(account_id: str | None) -> list[Select[Any]]:
    """How many accounts, transfers and entries there are, in that order."""
    return [
        select(func.count()).select_from(table).where(*_scope(table.c, account_id))
        for table in (schema.accounts, schema.transfers, schema.entries)
    ]


def event_numbering(account_id: str | None) -> Select[Any]:
    """Accounts whose events are not numbered 1..last_event_seq without a gap: the account's
    `last_event_seq`, and its events' count and highest number."""
    accounts, events = schema.accounts.c, schema.events.c
    counted = (
        select(
            events.account_id,
            func.count().label("count"),
            func.max(events.seq).label("highest"),
        )
        .group_by(events.account_id)
        .subquery()
    )
    count = func.coalesce(counted.c["count"], 0)
    highest = func.coalesce(counted.c.highest, 0)
    return (
        select(
            accounts.account_id,
            accounts.last_event_seq,
            count.label("count"),
            highest.label("highest"),
        )
        .select_from(
            schema.accounts.outerjoin(counted, counted.c.account_id == accounts.account_id)
        )
        .where(
            *_scope(accounts, account_id),
            (count != accounts.last_event_seq) | (highest != accounts.last_event_seq),
        )
    )


def unmatched_purchases(account_id: str | None) -> Select[Any]:
    """Purchases whose grant is missing, not a top-up, or not funded with what was bought
    (`granted` is NULL for a missing grant)."""
    payments, grants = schema.payments.c, schema.grants.c
    return (
        select(
            payments.account_id,
            payments.payment_id,
            payments.credits,
            grants.amount.label("granted"),
        )
        .select_from(
            schema.payments.outerjoin(
                schema.grants,
                and_(
                    grants.account_id == payments.account_id,
                    grants.grant_id == payments.grant_id,
                ),
            )
        )
        .where(
            *_scope(payments, account_id),
            (grants.grant_id.is_(None))
            | (grants.source != "top_up")
            | (grants.amount != payments.credits),
        )
    )
