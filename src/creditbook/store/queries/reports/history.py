"""History: the transactions of an account, and the raw entries in key order."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select

from creditbook.store import schema


def transaction_filter(
    account_id: str, types: Sequence[str], since: datetime | None, until: datetime | None
) -> list[ColumnElement[bool]]:
    """The conditions the count and the pages of a history share."""
    transfers = schema.transfers.c
    conditions = [transfers.account_id == account_id, transfers.type.in_(types)]
    if since is not None:
        conditions.append(transfers.created_at >= since)
    if until is not None:
        conditions.append(transfers.created_at <= until)
    return conditions


def transaction_count(conditions: list[ColumnElement[bool]]) -> Select[Any]:
    """How many transfers meet `conditions`."""
    return select(func.count()).select_from(schema.transfers).where(*conditions)


def transaction_page(
    conditions: list[ColumnElement[bool]], before_seq: int | None, limit: int, offset: int
) -> Select[Any]:
    """Up to `limit` transfers meeting `conditions`, newest first, before the transfer
    `before_seq`, skipping `offset`; each with the id of the transfer it is linked to."""
    transfers = schema.transfers.c
    if before_seq is not None:
        conditions = [*conditions, transfers.seq < before_seq]
    linked = schema.transfers.alias("linked")
    return (
        select(schema.transfers, linked.c.transfer_id.label("linked_id"))
        .outerjoin(
            linked,
            and_(linked.c.account_id == transfers.account_id, linked.c.seq == transfers.linked_seq),
        )
        .where(*conditions)
        .order_by(transfers.seq.desc())
        .limit(limit)
        .offset(offset)
    )


def entry_count(account_id: str | None) -> Select[Any]:
    """How many entries the account has (all accounts' with None)."""
    statement = select(func.count()).select_from(schema.entries)
    if account_id is not None:
        statement = statement.where(schema.entries.c.account_id == account_id)
    return statement


def entry_batch(
    account_id: str | None, after: tuple[str, int, int] | None, batch: int
) -> Select[Any]:
    """Up to `batch` entries with their transfers in (account, seq, line) order after the
    key `after`, of one account or of all."""
    entries, transfers = schema.entries.c, schema.transfers.c
    statement = (
        select(
            entries.account_id,
            entries.seq,
            entries.line,
            transfers.transfer_id,
            transfers.type,
            transfers.pool,
            transfers.created_at,
            entries.book,
            entries.grant_id,
            entries.hold_id,
            entries.amount,
        )
        .join(
            schema.transfers,
            and_(transfers.account_id == entries.account_id, transfers.seq == entries.seq),
        )
        .order_by(entries.account_id, entries.seq, entries.line)
        .limit(batch)
    )
    if account_id is not None:
        statement = statement.where(entries.account_id == account_id)
    if after is not None:
        last_account, seq, line = after
        # Spelled out rather than a row-value comparison, which every backend plans well.
        statement = statement.where(
            or_(
                entries.account_id > last_account,
                and_(entries.account_id == last_account, entries.seq > seq),
                and_(entries.account_id == last_account, entries.seq == seq, entries.line > line),
            )
        )
    return statement
