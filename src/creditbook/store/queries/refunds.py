"""Refunds: the charge refunded, what it drew, and how much of it is refunded."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, select, update

from creditbook.domain.grants import TransactionType
from creditbook.store import schema

_TRANSFERS = schema.transfers.c
_ENTRIES = schema.entries.c


def charge(connection: Connection, account_id: str, charge_id: str) -> Row[Any] | None:
    """The charge's transfer row (None: the account has no such charge)."""
    return connection.execute(
        select(schema.transfers).where(
            _TRANSFERS.account_id == account_id,
            _TRANSFERS.transfer_id == charge_id,
            _TRANSFERS.type == TransactionType.DEDUCTION.value,
        )
    ).first()


def drawn(connection: Connection, account_id: str, seq: int) -> list[Row[Any, Any]]:
    """The grant and hold entries of a transfer (grant_id, amount), last line first."""
    return list(
        connection.execute(
            select(_ENTRIES.grant_id, _ENTRIES.amount)
            .where(
                _ENTRIES.account_id == account_id,
                _ENTRIES.seq == seq,
                _ENTRIES.book.in_(("grant", "hold")),
            )
            .order_by(_ENTRIES.line.desc())
        ).all()
    )


def add_refunded(connection: Connection, account_id: str, seq: int, amount: int) -> None:
    """Count `amount` more of the charge at `seq` as refunded."""
    connection.execute(
        update(schema.transfers)
        .where(_TRANSFERS.account_id == account_id, _TRANSFERS.seq == seq)
        .values(refunded=_TRANSFERS.refunded + amount)
    )
