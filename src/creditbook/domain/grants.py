"""Grants, spend order and the kinds of transactions a customer sees."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from creditbook.domain.amounts import Credits
from creditbook.domain.errors import invariant


class GrantSource(enum.StrEnum):
    ALLOWANCE = "allowance"
    BONUS = "bonus"
    ROLLOVER = "rollover"
    TOP_UP = "top_up"
    ADJUSTMENT = "adjustment"
    # One per pool, never expires, the only grant allowed below zero (down to the plan's
    # overdraft limit). New credits settle its debt first.
    OVERDRAFT = "overdraft"


# Lower spends first: bonus, then rollover, then the period allowance, then purchases.
DEFAULT_PRIORITY: dict[GrantSource, int] = {
    GrantSource.BONUS: 10,
    GrantSource.ROLLOVER: 20,
    GrantSource.ALLOWANCE: 30,
    GrantSource.ADJUSTMENT: 40,
    GrantSource.TOP_UP: 50,
    GrantSource.OVERDRAFT: 1_000_000,
}
MIN_PRIORITY = 0
MAX_PRIORITY = 999_999


class TransactionType(enum.StrEnum):
    DEDUCTION = "DEDUCTION"
    MONTHLY_RESET = "MONTHLY_RESET"
    DAILY_RESET = "DAILY_RESET"
    BONUS = "BONUS"
    TOP_UP = "TOP_UP"
    ROLLOVER = "ROLLOVER"
    EXPIRY = "EXPIRY"
    REFUND = "REFUND"
    ADJUSTMENT = "ADJUSTMENT"
    # Reservations move credits between the customer's own books: net zero, so they are
    # left out of the customer's history unless asked for by type.
    HOLD = "HOLD"
    RELEASE = "RELEASE"


CUSTOMER_VISIBLE_TYPES: frozenset[TransactionType] = frozenset(TransactionType) - {
    TransactionType.HOLD,
    TransactionType.RELEASE,
}

GRANT_TRANSACTION_TYPE: dict[GrantSource, TransactionType] = {
    GrantSource.BONUS: TransactionType.BONUS,
    GrantSource.TOP_UP: TransactionType.TOP_UP,
    GrantSource.ADJUSTMENT: TransactionType.ADJUSTMENT,
}


@dataclass(frozen=True, slots=True)
class GrantView:
    """What spend order needs to know of a grant.

    Attributes:
        grant_id: the grant's id.
        source: where its credits came from.
        priority: lower spends first.
        expires_at: when its remaining credits expire (None: never).
        created_seq: recording order, the last tie-breaker (older first).
        remaining: credits left (negative only for the overdraft grant).
    """

    grant_id: str
    source: GrantSource
    priority: int
    expires_at: datetime | None
    created_seq: int
    remaining: Credits

    def with_remaining(self, millicredits: int) -> GrantView:
        """The same grant with `millicredits` left, built directly: `dataclasses.replace`
        took more of a charge's time than the rest of keeping its cached grants current."""
        return GrantView(
            self.grant_id,
            self.source,
            self.priority,
            self.expires_at,
            self.created_seq,
            Credits(millicredits),
        )


def spend_order_key(grant: GrantView) -> tuple[int, int, float, int]:
    """Priority, then soonest expiry (never-expiring last), then oldest."""
    if grant.expires_at is None:
        return (grant.priority, 1, 0.0, grant.created_seq)
    return (grant.priority, 0, grant.expires_at.timestamp(), grant.created_seq)


def in_spend_order(grants: Iterable[GrantView]) -> list[GrantView]:
    return sorted(grants, key=spend_order_key)


@dataclass(frozen=True, slots=True)
class Draw:
    """Credits taken from one grant."""

    grant_id: str
    amount: Credits


def allocate(
    grants: Sequence[GrantView], amount: Credits, overdraft: Credits, *, partial: bool
) -> list[Draw] | None:
    """Draw `amount` from grants in spend order.

    Positive grants are drawn down to zero; what is still missing goes on the overdraft
    grant, down to minus `overdraft`. Returns None when the amount cannot be paid in full
    and `partial` is false; with `partial`, draws as much as can be paid.
    """
    invariant(not amount.is_negative(), "an allocation is never negative")
    missing = amount.millicredits
    draws: list[Draw] = []
    overdraft_grant: GrantView | None = None
    for grant in in_spend_order(grants):
        if grant.source is GrantSource.OVERDRAFT:
            overdraft_grant = grant
            continue
        take = min(missing, grant.remaining.millicredits)
        if take > 0:
            draws.append(Draw(grant.grant_id, Credits(take)))
            missing -= take
    if missing > 0 and overdraft_grant is not None:
        headroom = overdraft_grant.remaining.millicredits + overdraft.millicredits
        take = min(missing, max(headroom, 0))
        if take > 0:
            draws.append(Draw(overdraft_grant.grant_id, Credits(take)))
            missing -= take
    if missing > 0 and not partial:
        return None
    return draws


def spendable(grants: Iterable[GrantView], overdraft: Credits) -> Credits:
    """What can be drawn now: positive grants plus the overdraft headroom."""
    millicredits = 0
    for grant in grants:
        if grant.source is GrantSource.OVERDRAFT:
            millicredits += grant.remaining.millicredits + overdraft.millicredits
        else:
            millicredits += max(grant.remaining.millicredits, 0)
    return Credits(millicredits)
