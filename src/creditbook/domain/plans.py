"""Plans: allowance per pool per period, rollover, slots, prices, overdraft."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

from creditbook.domain.alerts import AlertRule, check_rules
from creditbook.domain.amounts import Credits, total
from creditbook.domain.errors import AmountRangeError, ValidationError
from creditbook.domain.periods import Interval

DEFAULT_POOL = "credits"
MAX_POOLS_PER_PLAN = 16
MAX_ROLLOVER_PERIODS = 120
# What a plan gives each period (all pools together) and how deep it lets a pool go: small
# enough that every total an account shows (two stats ranges of daily allowances, a balance
# with its overdraft) stays within the amount range.
MAX_PLAN_CREDITS = Credits.of(10**11)
# A plan's price per period: at most a trillion, to a ten-thousandth of the currency unit.
MAX_PRICE = Decimal(10**12)
MAX_PRICE_DECIMAL_PLACES = 4
IDENTIFIER_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.:-]{0,63}$")


def check_identifier(kind: str, value: str) -> str:
    """Names of pools, functions, modules and plans: short, lowercase, URL-safe."""
    if not isinstance(value, str) or not IDENTIFIER_PATTERN.fullmatch(value):
        shown = repr(value) if len(repr(value)) <= 70 else f"{repr(value)[:66]}...'"
        raise ValidationError(
            f"{kind} must match {IDENTIFIER_PATTERN.pattern}, got {shown}", field=kind
        )
    return value


def check_price(price: Decimal) -> Decimal:
    """A price per period: a finite decimal within 0..MAX_PRICE, to MAX_PRICE_DECIMAL_PLACES."""
    if not isinstance(price, Decimal) or not price.is_finite():
        raise ValidationError("prices must be finite numbers", field="prices")
    if price < 0:
        raise ValidationError("prices must not be negative", field="prices")
    if price > MAX_PRICE:
        raise ValidationError(f"prices must be at most {MAX_PRICE}", field="prices")
    if price != price.quantize(Decimal(1).scaleb(-MAX_PRICE_DECIMAL_PLACES)):
        raise ValidationError(
            f"prices have at most {MAX_PRICE_DECIMAL_PLACES} decimal places", field="prices"
        )
    return price


@dataclass(frozen=True, slots=True)
class RolloverPolicy:
    """How much unused allowance carries into the next period, and for how long.

    Attributes:
        cap: at most this many credits roll over (None: no absolute cap).
        cap_percent: at most this percent of the period allowance rolls over (None: no cap).
        expires_after_periods: rolled-over credits expire at the start of the period this
            many periods after the one they rolled into (1: usable for one period only;
            None: they never expire).
    """

    cap: Credits | None = None
    cap_percent: Decimal | None = None
    expires_after_periods: int | None = 1

    def __post_init__(self) -> None:
        if self.cap is not None and self.cap.is_negative():
            raise ValidationError("rollover cap must not be negative", field="rollover.cap")
        if self.cap_percent is not None and not (0 <= self.cap_percent <= 100):
            raise ValidationError(
                "rollover cap_percent must be within 0..100", field="rollover.cap_percent"
            )
        if self.expires_after_periods is not None and not (
            1 <= self.expires_after_periods <= MAX_ROLLOVER_PERIODS
        ):
            raise ValidationError(
                f"rollover expires_after_periods must be within 1..{MAX_ROLLOVER_PERIODS}",
                field="rollover.expires_after_periods",
            )

    def rollover_amount(self, unused: Credits, allowance: Credits) -> Credits:
        """Credits that roll over from `unused` allowance (never more than unused)."""
        if not unused.is_positive():
            return Credits.zero()
        amount = unused.millicredits
        if self.cap is not None:
            amount = min(amount, self.cap.millicredits)
        if self.cap_percent is not None:
            # Floor to the millicredit: a cap never rounds up.
            percent_cap = allowance.millicredits * Fraction(self.cap_percent) // 100
            amount = min(amount, percent_cap)
        return Credits(amount)


@dataclass(frozen=True, slots=True)
class Plan:
    """What an account gets each period.

    Attributes:
        plan_id: the operator's identifier (`professional`, `prospect`).
        name: display name (`Professional`).
        interval: monthly (billing anniversary) or daily (account's local midnight).
        allowances: credits granted per pool each period; one pool (`credits`) for a
            unified plan, several for a separate-pool plan.
        rollover: unused-allowance policy, or None when unused allowance expires.
        slots: concurrency slots for runs.
        prices: price per period by ISO currency code (`{"EUR": Decimal("1000")}`).
        display_currency: the currency stats quote cost per credit in.
        overdraft: how far below zero each pool may go.
        price_id: the billing system's price identifier, shown by the lobstr balance.
        rate_limit_per_s: API requests per second per key of accounts on this plan (None:
            the service's default).
        rate_limit_burst: how many requests a key may make at once before the rate applies.
        alerts: the balance alerts of accounts on the plan that set none of their own.
    """

    plan_id: str
    name: str = ""
    interval: Interval = Interval.MONTHLY
    allowances: dict[str, Credits] = field(default_factory=lambda: {DEFAULT_POOL: Credits(0)})
    rollover: RolloverPolicy | None = None
    slots: int = 1
    prices: dict[str, Decimal] = field(default_factory=dict)
    display_currency: str | None = None
    overdraft: Credits = Credits(0)
    price_id: str = ""
    rate_limit_per_s: int | None = None
    rate_limit_burst: int | None = None
    alerts: tuple[AlertRule, ...] = ()

    def __post_init__(self) -> None:
        check_identifier("plan_id", self.plan_id)
        try:
            interval = Interval(self.interval)
        except ValueError as error:
            raise ValidationError(
                f"interval must be one of {', '.join(Interval)}, got {self.interval!r}",
                field="interval",
            ) from error
        object.__setattr__(self, "interval", interval)
        if not self.allowances:
            raise ValidationError("a plan needs at least one pool", field="allowances")
        if len(self.allowances) > MAX_POOLS_PER_PLAN:
            raise ValidationError(
                f"a plan has at most {MAX_POOLS_PER_PLAN} pools", field="allowances"
            )
        for pool, allowance in self.allowances.items():
            check_identifier("pool", pool)
            if allowance.is_negative():
                raise ValidationError("allowances must not be negative", field="allowances")
        if total(self.allowances.values()) > MAX_PLAN_CREDITS:
            raise AmountRangeError(
                f"allowances total at most {MAX_PLAN_CREDITS} credits a period", field="allowances"
            )
        if not 0 <= self.slots <= 100_000:
            raise ValidationError("slots must be within 0..100000", field="slots")
        for name in ("rate_limit_per_s", "rate_limit_burst"):
            value = getattr(self, name)
            if value is not None and not 1 <= value <= 1_000_000:
                raise ValidationError(f"{name} must be within 1..1000000", field=name)
        if self.overdraft.is_negative():
            raise ValidationError("overdraft must not be negative", field="overdraft")
        if self.overdraft > MAX_PLAN_CREDITS:
            raise AmountRangeError(
                f"overdraft is at most {MAX_PLAN_CREDITS} credits", field="overdraft"
            )
        for currency, price in self.prices.items():
            if not re.fullmatch(r"[A-Z]{3}", currency):
                raise ValidationError(f"bad currency code {currency!r}", field="prices")
            check_price(price)
        if self.display_currency is not None and self.display_currency not in self.prices:
            raise ValidationError(
                "display_currency must be one of the plan's prices", field="display_currency"
            )
        object.__setattr__(self, "alerts", tuple(self.alerts))
        check_rules(self.alerts, self.pools)

    @property
    def pools(self) -> tuple[str, ...]:
        return tuple(sorted(self.allowances))

    @property
    def is_unified(self) -> bool:
        return len(self.allowances) == 1

    def allowance(self, pool: str) -> Credits:
        return self.allowances.get(pool, Credits.zero())

    def currency(self) -> str | None:
        """The display currency: explicit, else the only or first (alphabetical) price."""
        if self.display_currency is not None:
            return self.display_currency
        return min(self.prices) if self.prices else None
