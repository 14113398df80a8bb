"""Balance alerts: the rules an account or a plan sets, and an account's alerts as answered."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from creditbook.domain.alerts import AlertRule
from creditbook.wire.common import Amount, Id, Out, Percent, Strict, credits


class AlertRuleBody(Strict):
    """A threshold on one pool: `credits`, or `percent` of the period's allowance."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"pool": "credits", "credits": 10}]})

    pool: Id = "credits"
    credits: Amount | None = None
    percent: Percent | None = None

    def to_rule(self) -> AlertRule:
        amount = None if self.credits is None else credits(self.credits, "alerts.credits")
        return AlertRule(self.pool, credits=amount, percent=self.percent)


class AlertRuleOut(AlertRuleBody):
    model_config = ConfigDict(extra="ignore", json_schema_extra=None, from_attributes=True)


class AlertsBody(Strict):
    """An account's own alert rules; null: the plan's default alerts."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "rules": [
                        {"pool": "credits", "credits": 10},
                        {"pool": "credits", "percent": 20},
                    ]
                }
            ]
        }
    )

    rules: list[AlertRuleBody] | None = Field(..., max_length=50)


class PoolAlertsOut(Out):
    """One pool now: its available credits, the thresholds it is below, whether depleted."""

    model_config = ConfigDict(from_attributes=True)

    pool: str
    available: Amount
    low: list[Amount]
    depleted: bool


class AlertsOut(Out):
    """The rules in force (the account's own, or its plan's defaults) and each pool's state."""

    model_config = ConfigDict(from_attributes=True)

    account_id: str
    source: Literal["account", "plan"]
    rules: list[AlertRuleOut]
    pools: list[PoolAlertsOut]
