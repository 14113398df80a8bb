"""An account's history: one transaction, and a page of them."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from creditbook.wire.common import Amount, Out


class TransactionOut(Out):
    transaction_id: str
    type: str
    pool: str
    amount: Amount
    description: str
    created_at: datetime
    function: str
    run_id: str
    user_id: str
    linked_transaction_id: str | None


class TransactionList(Out):
    data: list[TransactionOut]
    has_more: bool
    next_cursor: str | None
    total: int | None = Field(
        None, description="How many transactions match, on the first page; null after a cursor."
    )
