"""Estimates: a job's quote before it runs."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Field, StrictInt

from creditbook.domain.requests import EstimateRequest
from creditbook.wire.common import Amount, Count, Id, Out, SpentCredits, Strict


class EstimateCreate(Strict):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "rate_card_id": "maps",
                    "rows": 100,
                    "success_rates_percent": {"get_phone_numbers": 40},
                }
            ]
        }
    )

    rate_card_id: Id
    rows: Count
    functions: dict[Id, Count] = Field(default_factory=dict, max_length=64)
    success_rates_percent: dict[Id, Annotated[StrictInt, Field(ge=0, le=100)]] = Field(
        default_factory=dict, max_length=64
    )
    active_filters: list[Id] = Field(default_factory=list, max_length=64)

    def to_request(self, account_id: str) -> EstimateRequest:
        """Empty mappings mean "none given" (the ledger's defaults apply)."""
        return EstimateRequest(
            account_id=account_id,
            rate_card_id=self.rate_card_id,
            rows=self.rows,
            functions=self.functions or None,
            success_rates_percent=self.success_rates_percent or None,
            active_filters=tuple(self.active_filters),
        )


class EstimateLineOut(Out):
    kind: str
    name: str
    pool: str
    quantity: int
    attempts: int
    credits: SpentCredits


class EstimateOut(Out):
    total: Amount
    total_by_pool: dict[str, Amount]
    affordable: bool
    affordable_by_pool: dict[str, bool]
    lines: list[EstimateLineOut]

    @classmethod
    def of(cls, quote: Any, affordable: dict[str, bool]) -> EstimateOut:
        """A quote and, per pool, whether the account can afford it now."""
        return cls.model_validate(
            {
                "total": quote.total,
                "total_by_pool": quote.total_by_pool,
                "affordable": all(affordable.values()),
                "affordable_by_pool": affordable,
                "lines": quote.lines,
            }
        )
