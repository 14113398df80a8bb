"""The catalogue's credit stats over a range of days."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from creditbook.wire.common import Amount
from creditbook.wire.compat.common import DayText, InstantMillis, Number, Shape


class StatsPeriod(Shape):
    from_: DayText = Field(alias="from", description="First day, as requested.")
    to: DayText = Field(description="Last day (inclusive), as requested.")


class StatsCostPerCredit(Shape):
    amount: Number | None = Field(
        description="Monthly fee ÷ monthly credits, to four decimals; null without a price "
        "or without credits."
    )
    currency: str | None = Field(description="The display currency; null without prices.")
    monthly_fee: Number | None = Field(description="The plan's fee in that currency.")
    monthly_credits: Amount = Field(description="The plan's allowance, all pools summed.")


class StatsSummary(Shape):
    total_spent: Amount = Field(description="Credits spent in the period.")
    previous_period_spent: Amount = Field(
        description="Credits spent in as many days just before `from`."
    )
    previous_period_change_pct: Number | None = Field(
        description="Change against the previous period in percent, one decimal; null when "
        "nothing was spent then."
    )
    monthly_allocation: Amount = Field(description="The plan's allowance, all pools summed.")
    period_end: InstantMillis = Field(
        description="When the current billing period ends (UTC, milliseconds)."
    )
    cost_per_credit: StatsCostPerCredit = Field(description="What one credit costs.")


class StatsDay(Shape):
    date: DayText = Field(description="The day, in the account's time zone.")
    total: Amount = Field(description="Credits spent that day.")
    by_module: dict[str, Amount] = Field(description="That day's spend per module key.")
    by_user: dict[str, Amount] = Field(description="That day's spend per user id.")


class StatsModuleTotal(Shape):
    module_key: str = Field(description="The module charges were tagged with.")
    total: Amount = Field(description="Credits spent in the period.")


class StatsServiceTotal(Shape):
    service_type: str = Field(description="The service charges were tagged with.")
    total: Amount = Field(description="Credits spent in the period.")


class StatsUserTotal(Shape):
    user_id: str = Field(description="The user charges were tagged with.")
    total: Amount = Field(description="Credits spent in the period.")


class StatsTable(Shape):
    table_id: str = Field(description="The resource (table) charges were tagged with.")
    name: str = Field(description="The resource's name; empty when none was given.")
    total: Amount = Field(description="Credits spent on it in the period.")
    products: int = Field(ge=0, description="Units (products) charged for on it.")


class StatsUnitModule(Shape):
    credits_spent: Amount = Field(description="Credits the module spent in the period.")
    products_enhanced: int = Field(ge=0, description="Units (products) it charged for.")
    credits_per_product: Number = Field(
        description="credits_spent ÷ products_enhanced, two decimals; 0 without products."
    )
    by_table: list[StatsTable] = Field(
        description="The module's spend per resource, largest first."
    )


class StatsCurrencyConfig(Shape):
    """`monthly_fee_<currency>` for each of the plan's prices (`monthly_fee_eur`), then these."""

    model_config = ConfigDict(
        json_schema_extra={"patternProperties": {"^monthly_fee_[a-z]{3}$": {"type": "number"}}}
    )

    monthly_credits: Amount = Field(description="The plan's allowance, all pools summed.")
    auto_eur: bool = Field(description="Always false: prices are not converted.")


class CatalogueStatsOut(Shape):
    """Catalogue credit stats (`GET /credits/stats`) for an inclusive range of days."""

    period: StatsPeriod = Field(description="The requested range.")
    summary: StatsSummary = Field(description="Totals, the previous period and the price.")
    daily: list[StatsDay] = Field(description="Each day with spend, oldest first.")
    by_module: list[StatsModuleTotal] = Field(description="Spend per module, largest first.")
    by_service: list[StatsServiceTotal] = Field(description="Spend per service, largest first.")
    by_user: list[StatsUserTotal] = Field(description="Spend per user, largest first.")
    lasso: StatsUnitModule = Field(
        description="The `lasso` module in detail: units (products) and spend per table."
    )
    currency_config: StatsCurrencyConfig = Field(
        description="The plan's prices: `monthly_fee_<currency>` (lowercase ISO code) per "
        "price, then `monthly_credits` and `auto_eur`."
    )


# Examples are attached to the media type, not the models: pydantic sorts the keys of model
# examples, and on these endpoints the key order is part of the contract. They are the
# pages' examples, except that FastAPI drops nulls from the document: where a page shows
# null, a value is shown.
CATALOGUE_STATS_EXAMPLE: dict[str, Any] = {
    "period": {"from": "2025-01-01", "to": "2025-03-31"},
    "summary": {
        "total_spent": 4200,
        "previous_period_spent": 3800,
        "previous_period_change_pct": 10.5,
        "monthly_allocation": 50000,
        "period_end": "2025-04-18T00:00:00.000Z",
        "cost_per_credit": {
            "amount": 0.02,
            "currency": "EUR",
            "monthly_fee": 1000,
            "monthly_credits": 50000,
        },
    },
    "daily": [
        {
            "date": "2025-01-01",
            "total": 120,
            "by_module": {"lasso": 120},
            "by_user": {"5f0e...": 120},
        }
    ],
    "by_module": [{"module_key": "lasso", "total": 3000}],
    "by_service": [{"service_type": "ai_field", "total": 1500}],
    "by_user": [{"user_id": "5f0e...", "total": 800}],
    "lasso": {
        "credits_spent": 3000,
        "products_enhanced": 450,
        "credits_per_product": 6.67,
        "by_table": [
            {"table_id": "9b81...", "name": "Summer catalog", "total": 800, "products": 120}
        ],
    },
    "currency_config": {
        "monthly_fee_czk": 25000,
        "monthly_fee_eur": 1000,
        "monthly_credits": 50000,
        "auto_eur": False,
    },
}
