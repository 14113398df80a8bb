"""Selling credits, as pure code: credit packs (credits for a price), auto-recharge settings,
and the arithmetic of a purchase (its expiry, the credits a refund covers).

Prices are integers in the currency's minor unit (cents for `usd`), as Stripe takes them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from creditbook.domain.alerts import MAX_THRESHOLD
from creditbook.domain.amounts import Credits
from creditbook.domain.errors import AmountRangeError, ValidationError
from creditbook.domain.periods import add_months_clamped
from creditbook.domain.plans import check_identifier

CURRENCY_PATTERN = re.compile(r"^[a-z]{3}$")
# Stripe's own ceiling for one amount is 99,999,999 in the minor unit (eight digits).
MAX_UNIT_AMOUNT = 99_999_999
MAX_PACK_CREDITS = Credits.of(10**12)
MAX_PACK_QUANTITY = 100
MAX_EXPIRY_MONTHS = 120
MAX_PACK_CURRENCIES = 20
MAX_RECHARGES_PER_MONTH = 100
DEFAULT_RECHARGES_PER_MONTH = 5
# Currencies whose amounts Stripe takes in the major unit (no cents), by Stripe's list.
ZERO_DECIMAL_CURRENCIES = frozenset(
    [
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    ]
)
MAX_NAME_CHARS = 200


def check_currency(currency: str) -> str:
    """An ISO 4217 code, lowercase (as Stripe writes it); `USD` is taken as `usd`."""
    code = currency.lower() if isinstance(currency, str) else ""
    if not CURRENCY_PATTERN.fullmatch(code):
        raise ValidationError(
            f"a currency is a three-letter ISO 4217 code, got {str(currency)[:20]!r}",
            field="currency",
        )
    return code


def check_unit_amount(amount: int) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise ValidationError("a price is a whole number of minor units", field="prices")
    if not 1 <= amount <= MAX_UNIT_AMOUNT:
        raise AmountRangeError(
            f"a price is within 1..{MAX_UNIT_AMOUNT:,} minor units", field="prices"
        )
    return amount


@dataclass(frozen=True, slots=True)
class CreditPack:
    """Credits sold for a price.

    Attributes:
        pack_id: its identifier (lowercase, URL-safe).
        credits: the credits one pack grants.
        prices: price of one pack per currency, in minor units (`{"usd": 900}` = $9.00).
        name: what the customer sees at checkout (default: the pack id).
        pool: the pool its credits go to (None: the account plan's only pool).
        expires_after_months: purchased credits expire this many months after the purchase
            (None: never).
        priority: the spend priority of its grants (None: the top-up default).
        active: False retires it: listed, no longer sold.
    """

    pack_id: str
    credits: Credits
    prices: Mapping[str, int]
    name: str = ""
    pool: str | None = None
    expires_after_months: int | None = None
    priority: int | None = None
    active: bool = True

    def __post_init__(self) -> None:
        check_identifier("pack_id", self.pack_id)
        if self.pool is not None:
            check_identifier("pool", self.pool)
        if not self.credits.is_positive():
            raise ValidationError("a pack gives a positive number of credits", field="credits")
        if self.credits > MAX_PACK_CREDITS:
            raise AmountRangeError(
                f"a pack gives at most {MAX_PACK_CREDITS} credits", field="credits"
            )
        if not self.prices:
            raise ValidationError("a pack has a price in at least one currency", field="prices")
        if len(self.prices) > MAX_PACK_CURRENCIES:
            raise ValidationError(
                f"a pack has prices in at most {MAX_PACK_CURRENCIES} currencies", field="prices"
            )
        prices = {
            check_currency(code): check_unit_amount(amount) for code, amount in self.prices.items()
        }
        if len(prices) != len(self.prices):
            raise ValidationError("a currency is priced twice", field="prices")
        object.__setattr__(self, "prices", MappingProxyType(dict(sorted(prices.items()))))
        if len(self.name) > MAX_NAME_CHARS:
            raise ValidationError(
                f"a pack name has at most {MAX_NAME_CHARS} characters", field="name"
            )
        if not self.name:
            object.__setattr__(self, "name", self.pack_id)
        if self.expires_after_months is not None and not (
            1 <= self.expires_after_months <= MAX_EXPIRY_MONTHS
        ):
            raise ValidationError(
                f"expires_after_months is within 1..{MAX_EXPIRY_MONTHS}",
                field="expires_after_months",
            )
        if self.priority is not None and not 0 <= self.priority <= 1000:
            raise ValidationError("priority is within 0..1000", field="priority")

    def pool_in(self, plan_id: str, pools: tuple[str, ...]) -> str:
        """The pool its credits go to on a plan with `pools`."""
        if self.pool is None:
            if len(pools) != 1:
                raise ValidationError(
                    f"pack {self.pack_id!r} names no pool and plan {plan_id!r} has several",
                    field="pack_id",
                )
            return pools[0]
        if self.pool not in pools:
            raise ValidationError(
                f"pack {self.pack_id!r} gives {self.pool!r} credits, not a pool of plan "
                f"{plan_id!r}",
                field="pack_id",
            )
        return self.pool

    def price(self, currency: str | None) -> tuple[str, int]:
        """The currency and unit price a purchase pays (`currency` None: the only one)."""
        if currency is None:
            if len(self.prices) != 1:
                raise ValidationError(
                    f"pack {self.pack_id!r} is priced in {', '.join(self.prices)}: name a currency",
                    field="currency",
                )
            return next(iter(self.prices.items()))
        code = check_currency(currency)
        if code not in self.prices:
            raise ValidationError(f"pack {self.pack_id!r} has no price in {code}", field="currency")
        return code, self.prices[code]

    def expires_at(self, purchased_at: datetime) -> datetime | None:
        """When credits bought at `purchased_at` expire (the same day of the month, clamped
        to the month's last day; the same time of day)."""
        if self.expires_after_months is None:
            return None
        day = add_months_clamped(
            purchased_at.year, purchased_at.month, purchased_at.day, self.expires_after_months
        )
        return purchased_at.replace(year=day.year, month=day.month, day=day.day)

    def to_body(self) -> dict[str, Any]:
        return {
            "pack_id": self.pack_id,
            "name": self.name,
            "credits": self.credits.millicredits,
            "pool": self.pool,
            "prices": dict(self.prices),
            "expires_after_months": self.expires_after_months,
            "priority": self.priority,
            "active": self.active,
        }

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> CreditPack:
        return cls(
            pack_id=body["pack_id"],
            credits=Credits(int(body["credits"])),
            prices=MappingProxyType(dict(body["prices"])),
            name=body.get("name", ""),
            pool=body.get("pool"),
            expires_after_months=body.get("expires_after_months"),
            priority=body.get("priority"),
            active=body.get("active", True),
        )


def check_quantity(quantity: int) -> int:
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise ValidationError("quantity is a whole number", field="quantity")
    if not 1 <= quantity <= MAX_PACK_QUANTITY:
        raise ValidationError(f"quantity is within 1..{MAX_PACK_QUANTITY}", field="quantity")
    return quantity


@dataclass(frozen=True, slots=True)
class AutoRecharge:
    """Buy a pack on the saved card when a pool falls below a threshold.

    Attributes:
        pack_id: the pack bought.
        threshold: a write that takes the pack's pool below this many available credits
            starts a recharge (once per crossing).
        max_per_month: at most this many recharges a calendar month (UTC).
        currency: what it pays in (None: the pack's only currency).
        enabled: False keeps the settings and stops recharging.
    """

    pack_id: str
    threshold: Credits
    max_per_month: int = DEFAULT_RECHARGES_PER_MONTH
    currency: str | None = None
    enabled: bool = True

    def __post_init__(self) -> None:
        if not self.threshold.is_positive():
            raise ValidationError("threshold must be positive", field="threshold")
        if self.threshold > MAX_THRESHOLD:
            raise AmountRangeError(
                f"threshold is at most {MAX_THRESHOLD} credits", field="threshold"
            )
        if (
            isinstance(self.max_per_month, bool)
            or not 1 <= self.max_per_month <= MAX_RECHARGES_PER_MONTH
        ):
            raise ValidationError(
                f"max_per_month is within 1..{MAX_RECHARGES_PER_MONTH}", field="max_per_month"
            )
        if self.currency is not None:
            object.__setattr__(self, "currency", check_currency(self.currency))

    def to_body(self) -> dict[str, Any]:
        return {
            "pack_id": self.pack_id,
            "threshold": self.threshold.millicredits,
            "max_per_month": self.max_per_month,
            "currency": self.currency,
            "enabled": self.enabled,
        }

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> AutoRecharge:
        return cls(
            pack_id=body["pack_id"],
            threshold=Credits(int(body["threshold"])),
            max_per_month=int(body["max_per_month"]),
            currency=body.get("currency"),
            enabled=bool(body.get("enabled", True)),
        )


def refunded_credits(credits: int, amount_paid: int, amount_refunded: int) -> int:
    """The credits (millicredits) a refund of `amount_refunded` of `amount_paid` covers: the
    same share of what was bought, rounded down (a full refund covers all of it)."""
    if amount_paid <= 0 or amount_refunded <= 0:
        return 0
    if amount_refunded >= amount_paid:
        return credits
    return credits * amount_refunded // amount_paid
