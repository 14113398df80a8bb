"""Plans: the body that defines one, and what the API answers."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StrictInt

from creditbook.domain.plans import Plan, RolloverPolicy
from creditbook.wire.alerts import AlertRuleBody, AlertRuleOut
from creditbook.wire.common import (
    Amount,
    Currency,
    Id,
    Name,
    Out,
    Percent,
    Price,
    Strict,
    credits,
)


class RolloverBody(Strict):
    cap: Amount | None = None
    cap_percent: Percent | None = None
    expires_after_periods: Annotated[StrictInt, Field(ge=1, le=120)] | None = Field(
        1, description="Periods rolled-over credits stay valid; null: they never expire."
    )


class PlanBody(Strict):
    """A plan: allowance per pool per period, rollover, slots, prices, overdraft."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "Professional",
                    "allowances": {"credits": 100},
                    "rollover": {"cap_percent": 50},
                    "slots": 3,
                }
            ]
        }
    )

    name: Name = ""
    interval: Literal["monthly", "daily"] = "monthly"
    allowances: dict[Id, Amount] = Field(
        default_factory=lambda: {"credits": Decimal(0)}, max_length=16
    )
    rollover: RolloverBody | None = None
    slots: Annotated[StrictInt, Field(ge=0, le=100_000)] = 1
    prices: dict[Currency, Price] = Field(default_factory=dict, max_length=16)
    display_currency: str | None = None
    overdraft: Amount = Field(Decimal(0), json_schema_extra={"default": 0})
    price_id: Name = ""
    rate_limit_per_s: Annotated[StrictInt, Field(ge=1, le=1_000_000)] | None = None
    rate_limit_burst: Annotated[StrictInt, Field(ge=1, le=1_000_000)] | None = None
    alerts: Sequence[AlertRuleBody] = Field(
        default_factory=list,
        max_length=50,
        description="Balance alerts of accounts on the plan that set none of their own.",
    )

    def to_plan(self, plan_id: str) -> Plan:
        rollover = None
        if self.rollover is not None:
            rollover = RolloverPolicy(
                cap=None
                if self.rollover.cap is None
                else credits(self.rollover.cap, "rollover.cap"),
                cap_percent=self.rollover.cap_percent,
                expires_after_periods=self.rollover.expires_after_periods,
            )
        return Plan(
            plan_id=plan_id,
            name=self.name,
            interval=self.interval,  # type: ignore[arg-type]
            allowances={pool: credits(v, "allowances") for pool, v in self.allowances.items()},
            rollover=rollover,
            slots=self.slots,
            prices=dict(self.prices),
            display_currency=self.display_currency,
            overdraft=credits(self.overdraft, "overdraft"),
            price_id=self.price_id,
            rate_limit_per_s=self.rate_limit_per_s,
            rate_limit_burst=self.rate_limit_burst,
            alerts=tuple(rule.to_rule() for rule in self.alerts),
        )


class RolloverOut(RolloverBody):
    model_config = ConfigDict(extra="ignore", from_attributes=True)


class PlanOut(PlanBody):
    model_config = ConfigDict(extra="ignore", json_schema_extra=None, from_attributes=True)

    plan_id: str
    rollover: RolloverOut | None = None
    alerts: Sequence[AlertRuleOut] = Field(default_factory=list)


class PlanList(Out):
    data: list[PlanOut]
