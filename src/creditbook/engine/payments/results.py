"""What the payment operations return: frozen values."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from creditbook.domain.amounts import Credits
from creditbook.domain.payments import AutoRecharge


@dataclass(frozen=True, slots=True)
class CheckoutSession:
    """A Stripe Checkout Session for a pack: send the customer to `url`."""

    session_id: str
    url: str
    account_id: str
    pack_id: str
    quantity: int
    credits: Credits
    currency: str
    amount_total: int
    customer_id: str
    expires_at: datetime | None
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class Payment:
    """A purchase fulfilled: what was paid, the grant it funded, what refunds covered."""

    payment_id: str
    account_id: str
    kind: str
    pack_id: str
    quantity: int
    pool: str
    credits: Credits
    currency: str
    amount_paid: int
    amount_refunded: int
    credits_refunded: Credits
    credits_taken_back: Credits
    grant_id: str
    transfer_id: str
    checkout_session_id: str | None
    payment_intent_id: str | None
    customer_id: str | None
    dispute_id: str | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> Payment:
        return cls(
            payment_id=row.payment_id,
            account_id=row.account_id,
            kind=row.kind,
            pack_id=row.pack_id,
            quantity=row.quantity,
            pool=row.pool,
            credits=Credits(row.credits),
            currency=row.currency,
            amount_paid=row.amount_paid,
            amount_refunded=row.amount_refunded,
            credits_refunded=Credits(row.credits_refunded),
            credits_taken_back=Credits(row.credits_taken_back),
            grant_id=row.grant_id,
            transfer_id=row.transfer_id,
            checkout_session_id=row.stripe_object_id if row.kind == "checkout" else None,
            payment_intent_id=row.payment_intent_id,
            customer_id=row.customer_id,
            dispute_id=row.dispute_id,
            created_at=row.created_at,
        )


@dataclass(frozen=True, slots=True)
class PaymentPage:
    data: list[Payment]
    has_more: bool
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class Recharge:
    """One recharge: started by a `balance.low` event, then requested of Stripe,
    succeeded, failed, or skipped (monthly limit, paused, a recharge already under way)."""

    recharge_id: str
    event_id: str
    pack_id: str
    status: str
    payment_intent_id: str | None
    reason: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> Recharge:
        return cls(
            row.recharge_id,
            row.event_id,
            row.pack_id,
            row.status,
            row.payment_intent_id,
            row.reason,
            row.created_at,
            row.updated_at,
        )


@dataclass(frozen=True, slots=True)
class AutoRechargeState:
    """An account's auto-recharge: its settings (None: none), the pool they watch, whether
    it is paused and why, its Stripe customer and card, and its latest recharges."""

    account_id: str
    settings: AutoRecharge | None
    pool: str | None
    paused_at: datetime | None
    paused_reason: str | None
    customer_id: str | None
    payment_method_id: str | None
    recent: list[Recharge] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class StripeOutcome:
    """What a Stripe notification did: `action` is `fulfilled`, `duplicate`, `refunded`,
    `disputed`, `recharge_failed`, `payment_method_updated` or `ignored`."""

    stripe_event_id: str
    type: str
    action: str
    detail: str = ""
    payment_id: str | None = None
    account_id: str | None = None


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
