"""The 200 bodies of the vendor-compatible endpoints, for the OpenAPI document only.

The routes in `routes_compat` build their bodies by hand and return them as
`ExactJSONResponse`, so FastAPI never serializes through these models: they describe the
bytes (same keys, order, nesting and JSON types as the vendor pages) without producing them.
`tests/api/test_compat_schemas.py` validates real responses against the published schemas.
Fields are named by their JSON keys (aliases where a key is camelCase or a keyword).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, RootModel, WithJsonSchema

from creditbook.api.schemas import Amount
from creditbook.domain.grants import CUSTOMER_VISIBLE_TYPES, TransactionType

# The three ways the pages print times and days.
SECONDS = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"  # lobstr: 2025-02-01T00:00:00Z
MILLIS = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"  # 2026-05-01T00:00:00.000Z
DAY = r"^\d{4}-\d{2}-\d{2}$"  # 2025-01-31

InstantSeconds = Annotated[str, Field(pattern=SECONDS, json_schema_extra={"format": "date-time"})]
InstantMillis = Annotated[str, Field(pattern=MILLIS, json_schema_extra={"format": "date-time"})]
DayText = Annotated[str, Field(pattern=DAY, json_schema_extra={"format": "date"})]
# Decimal results (percentages, ratios, prices) render as exact JSON numbers too.
Number = Annotated[Decimal, WithJsonSchema({"type": "number"})]
Slots = Annotated[int, Field(ge=0)]
# The types the history lists (holds and releases are left out), in the enum's order.
VISIBLE_TYPES: list[JsonValue] = [t.value for t in TransactionType if t in CUSTOMER_VISIBLE_TYPES]


class Shape(BaseModel):
    """A documented response shape: exactly these keys (additionalProperties false)."""

    model_config = ConfigDict(extra="forbid")


# -- lobstr ---------------------------------------------------------------------------------


class LobstrBalanceOut(Shape):
    """lobstr's plan balance (`GET /v1/user/balance`): credits of the current period,
    bonus and rollover, concurrency slots and the next reset."""

    id: str = Field(description="The plan's price id; the plan id when the plan has none.")
    object: Literal["plan"] = Field(description='Always "plan".')
    name: str = Field(description="The plan's display name; the plan id when it has none.")
    available: Amount = Field(
        description="Credits granted for the current period: the allowance plus remaining "
        "bonus credits (a day's allowance on daily plans)."
    )
    consumed: Amount = Field(description="Credits spent since the current period began.")
    bonus_credit: Amount = Field(description="Bonus credits still unspent.")
    rollover_credit: Amount = Field(
        description="Credits carried over from earlier periods and still unspent."
    )
    rollover_credit_expires_at: InstantSeconds | None = Field(
        description="When the carried-over credits lapse (UTC, to the second); null when "
        "there are none or they never lapse."
    )
    interval: Literal["monthly", "daily"] = Field(description="How often the allowance renews.")
    used_slots: Slots = Field(description="Concurrency slots taken by runs still running.")
    total_available_slots: Slots = Field(description="Concurrency slots the plan allows.")
    has_unpaid_bill: bool = Field(description="Whether an invoice is outstanding.")
    reset_time: InstantSeconds = Field(
        description="When the next period starts (UTC, to the second)."
    )


# -- LocalLeads -----------------------------------------------------------------------------


class LocalLeadsBalanceData(Shape):
    monthly_credits: Amount = Field(
        alias="monthlyCredits", description="The plan's allowance for the current period."
    )
    bonus_credits: Amount = Field(
        alias="bonusCredits",
        description="Credits beyond the period's allowance (bonus, rollover, top-ups), "
        "counted so that availableCredits = monthlyCredits + bonusCredits - usedCredits.",
    )
    used_credits: Amount = Field(
        alias="usedCredits",
        description="Credits spent this period plus credits reserved by open holds.",
    )
    available_credits: Amount = Field(
        alias="availableCredits",
        description="What can be spent now: monthlyCredits + bonusCredits - usedCredits.",
    )
    reset_day: int = Field(
        alias="resetDay",
        ge=1,
        le=31,
        description="Day of the month the current period began, in the account's time "
        "zone: the billing anniversary, or the month's last day when it is shorter.",
    )
    last_reset_at: InstantMillis = Field(
        alias="lastResetAt", description="When the current period began (UTC, milliseconds)."
    )


class LocalLeadsBalanceOut(Shape):
    """LocalLeads' balance (`GET /api/v1/credits/balance`)."""

    success: Literal[True] = Field(description="Always true on a 200.")
    data: LocalLeadsBalanceData = Field(description="The balance figures.")


class LocalLeadsTransaction(Shape):
    id: str = Field(description="The transaction id (`txn_…`).")
    type: str = Field(
        description="What moved the credits (holds and releases are not listed).",
        json_schema_extra={"enum": VISIBLE_TYPES},
    )
    amount: Amount = Field(description="Signed: negative when credits left the account.")
    description: str = Field(description="What the transaction was for; may be empty.")
    created_at: InstantMillis = Field(
        alias="createdAt", description="When it was recorded (UTC, milliseconds)."
    )


class LocalLeadsMeta(Shape):
    total: int = Field(ge=0, description="Transactions in the whole history.")
    limit: int = Field(ge=1, le=100, description="The page size used (the request's, at most 100).")
    offset: int = Field(ge=0, description="Transactions skipped before this page.")


class LocalLeadsTransactionsOut(Shape):
    """LocalLeads' credit history (`GET /api/v1/credits/transactions`), newest first."""

    success: Literal[True] = Field(description="Always true on a 200.")
    data: list[LocalLeadsTransaction] = Field(description="One page, newest first.")
    meta: LocalLeadsMeta = Field(description="Paging: total count, page size and offset.")


# -- Clodura --------------------------------------------------------------------------------


class CloduraSeparateOut(Shape):
    """Plans with separate `contact_views` and `direct_dials` pools."""

    contacts_view: Amount = Field(
        alias="contactsView", description="Contact-view credits spent this period."
    )
    max_contacts: str = Field(
        alias="maxContacts",
        pattern=r"^-?\d+(\.\d+)?$",
        description='The period\'s contact-view allowance, as a decimal string (`"1000"`).',
    )
    direct_dials: Amount = Field(
        alias="directDials", description="Direct-dial credits spent this period."
    )
    max_direct_dials: Amount = Field(
        alias="maxDirectDials", description="The period's direct-dial allowance."
    )


class CloduraUnifiedOut(Shape):
    """Every other plan: one figure for all its pools."""

    remaining_credits: Amount = Field(
        alias="remainingCredits", description="Credits that can be spent now, all pools summed."
    )


def _one_of(schema: dict[str, Any]) -> None:
    # The two shapes never both match (disjoint required keys, no others allowed).
    schema["oneOf"] = schema.pop("anyOf")


class CloduraCreditsOut(RootModel[CloduraSeparateOut | CloduraUnifiedOut]):
    """Clodura's credits (`GET /api/v1/credits`): separate contact-view and direct-dial
    counts when the plan has both pools, otherwise one remaining total."""

    model_config = ConfigDict(json_schema_extra=_one_of)


# -- catalogue stats ------------------------------------------------------------------------


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


# -- examples -------------------------------------------------------------------------------
# Attached to the media type, not the models: pydantic sorts the keys of model examples,
# and on these endpoints the key order is part of the contract. They are the pages' examples,
# except that FastAPI drops nulls from the document: where a page shows null, a value is shown.

LOBSTR_BALANCE_EXAMPLE: dict[str, Any] = {
    "id": "price_abc123",
    "object": "plan",
    "name": "Professional",
    "available": 10000,
    "consumed": 1550,
    "bonus_credit": 0,
    "rollover_credit": 200,
    "rollover_credit_expires_at": "2025-03-01T00:00:00Z",
    "interval": "monthly",
    "used_slots": 3,
    "total_available_slots": 20,
    "has_unpaid_bill": False,
    "reset_time": "2025-02-01T00:00:00Z",
}

LOCALLEADS_BALANCE_EXAMPLE: dict[str, Any] = {
    "success": True,
    "data": {
        "monthlyCredits": 100,
        "bonusCredits": 25,
        "usedCredits": 43,
        "availableCredits": 82,
        "resetDay": 1,
        "lastResetAt": "2026-05-01T00:00:00.000Z",
    },
}

LOCALLEADS_TRANSACTIONS_EXAMPLE: dict[str, Any] = {
    "success": True,
    "data": [
        {
            "id": "txn_abc123",
            "type": "DEDUCTION",
            "amount": -12,
            "description": "Lead search: Dentists in Austin, TX (97 results)",
            "createdAt": "2026-05-05T10:01:00.000Z",
        },
        {
            "id": "txn_def456",
            "type": "MONTHLY_RESET",
            "amount": 100,
            "description": "Monthly credit reset",
            "createdAt": "2026-05-01T00:00:00.000Z",
        },
    ],
    "meta": {"total": 28, "limit": 50, "offset": 0},
}

CLODURA_SEPARATE_EXAMPLE: dict[str, Any] = {
    "contactsView": 142,
    "maxContacts": "1000",
    "directDials": 38,
    "maxDirectDials": 200,
}
CLODURA_UNIFIED_EXAMPLE: dict[str, Any] = {"remainingCredits": 700}

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


def documented(description: str, **media: Any) -> dict[int | str, dict[str, Any]]:
    """A route's `responses` entry for its 200: a description and an `example` (or named
    `examples`) shown with the model given as `response_model`."""
    return {200: {"description": description, "content": {"application/json": media}}}
