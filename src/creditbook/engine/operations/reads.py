"""Reads that combine reports with the ledger's plans: balances, history, stats, and
every entry in bounded batches. Callers catch the account up first (`sweep.touch`)."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import date, datetime

from sqlalchemy import Connection

from creditbook.domain.grants import TransactionType
from creditbook.domain.periods import check_instant
from creditbook.engine import reports
from creditbook.engine.context import Context
from creditbook.engine.payments.purchases import revenue_on_days
from creditbook.engine.results import Balance, Entry, Stats, TransactionPage


def balance(context: Context, account_id: str, at: datetime | None, draws: bool) -> Balance:
    """Credits per pool now, or as they were at `at`."""
    when = context.now() if at is None else check_instant("at", at)
    return context.run(
        lambda c: reports.balance(
            c, account_id, when, context.plan, replay=at is not None, draws=draws
        ),
        read_only=True,
    )


def transactions(
    context: Context,
    account_id: str,
    limit: int,
    cursor: str | None,
    offset: int | None,
    types: Sequence[TransactionType | str] | None,
    since: datetime | None,
    until: datetime | None,
) -> TransactionPage:
    """One page of history, newest first."""
    query = reports.TransactionQuery.build(limit, cursor, offset, types, since, until)
    return context.run(lambda c: reports.transactions(c, account_id, query), read_only=True)


def stats(context: Context, account_id: str, start: date, end: date, group_by: str) -> Stats:
    """Spend in a range of local dates, with the forecast and the plan's view of it."""
    now = context.now()

    def transaction(connection: Connection) -> Stats:
        result = reports.stats(connection, account_id, start, end, group_by)
        current = reports.balance(connection, account_id, now, context.plan)
        timezone = reports.account_row(connection, account_id).timezone
        return replace(
            result,
            forecast=reports.forecast(connection, account_id, current, now),
            plan=reports.stats_plan(context.plan(connection, current.plan_id), current),
            purchases=revenue_on_days(connection, account_id, timezone, start, end),
        )

    return context.run(transaction, read_only=True)


def iter_entries(context: Context, account_id: str | None, batch: int) -> Iterator[Entry]:
    """Every ledger line of one account (or all), in (account, seq, line) order, each
    batch read in its own short transaction."""
    after: reports.EntryKey | None = None
    while True:
        read = functools.partial(
            reports.entry_batch, account_id=account_id, after=after, batch=batch
        )
        found = context.run(read, read_only=True)
        yield from found
        if len(found) < batch:
            return
        last = found[-1]
        after = (last.account_id, last.seq, last.line)
