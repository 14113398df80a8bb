"""Selling credits: credit packs, Checkout Sessions, auto-recharge, purchases, and the
answer to a Stripe notification.

Money is in the currency's minor unit (cents for `usd`), as Stripe counts it; currencies
are ISO 4217 codes, answered lowercase as Stripe writes them.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Annotated, Any

from pydantic import AliasChoices, ConfigDict, Field, StrictBool, StrictInt, field_validator

from creditbook.domain.payments import (
    DEFAULT_RECHARGES_PER_MONTH,
    MAX_EXPIRY_MONTHS,
    MAX_PACK_CURRENCIES,
    MAX_PACK_QUANTITY,
    MAX_RECHARGES_PER_MONTH,
    MAX_UNIT_AMOUNT,
    AutoRecharge,
    CreditPack,
)
from creditbook.wire.common import Amount, Id, Name, Out, Strict, credits

PackCurrency = Annotated[str, Field(pattern=r"^[A-Za-z]{3}$")]
UnitAmount = Annotated[StrictInt, Field(ge=1, le=MAX_UNIT_AMOUNT)]
Url = Annotated[str, Field(min_length=1, max_length=2048, pattern=r"^https?://\S+$")]


class CreditPackBody(Strict):
    """A pack: `credits` for a price per currency in minor units (`{"usd": 900}` = $9.00)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "1,000 credits",
                    "credits": 1000,
                    "prices": {"usd": 900, "eur": 850},
                    "expires_after_months": 12,
                }
            ]
        }
    )

    credits: Amount
    prices: dict[PackCurrency, UnitAmount] = Field(
        ..., min_length=1, max_length=MAX_PACK_CURRENCIES
    )
    name: Name = ""
    pool: Id | None = None
    expires_after_months: Annotated[StrictInt, Field(ge=1, le=MAX_EXPIRY_MONTHS)] | None = None
    priority: Annotated[StrictInt, Field(ge=0, le=1000)] | None = None
    active: StrictBool = True

    def to_pack(self, pack_id: str) -> CreditPack:
        return CreditPack(
            pack_id=pack_id,
            credits=credits(self.credits, "credits"),
            prices=MappingProxyType(dict(self.prices)),
            name=self.name,
            pool=self.pool,
            expires_after_months=self.expires_after_months,
            priority=self.priority,
            active=self.active,
        )


class CreditPackOut(Out):
    model_config = ConfigDict(from_attributes=True)

    pack_id: str
    name: str
    credits: Amount
    prices: dict[str, int]
    pool: str | None
    expires_after_months: int | None
    priority: int | None
    active: bool

    @field_validator("prices", mode="before")
    @classmethod
    def _plain(cls, value: Any) -> Any:
        return dict(value)


class CreditPackList(Out):
    data: list[CreditPackOut]


class CheckoutBody(Strict):
    """Buy `quantity` packs: Stripe Checkout sends the customer back to `success_url` (it may
    carry `{CHECKOUT_SESSION_ID}`) once paid, or to `cancel_url`."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "pack_id": "credits-1000",
                    "quantity": 1,
                    "success_url": "https://example.com/billing?paid={CHECKOUT_SESSION_ID}",
                    "cancel_url": "https://example.com/billing",
                }
            ]
        }
    )

    pack_id: Id
    success_url: Url
    cancel_url: Url
    quantity: Annotated[StrictInt, Field(ge=1, le=MAX_PACK_QUANTITY)] = 1
    currency: PackCurrency | None = None


class CheckoutOut(Out):
    """A Checkout Session: send the customer to `url`. Credits arrive when Stripe reports
    the payment (`checkout.session.completed`)."""

    model_config = ConfigDict(from_attributes=True)

    # `id` in JSON (the SDK reads it back), `session_id` on the engine's result.
    id: str = Field(validation_alias=AliasChoices("id", "session_id"))
    url: str
    account_id: str
    pack_id: str
    quantity: int
    credits: Amount
    currency: str
    amount_total: int
    customer_id: str
    expires_at: datetime | None


class AutoRechargeBody(Strict):
    """Buy `pack_id` on the saved card when a write takes the pack's pool below `threshold`
    credits: once per crossing, at most `max_per_month` times a calendar month (UTC)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"pack_id": "credits-1000", "threshold": 100, "max_per_month": 3}]
        }
    )

    pack_id: Id
    threshold: Amount
    max_per_month: Annotated[StrictInt, Field(ge=1, le=MAX_RECHARGES_PER_MONTH)] = (
        DEFAULT_RECHARGES_PER_MONTH
    )
    currency: PackCurrency | None = None
    enabled: StrictBool = True

    def to_settings(self) -> AutoRecharge:
        return AutoRecharge(
            pack_id=self.pack_id,
            threshold=credits(self.threshold, "threshold"),
            max_per_month=self.max_per_month,
            currency=self.currency,
            enabled=self.enabled,
        )


class AutoRechargeSettingsOut(Out):
    model_config = ConfigDict(from_attributes=True)

    pack_id: str
    threshold: Amount
    max_per_month: int
    currency: str | None
    enabled: bool


class RechargeOut(Out):
    """One recharge: `due` (queued), `requested` (asked of Stripe), `succeeded`, `failed`
    or `skipped` (with its `reason`)."""

    model_config = ConfigDict(from_attributes=True)

    recharge_id: str
    event_id: str
    pack_id: str
    status: str
    payment_intent_id: str | None
    reason: str
    created_at: datetime
    updated_at: datetime


class AutoRechargeOut(Out):
    """An account's auto-recharge: its settings (null: none), the pool they watch, whether
    it is paused (a failed payment pauses it until the card changes), its Stripe customer
    and card, and its latest recharges."""

    model_config = ConfigDict(from_attributes=True)

    account_id: str
    settings: AutoRechargeSettingsOut | None
    pool: str | None
    paused: bool = False
    paused_at: datetime | None
    paused_reason: str | None
    customer_id: str | None
    payment_method_id: str | None
    recent: list[RechargeOut]

    @classmethod
    def of(cls, state: Any) -> AutoRechargeOut:
        out = cls.model_validate(state)
        return out.model_copy(update={"paused": state.paused_at is not None})


class PaymentOut(Out):
    """A purchase: what was paid (minor units), the credits it granted, and what refunds
    covered of them (`credits_taken_back` were unspent and taken back; the rest had been
    spent)."""

    model_config = ConfigDict(from_attributes=True)

    payment_id: str
    account_id: str
    kind: str
    pack_id: str
    quantity: int
    pool: str
    credits: Amount
    currency: str
    amount_paid: int
    amount_refunded: int
    credits_refunded: Amount
    credits_taken_back: Amount
    grant_id: str
    transfer_id: str
    checkout_session_id: str | None
    payment_intent_id: str | None
    customer_id: str | None
    dispute_id: str | None
    created_at: datetime


class PaymentList(Out):
    data: list[PaymentOut]
    has_more: bool
    next_cursor: str | None


class RevenueOut(Out):
    """Purchases in one currency: paid and refunded (minor units), credits bought and
    covered by refunds, and the net amount paid per credit kept (minor units)."""

    model_config = ConfigDict(from_attributes=True)

    currency: str
    purchases: int
    amount_paid: int
    amount_refunded: int
    net_amount: int
    credits_bought: Amount
    credits_refunded: Amount
    cost_per_credit: Decimal | None


class StripeReceiptOut(Out):
    """What creditbook did with a Stripe notification."""

    model_config = ConfigDict(from_attributes=True)

    received: bool = True
    stripe_event_id: str
    type: str
    action: str
    detail: str
    payment_id: str | None
