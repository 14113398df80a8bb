"""The values a transaction on one account posts: entry lines, attribution, posted transfers."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Book = Literal["grant", "hold", "issued", "spent", "expired"]
# The books whose entries the customer sees: a transfer's net amount is their sum.
CUSTOMER_BOOKS = ("grant", "hold")


def new_id(prefix: str, random_bytes: int = 12) -> str:
    return f"{prefix}{secrets.token_hex(random_bytes)}"


@dataclass(frozen=True, slots=True)
class Line:
    """One entry to write: a signed amount on one book (and grant or hold)."""

    book: Book
    amount: int
    grant_id: str = ""
    hold_id: str = ""


@dataclass(frozen=True, slots=True)
class Attribution:
    """Who and what a charge is for; empty strings where not given."""

    function: str = ""
    module: str = ""
    service: str = ""
    user_id: str = ""
    resource_id: str = ""
    run_id: str = ""
    hold_id: str = ""


NO_ATTRIBUTION = Attribution()


@dataclass(frozen=True, slots=True)
class Posted:
    """A written transfer.

    Attributes:
        seq: its number in the account's sequence.
        transfer_id: `txn_<hex>`.
        amount: its net amount on the customer's books, in millicredits.
        created_at: the instant it is stamped with (when it was due, for catch-up).
    """

    seq: int
    transfer_id: str
    amount: int
    created_at: datetime


def draws_total(lines: list[Line]) -> int:
    """What debit lines take, as a positive amount."""
    return -sum(line.amount for line in lines)
