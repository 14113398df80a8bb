"""Request and response bodies of the native API (snake_case, exact numbers)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
    model_validator,
)

from creditbook.domain.amounts import AmountError, Credits
from creditbook.domain.errors import ValidationError
from creditbook.domain.periods import SUPPORTED_YEARS, is_supported_day, is_supported_instant
from creditbook.domain.plans import Plan, RolloverPolicy
from creditbook.domain.rates import Colors, FilterRate, FunctionRate, RateCard
from creditbook.domain.requests import ChargeRequest
from creditbook.engine import results
from creditbook.engine.keys import ApiKey, IssuedKey

# Text the databases can store: PostgreSQL refuses NUL in text and JSON, so the API does too.
STORABLE_TEXT = r"^[^\x00]*$"


# Instants and days a caller may give: the domain's supported years (the dashboard's too).
def instant_in_range(value: datetime) -> datetime:
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if not is_supported_instant(aware):
        raise ValueError(f"must be in {SUPPORTED_YEARS}")
    return value


def day_in_range(value: date) -> date:
    if not is_supported_day(value):
        raise ValueError(f"must be in {SUPPORTED_YEARS}")
    return value


Instant = Annotated[datetime, AfterValidator(instant_in_range)]
Day = Annotated[date, AfterValidator(day_in_range)]
# Credits in JSON: an exact number (`116`, `0.5`); requests may also send a decimal string.
Amount = Annotated[Decimal, WithJsonSchema({"type": "number", "examples": [116]})]
Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.:-]{0,63}$")]
OptionalId = Annotated[str, Field(max_length=64, pattern=r"^([a-z0-9][a-z0-9_.:-]{0,63})?$")]
Text = Annotated[str, Field(max_length=500)]
Name = Annotated[str, Field(max_length=200)]
Count = Annotated[int, Field(ge=0, le=1_000_000_000)]
# Other exact decimals render as JSON numbers too (ExactJSONResponse), so say so.
Percent = Annotated[
    Decimal, Field(ge=0, le=100), WithJsonSchema({"type": "number", "minimum": 0, "maximum": 100})
]
Price = Annotated[Decimal, Field(ge=0), WithJsonSchema({"type": "number", "minimum": 0})]


def credits(value: Decimal, field: str) -> Credits:
    try:
        return Credits.of(value)
    except AmountError as error:
        raise ValidationError(f"{field}: {error}", field=field) from None


def amount(value: Credits) -> Decimal:
    return value.to_decimal()


def check_storable(value: Any) -> None:
    """Refuse strings (keys too, at any depth) with NUL or lone surrogates."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("text must not contain NUL (U+0000)")
        try:
            value.encode()
        except UnicodeEncodeError:
            raise ValueError("text must be valid Unicode (no lone surrogates)") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            check_storable(key)
            check_storable(item)
    elif isinstance(value, list):
        for item in value:
            check_storable(item)


class Strict(BaseModel):
    """Request bodies: unknown fields and unstorable text are refused (422).

    Response models never forbid unknown fields: a newer server may add one, and the SDK
    (which parses responses with these models) must keep working. An output model that
    extends a request body says `extra="ignore"` (see `PlanOut`).
    """

    # Responses always carry every field, defaults included: document them as required.
    model_config = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        check_storable(data)
        return data


# -- plans and rate cards ------------------------------------------------------------------


class RolloverBody(Strict):
    cap: Amount | None = None
    cap_percent: Percent | None = None
    expires_after_periods: Annotated[int, Field(ge=1, le=120)] | None = Field(
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
    allowances: dict[str, Amount] = Field(
        default_factory=lambda: {"credits": Decimal(0)}, max_length=16
    )
    rollover: RolloverBody | None = None
    slots: Annotated[int, Field(ge=0, le=100_000)] = 1
    prices: dict[str, Price] = Field(default_factory=dict, max_length=16)
    display_currency: str | None = None
    overdraft: Amount = Field(Decimal(0), json_schema_extra={"default": 0})
    price_id: Name = ""
    rate_limit_per_s: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    rate_limit_burst: Annotated[int, Field(ge=1, le=1_000_000)] | None = None

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
        )


class RolloverOut(RolloverBody):
    model_config = ConfigDict(extra="ignore")


class PlanOut(PlanBody):
    model_config = ConfigDict(extra="ignore", json_schema_extra=None)

    plan_id: str
    rollover: RolloverOut | None = None

    @classmethod
    def of(cls, plan: Plan) -> PlanOut:
        rollover = None
        if plan.rollover is not None:
            rollover = RolloverOut(
                cap=None if plan.rollover.cap is None else amount(plan.rollover.cap),
                cap_percent=plan.rollover.cap_percent,
                expires_after_periods=plan.rollover.expires_after_periods,
            )
        return cls(
            plan_id=plan.plan_id,
            name=plan.name,
            interval=plan.interval.value,
            allowances={pool: amount(v) for pool, v in plan.allowances.items()},
            rollover=rollover,
            slots=plan.slots,
            prices=dict(plan.prices),
            display_currency=plan.display_currency,
            overdraft=amount(plan.overdraft),
            price_id=plan.price_id,
            rate_limit_per_s=plan.rate_limit_per_s,
            rate_limit_burst=plan.rate_limit_burst,
        )


class ColorsBody(Strict):
    bg_color: str = "#EEF2F7"
    txt_color: str = "#62748A"


class FunctionBody(Strict):
    credits_per_success: Amount
    pool: Id = "credits"
    colors: ColorsBody = Field(default_factory=ColorsBody)


class FilterBody(Strict):
    display: Name
    credits_per_row: Amount


class RateCardBody(Strict):
    """A product's price list: base per kept row, enrichments per success, paid filters."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "credits_per_row": 4,
                    "base_label": "Export Listings",
                    "functions": {"get_phone_numbers": {"credits_per_success": 6}},
                    "filters": {"no_phone": {"display": "Without phone", "credits_per_row": 1}},
                }
            ]
        }
    )

    credits_per_row: Amount
    base_label: Name | None = None
    base_colors: ColorsBody = Field(default_factory=ColorsBody)
    pool: Id = "credits"
    # Mappings (read-only) so that `RateCardOut` may narrow them to its output models.
    functions: Mapping[str, FunctionBody] = Field(default_factory=dict, max_length=64)
    filters: Mapping[str, FilterBody] = Field(default_factory=dict, max_length=64)
    module: OptionalId = ""
    service: OptionalId = ""

    def to_card(self, rate_card_id: str) -> RateCard:
        return RateCard(
            rate_card_id=rate_card_id,
            credits_per_row=credits(self.credits_per_row, "credits_per_row"),
            base_label=self.base_label,
            base_colors=Colors(**self.base_colors.model_dump()),
            pool=self.pool,
            functions={
                name: FunctionRate(
                    name,
                    credits(f.credits_per_success, "credits_per_success"),
                    pool=f.pool,
                    colors=Colors(**f.colors.model_dump()),
                )
                for name, f in self.functions.items()
            },
            filters={
                name: FilterRate(name, f.display, credits(f.credits_per_row, "credits_per_row"))
                for name, f in self.filters.items()
            },
            module=self.module,
            service=self.service,
        )


class ColorsOut(ColorsBody):
    model_config = ConfigDict(extra="ignore")


class FunctionOut(FunctionBody):
    model_config = ConfigDict(extra="ignore")

    colors: ColorsOut = Field(default_factory=ColorsOut)


class FilterOut(FilterBody):
    model_config = ConfigDict(extra="ignore")


class RateCardOut(RateCardBody):
    model_config = ConfigDict(extra="ignore", json_schema_extra=None)

    rate_card_id: str
    base_colors: ColorsOut = Field(default_factory=ColorsOut)
    functions: Mapping[str, FunctionOut] = Field(default_factory=dict, max_length=64)
    filters: Mapping[str, FilterOut] = Field(default_factory=dict, max_length=64)

    @classmethod
    def of(cls, card: RateCard) -> RateCardOut:
        def colors(value: Colors) -> ColorsOut:
            return ColorsOut(bg_color=value.bg_color, txt_color=value.txt_color)

        return cls(
            rate_card_id=card.rate_card_id,
            credits_per_row=amount(card.credits_per_row),
            base_label=card.base_label,
            base_colors=colors(card.base_colors),
            pool=card.pool,
            functions={
                name: FunctionOut(
                    credits_per_success=amount(f.credits_per_success),
                    pool=f.pool,
                    colors=colors(f.colors),
                )
                for name, f in card.functions.items()
            },
            filters={
                name: FilterOut(display=f.display, credits_per_row=amount(f.credits_per_row))
                for name, f in card.filters.items()
            },
            module=card.module,
            service=card.service,
        )


class ListOf(BaseModel):
    data: list[Any]


class PlanList(BaseModel):
    data: list[PlanOut]


class RateCardList(BaseModel):
    data: list[RateCardOut]


# -- accounts and keys ----------------------------------------------------------------------


class AccountCreate(Strict):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"plan_id": "pro", "account_id": "acme", "name": "Acme", "timezone": "Europe/Paris"}
            ]
        }
    )

    plan_id: Id
    account_id: Id | None = None
    name: Name = ""
    timezone: Annotated[str, Field(max_length=64)] = "UTC"
    billing_anchor_at: Instant | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class AccountPatch(Strict):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "Acme Inc.", "has_unpaid_bill": False}]}
    )

    name: Name | None = None
    plan_id: Id | None = None
    metadata: dict[str, Any] | None = None
    has_unpaid_bill: bool | None = None


class AccountOut(BaseModel):
    account_id: str
    name: str
    plan_id: str
    timezone: str
    billing_anchor_at: datetime
    created_at: datetime
    has_unpaid_bill: bool
    metadata: dict[str, Any]

    @classmethod
    def of(cls, account: results.Account) -> AccountOut:
        return cls(
            account_id=account.account_id,
            name=account.name,
            plan_id=account.plan_id,
            timezone=account.timezone,
            billing_anchor_at=account.anchor_at,
            created_at=account.created_at,
            has_unpaid_bill=account.has_unpaid_bill,
            metadata=account.metadata,
        )


class AccountList(BaseModel):
    data: list[AccountOut]
    has_more: bool
    next_cursor: str | None


class KeyCreate(Strict):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"scope": "write", "user_id": "u1", "name": "backend"}]}
    )

    scope: Literal["read", "write"] = "read"
    user_id: OptionalId = ""
    name: Name = ""


class KeyOut(BaseModel):
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    key_id: str
    account_id: str | None
    scope: str
    user_id: str
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None
    secret: str | None = Field(None, description="The key itself, shown once at creation.")

    @classmethod
    def of(cls, key: ApiKey, secret: str | None = None) -> KeyOut:
        return cls(
            key_id=key.key_id,
            account_id=key.account_id,
            scope=key.scope.value,
            user_id=key.user_id,
            name=key.name,
            prefix=key.prefix,
            created_at=key.created_at,
            revoked_at=key.revoked_at,
            secret=secret,
        )

    @classmethod
    def issued(cls, issued: IssuedKey) -> KeyOut:
        return cls.of(issued.key, issued.secret)


# -- grants, charges, refunds ---------------------------------------------------------------


class GrantCreate(Strict):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"amount": 50, "source": "top_up", "description": "Top-up"},
                {"amount": 10, "source": "bonus", "expires_at": "2026-01-01T00:00:00Z"},
            ]
        }
    )

    amount: Amount
    source: Literal["bonus", "top_up", "adjustment"] = "bonus"
    pool: Id | None = None
    priority: Annotated[int, Field(ge=0, le=999_999)] | None = None
    effective_at: Instant | None = None
    expires_at: Instant | None = None
    description: Text = ""


class GrantOut(BaseModel):
    grant_id: str
    account_id: str
    pool: str
    source: str
    priority: int
    amount: Amount
    remaining: Amount
    effective_at: datetime
    expires_at: datetime | None
    transaction_id: str

    @classmethod
    def of(cls, grant: results.Grant) -> GrantOut:
        return cls(
            grant_id=grant.grant_id,
            account_id=grant.account_id,
            pool=grant.pool,
            source=grant.source.value,
            priority=grant.priority,
            amount=amount(grant.amount),
            remaining=amount(grant.remaining),
            effective_at=grant.effective_at,
            expires_at=grant.expires_at,
            transaction_id=grant.transaction_id,
        )


class ChargeCreate(Strict):
    """Raw `amount`, or `rate_card_id` + `function` × `quantity`."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"rate_card_id": "maps", "function": "get_phone_numbers", "quantity": 3},
                {"amount": 2.5, "description": "API call"},
            ]
        }
    )

    amount: Amount | None = None
    rate_card_id: Id | None = None
    function: Id | None = None
    quantity: Count = 0
    pool: Id | None = None
    partial: bool = False
    module: OptionalId = ""
    service: OptionalId = ""
    user_id: OptionalId = ""
    resource_id: OptionalId = ""
    resource_name: Name | None = None
    run_id: OptionalId = ""
    description: Text = ""

    def to_request(
        self, account_id: str, *, user_id: str | None = None, idempotency_key: str | None = None
    ) -> ChargeRequest:
        """The engine's charge of this body; `user_id` stands in when the body names none
        (the API passes the calling key's user)."""
        return ChargeRequest(
            account_id=account_id,
            amount=None if self.amount is None else credits(self.amount, "amount"),
            rate_card_id=self.rate_card_id,
            function=self.function,
            quantity=self.quantity,
            pool=self.pool,
            partial=self.partial,
            module=self.module,
            service=self.service,
            user_id=self.user_id or user_id or "",
            resource_id=self.resource_id,
            resource_name=self.resource_name,
            run_id=self.run_id,
            description=self.description,
            idempotency_key=idempotency_key,
        )


class BatchItem(ChargeCreate):
    model_config = ConfigDict(json_schema_extra={"examples": [{"account_id": "acme", "amount": 1}]})

    account_id: Id
    idempotency_key: Annotated[str, Field(max_length=255)] | None = None


class BatchCreate(Strict):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {"account_id": "acme", "amount": 1},
                        {
                            "account_id": "acme",
                            "rate_card_id": "maps",
                            "function": "get_phone_numbers",
                            "quantity": 2,
                        },
                    ]
                }
            ]
        }
    )

    items: list[BatchItem] = Field(min_length=1, max_length=1000)


class ChargeOut(BaseModel):
    charge_id: str
    account_id: str
    pool: str
    requested: Amount
    amount: Amount
    function: str
    quantity: int
    module: str
    service: str
    user_id: str
    resource_id: str
    run_id: str
    description: str
    created_at: datetime

    @classmethod
    def of(cls, charge: results.Charge) -> ChargeOut:
        return cls(
            charge_id=charge.charge_id,
            account_id=charge.account_id,
            pool=charge.pool,
            requested=amount(charge.requested),
            amount=amount(charge.amount),
            function=charge.function,
            quantity=charge.quantity,
            module=charge.module,
            service=charge.service,
            user_id=charge.user_id,
            resource_id=charge.resource_id,
            run_id=charge.run_id,
            description=charge.description,
            created_at=charge.created_at,
        )


class ErrorOut(BaseModel):
    """Every native error: a message for people and a stable snake_case code."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"detail": "account not found: acme", "code": "not_found"}]}
    )

    detail: str
    code: str


class DetailOut(BaseModel):
    """The lobstr error shape (run credits): a message only."""

    detail: str


class BatchResultOut(BaseModel):
    index: int
    ok: bool
    charge: ChargeOut | None
    error: ErrorOut | None


class BatchOut(BaseModel):
    data: list[BatchResultOut]


class RefundCreate(Strict):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"amount": 1, "description": "Goodwill"}]}
    )

    amount: Amount | None = None
    description: Text = ""


class RefundOut(BaseModel):
    refund_id: str
    charge_id: str
    account_id: str
    amount: Amount
    returned: Amount
    created_at: datetime

    @classmethod
    def of(cls, refund: results.Refund) -> RefundOut:
        return cls(
            refund_id=refund.refund_id,
            charge_id=refund.charge_id,
            account_id=refund.account_id,
            amount=amount(refund.amount),
            returned=amount(refund.returned),
            created_at=refund.created_at,
        )


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
    functions: dict[str, Count] = Field(default_factory=dict, max_length=64)
    success_rates_percent: dict[str, Annotated[int, Field(ge=0, le=100)]] = Field(
        default_factory=dict, max_length=64
    )
    active_filters: list[Id] = Field(default_factory=list, max_length=64)


class EstimateLineOut(BaseModel):
    kind: str
    name: str
    pool: str
    quantity: int
    attempts: int
    credits: Amount


class EstimateOut(BaseModel):
    total: Amount
    total_by_pool: dict[str, Amount]
    affordable: bool
    affordable_by_pool: dict[str, bool]
    lines: list[EstimateLineOut]


# -- runs -----------------------------------------------------------------------------------


class RunCreate(Strict):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"account_id": "acme", "rate_card_id": "maps", "slots": 1, "hold": 40}]
        }
    )

    account_id: Id | None = Field(None, description="Required with an operator key.")
    rate_card_id: Id
    slots: Annotated[int, Field(ge=1, le=1000)] = 1
    hold: Amount | None = None
    hold_timeout_s: Annotated[int, Field(ge=1, le=604_800)] = 3600
    active_filters: list[Id] = Field(default_factory=list, max_length=64)
    user_id: OptionalId = ""
    resource_id: OptionalId = ""
    resource_name: Name | None = None


class FunctionResults(Strict):
    attempts: Count
    successes: Count


class ResultsCreate(Strict):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "rows_kept": 10,
                    "functions": {"get_phone_numbers": {"attempts": 10, "successes": 4}},
                }
            ]
        }
    )

    rows_kept: Count
    rows_discarded: dict[str, Count] = Field(default_factory=dict, max_length=64)
    functions: dict[str, FunctionResults] = Field(default_factory=dict, max_length=64)


class RunOut(BaseModel):
    run_id: str
    account_id: str
    rate_card_id: str
    status: str
    slots: int
    hold_id: str | None
    active_filters: list[str]
    user_id: str
    resource_id: str
    rows_kept: int
    rows_discarded: dict[str, int]
    credits: Amount
    started_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, run: results.Run) -> RunOut:
        return cls(
            run_id=run.run_id,
            account_id=run.account_id,
            rate_card_id=run.rate_card_id,
            status=run.status,
            slots=run.slots,
            hold_id=run.hold_id or None,
            active_filters=list(run.active_filters),
            user_id=run.user_id,
            resource_id=run.resource_id,
            rows_kept=run.rows_kept,
            rows_discarded=run.rows_discarded,
            credits=amount(run.charged),
            started_at=run.started_at,
            finished_at=run.finished_at,
        )


class RunList(BaseModel):
    # Defaults: a server from before runs were paged answers `data` alone; this one always
    # sends all three (documented as required).
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    data: list[RunOut]
    has_more: bool = False
    next_cursor: str | None = None


class BreakdownItem(BaseModel):
    function: str = Field(description="`base` for the rows themselves, else the function's name.")
    credits: Amount = Field(
        description="Base: kept rows × credits per row; a function: successes × its rate."
    )
    attempts: int = Field(description="Rows the step was tried on.")


class FilterItem(BaseModel):
    name: str = Field(description="The paid filter's id on the rate card.")
    display: str = Field(description="Its display name.")
    rate: Amount = Field(description="Credits per kept row.")
    credits: Amount = Field(description="rate × kept rows.")


class ColorPair(BaseModel):
    bg_color: str = Field(description="Background colour (CSS hex).")
    txt_color: str = Field(description="Text colour (CSS hex).")


class RunCreditsOut(BaseModel):
    """The lobstr run-credits shape: where a run's credits went."""

    run_id: str = Field(description="The run's id.")
    total_credits: Amount = Field(description="All of `breakdown` plus all of `filter_breakdown`.")
    total_results: int = Field(description="Rows kept (rows dropped by filters are not billed).")
    breakdown: list[BreakdownItem] = Field(
        description="The base step and each function that ran, most credits first."
    )
    rates: dict[str, Amount] = Field(
        description="`credits_per_row` (the base rate), then each function's credits per success."
    )
    function_colors: dict[str, ColorPair] = Field(
        description="Display colours per step, keyed by the base label (or `base`) and the "
        "functions' names."
    )
    base_function_label: str | None = Field(
        description="The rate card's display name for the base step; null when it has none."
    )
    filter_breakdown: list[FilterItem] = Field(
        description="One entry per active paid filter; empty when there are none."
    )

    @classmethod
    def of(cls, b: results.RunBreakdown) -> RunCreditsOut:
        return cls(
            run_id=b.run_id,
            total_credits=amount(b.total_credits),
            total_results=b.total_results,
            breakdown=[
                BreakdownItem(function=i.function, credits=amount(i.credits), attempts=i.attempts)
                for i in b.breakdown
            ],
            rates={name: amount(rate) for name, rate in b.rates.items()},
            function_colors={name: ColorPair(**c) for name, c in b.function_colors.items()},
            base_function_label=b.base_function_label,
            filter_breakdown=[
                FilterItem(
                    name=f.name, display=f.display, rate=amount(f.rate), credits=amount(f.credits)
                )
                for f in b.filter_breakdown
            ],
        )


# -- reports --------------------------------------------------------------------------------


class PoolOut(BaseModel):
    pool: str
    available: Amount
    held: Amount
    allowance: Amount
    consumed: Amount
    by_source: dict[str, Amount]
    rollover_expires_at: datetime | None
    overdraft_limit: Amount


class BalanceOut(BaseModel):
    account_id: str
    at: datetime
    plan_id: str
    plan_name: str
    interval: str
    period_start_at: datetime
    period_end_at: datetime
    pools: dict[str, PoolOut]
    used_slots: int
    total_slots: int
    has_unpaid_bill: bool

    @classmethod
    def of(cls, b: results.Balance) -> BalanceOut:
        return cls(
            account_id=b.account_id,
            at=b.at,
            plan_id=b.plan_id,
            plan_name=b.plan_name,
            interval=b.interval.value,
            period_start_at=b.period_start_at,
            period_end_at=b.period_end_at,
            pools={
                name: PoolOut(
                    pool=p.pool,
                    available=amount(p.available),
                    held=amount(p.held),
                    allowance=amount(p.allowance),
                    consumed=amount(p.consumed),
                    by_source={k: amount(v) for k, v in p.by_source.items()},
                    rollover_expires_at=p.rollover_expires_at,
                    overdraft_limit=amount(p.overdraft_limit),
                )
                for name, p in b.pools.items()
            },
            used_slots=b.used_slots,
            total_slots=b.total_slots,
            has_unpaid_bill=b.has_unpaid_bill,
        )


class TransactionOut(BaseModel):
    transaction_id: str
    type: str
    pool: str
    amount: Amount
    description: str
    created_at: datetime
    function: str
    run_id: str
    user_id: str
    linked_transaction_id: str | None

    @classmethod
    def of(cls, t: results.Transaction) -> TransactionOut:
        return cls(
            transaction_id=t.transaction_id,
            type=t.type.value,
            pool=t.pool,
            amount=amount(t.amount),
            description=t.description,
            created_at=t.created_at,
            function=t.function,
            run_id=t.run_id,
            user_id=t.user_id,
            linked_transaction_id=t.linked_transaction_id,
        )


class TransactionList(BaseModel):
    data: list[TransactionOut]
    has_more: bool
    next_cursor: str | None
    total: int | None = Field(
        None, description="How many transactions match, on the first page; null after a cursor."
    )


class TotalOut(BaseModel):
    key: str
    credits: Amount
    units: int


class DayOut(BaseModel):
    date: date
    credits: Amount
    by_module: dict[str, Amount]
    by_user: dict[str, Amount]


class ResourceOut(BaseModel):
    resource_id: str
    name: str
    module: str
    credits: Amount
    units: int


class BucketOut(BaseModel):
    start: date
    credits: Amount


class RunTotalOut(BaseModel):
    run_id: str
    rate_card_id: str
    status: str
    rows_kept: int
    credits: Amount
    started_at: datetime


class ForecastOut(BaseModel):
    window_days: int
    daily_burn: Amount
    runs_out_on: date | None
    before_reset: bool


class StatsPlanOut(BaseModel):
    """The plan behind the stats: credits and price per period, the next reset."""

    plan_id: str
    interval: str
    credits_per_period: Amount
    period_end_at: datetime
    currency: str | None
    fee: Decimal | None
    cost_per_credit: Decimal | None
    prices: dict[str, Decimal]

    @classmethod
    def of(cls, plan: results.StatsPlan) -> StatsPlanOut:
        return cls(
            plan_id=plan.plan_id,
            interval=plan.interval.value,
            credits_per_period=amount(plan.credits_per_period),
            period_end_at=plan.period_end_at,
            currency=plan.currency,
            fee=plan.fee,
            cost_per_credit=plan.cost_per_credit,
            prices=plan.prices,
        )


class StatsOut(BaseModel):
    account_id: str
    start: date
    end: date
    total: Amount
    previous_total: Amount
    change_percent: Amount | None
    daily: list[DayOut]
    by_module: list[TotalOut]
    by_service: list[TotalOut]
    by_user: list[TotalOut]
    by_function: list[TotalOut]
    by_pool: list[TotalOut]
    by_resource: list[ResourceOut]
    group_by: str
    buckets: list[BucketOut]
    by_run: list[RunTotalOut]
    forecast: list[ForecastOut]
    plan: StatsPlanOut | None = None

    @classmethod
    def of(cls, s: results.Stats, group_by: str = "day") -> StatsOut:
        def totals(items: list[results.Total]) -> list[TotalOut]:
            return [TotalOut(key=i.key, credits=amount(i.amount), units=i.units) for i in items]

        return cls(
            account_id=s.account_id,
            start=s.start,
            end=s.end,
            total=amount(s.total),
            previous_total=amount(s.previous_total),
            change_percent=s.change_percent,
            daily=[
                DayOut(
                    date=d.date,
                    credits=amount(d.amount),
                    by_module={k: amount(v) for k, v in d.by_module.items()},
                    by_user={k: amount(v) for k, v in d.by_user.items()},
                )
                for d in s.daily
            ],
            group_by=group_by,
            buckets=[BucketOut(start=b.start, credits=amount(b.amount)) for b in s.buckets],
            by_run=[
                RunTotalOut(
                    run_id=r.run_id,
                    rate_card_id=r.rate_card_id,
                    status=r.status,
                    rows_kept=r.rows_kept,
                    credits=amount(r.amount),
                    started_at=r.started_at,
                )
                for r in s.by_run
            ],
            forecast=[
                ForecastOut(
                    window_days=f.window_days,
                    daily_burn=f.daily_burn,
                    runs_out_on=f.runs_out_on,
                    before_reset=f.before_reset,
                )
                for f in s.forecast
            ],
            by_module=totals(s.by_module),
            by_service=totals(s.by_service),
            by_user=totals(s.by_user),
            by_function=totals(s.by_function),
            by_pool=totals(s.by_pool),
            by_resource=[
                ResourceOut(
                    resource_id=r.resource_id,
                    name=r.name,
                    module=r.module,
                    credits=amount(r.amount),
                    units=r.units,
                )
                for r in s.by_resource
            ],
            plan=StatsPlanOut.of(s.plan) if s.plan is not None else None,
        )


class VerifyOut(BaseModel):
    ok: bool
    differences: list[str]
    accounts: int
    transfers: int
    entries: int

    @classmethod
    def of(cls, report: results.VerifyReport) -> VerifyOut:
        return cls(
            ok=report.ok,
            differences=list(report.differences),
            accounts=report.accounts,
            transfers=report.transfers,
            entries=report.entries,
        )


class HealthOut(BaseModel):
    status: str
    database: str
