"""History: an account's transactions page by page, and the raw entries in batches."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from creditbook.domain.amounts import Credits
from creditbook.domain.errors import ValidationError
from creditbook.domain.grants import CUSTOMER_VISIBLE_TYPES, TransactionType
from creditbook.domain.periods import check_instant
from creditbook.engine.reports.accounts import account_row
from creditbook.engine.reports.paging import (
    MAX_PAGE_SIZE,
    check_limit,
    cursor_body,
    encode_cursor_body,
    malformed_cursor,
)
from creditbook.engine.results import Entry, Transaction, TransactionPage
from creditbook.store.queries.reports import history as queries

MAX_ENTRIES_BATCH = 10_000
MAX_OFFSET = 10**9
# (account, seq, line): where a batch of entries resumes.
EntryKey = tuple[str, int, int]


@dataclass(frozen=True, slots=True)
class TransactionQuery:
    """A checked request for a page of history.

    Attributes:
        limit: transactions per page.
        before_seq: the page starts before this transfer (from a cursor), or at the newest.
        offset: transactions skipped before the page.
        types: the transaction types shown, sorted.
        since, until: the page's time bounds, both inclusive.
    """

    limit: int
    before_seq: int | None
    offset: int | None
    types: tuple[str, ...]
    since: datetime | None
    until: datetime | None

    @classmethod
    def build(
        cls,
        limit: int,
        cursor: str | None,
        offset: int | None,
        types: Sequence[TransactionType | str] | None,
        since: datetime | None,
        until: datetime | None,
    ) -> TransactionQuery:
        check_limit("limit", limit, MAX_PAGE_SIZE)
        if cursor is not None and offset is not None:
            raise ValidationError("give cursor or offset, not both", field="cursor")
        if offset is not None and not 0 <= offset <= MAX_OFFSET:
            raise ValidationError("offset must not be negative", field="offset")
        kinds = _type_values(types)
        for name, value in (("since", since), ("until", until)):
            if value is not None:
                check_instant(name, value)
        return cls(limit, decode_cursor(cursor) if cursor else None, offset, kinds, since, until)


def _type_values(types: Sequence[TransactionType | str] | None) -> tuple[str, ...]:
    """The values of `types`, sorted; the customer-visible types without any."""
    try:
        return (
            tuple(sorted(TransactionType(t).value for t in types))
            if types
            else tuple(sorted(t.value for t in CUSTOMER_VISIBLE_TYPES))
        )
    except ValueError:
        raise ValidationError(f"unknown transaction type in {types!r}", field="types") from None


def encode_cursor(seq: int) -> str:
    return encode_cursor_body("seq", str(seq))


def decode_cursor(cursor: str) -> int:
    body = cursor_body(cursor, "seq")
    if not body.isascii() or not body.isdigit() or len(body) > 18:  # within BIGINT
        raise malformed_cursor()
    return int(body)


def transactions(
    connection: Connection, account_id: str, query: TransactionQuery
) -> TransactionPage:
    """A page of the account's transactions, newest first, with the total count on a first
    page (one not reached by cursor)."""
    account_row(connection, account_id)
    conditions = queries.transaction_filter(account_id, query.types, query.since, query.until)
    total: int | None = None  # not counted again on a page reached by cursor
    if query.before_seq is None:
        total = int(connection.execute(queries.transaction_count(conditions)).scalar_one())
    statement = queries.transaction_page(
        conditions, query.before_seq, query.limit + 1, query.offset or 0
    )
    rows = connection.execute(statement).all()
    has_more = len(rows) > query.limit
    rows = rows[: query.limit]
    data = [_transaction_from_row(row) for row in rows]
    next_cursor = encode_cursor(rows[-1].seq) if has_more and rows else None
    return TransactionPage(data, has_more, next_cursor, total)


def _transaction_from_row(row: Any) -> Transaction:
    return Transaction(
        row.transfer_id,
        TransactionType(row.type),
        row.pool,
        Credits(row.amount),
        row.description,
        row.created_at,
        row.function,
        row.run_id,
        row.user_id,
        row.linked_id,
    )


def entry_count(connection: Connection, account_id: str | None) -> int:
    """How many entries the account has (all accounts' with None)."""
    if account_id is not None:
        account_row(connection, account_id)  # not_found for an unknown account
    return int(connection.execute(queries.entry_count(account_id)).scalar_one())


def entry_batch(
    connection: Connection, account_id: str | None, after: EntryKey | None, batch: int
) -> list[Entry]:
    """Up to `batch` entries in (account, seq, line) order after the key `after`."""
    check_limit("batch", batch, MAX_ENTRIES_BATCH)
    if account_id is not None:
        account_row(connection, account_id)
    return [
        _entry_from_row(row)
        for row in connection.execute(queries.entry_batch(account_id, after, batch))
    ]


def _entry_from_row(row: Any) -> Entry:
    return Entry(
        row.account_id,
        int(row.seq),
        int(row.line),
        row.transfer_id,
        row.type,
        row.pool,
        row.created_at,
        row.book,
        row.grant_id,
        row.hold_id,
        Credits(int(row.amount)),
    )
