"""Charges: finding the account a charge belongs to."""

from __future__ import annotations

from sqlalchemy import Connection, select

from creditbook.domain.grants import TransactionType
from creditbook.store import schema

_TRANSFERS = schema.transfers.c


def account_of_charge(connection: Connection, charge_id: str) -> str | None:
    """The account of a charge (None: no charge has this id)."""
    account_id: str | None = connection.execute(
        select(_TRANSFERS.account_id).where(
            _TRANSFERS.transfer_id == charge_id,
            _TRANSFERS.type == TransactionType.DEDUCTION.value,
        )
    ).scalar()
    return account_id
