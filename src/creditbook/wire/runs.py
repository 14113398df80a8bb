"""Runs: starting one, reporting its results, and where its credits went."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AliasChoices, ConfigDict, Field, StrictInt, field_validator

from creditbook.domain.requests import RunResultsRequest, StartRunRequest
from creditbook.wire.common import Amount, Count, Id, Name, OptionalId, Out, Strict, credits


class RunCreate(Strict):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"account_id": "acme", "rate_card_id": "maps", "slots": 1, "hold": 40}]
        }
    )

    account_id: Id | None = Field(None, description="Required with an operator key.")
    rate_card_id: Id
    slots: Annotated[StrictInt, Field(ge=1, le=1000)] = 1
    hold: Amount | None = None
    hold_timeout_s: Annotated[StrictInt, Field(ge=1, le=604_800)] = 3600
    active_filters: list[Id] = Field(default_factory=list, max_length=64)
    user_id: OptionalId = ""
    resource_id: OptionalId = ""
    resource_name: Name | None = None

    def to_request(
        self, account_id: str, *, user_id: str = "", idempotency_key: str | None = None
    ) -> StartRunRequest:
        """The run of this body on `account_id` (the body's, or the calling key's own).
        `user_id` is the calling key's user (the API passes it): when set it wins over the
        body's, so a key bound to a user can never attribute its runs to another."""
        return StartRunRequest(
            account_id=account_id,
            rate_card_id=self.rate_card_id,
            slots=self.slots,
            hold=None if self.hold is None else credits(self.hold, "hold"),
            hold_timeout_s=self.hold_timeout_s,
            active_filters=tuple(self.active_filters),
            user_id=user_id or self.user_id,
            resource_id=self.resource_id,
            resource_name=self.resource_name,
            idempotency_key=idempotency_key,
        )


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
    rows_discarded: dict[Id, Count] = Field(default_factory=dict, max_length=64)
    functions: dict[Id, FunctionResults] = Field(default_factory=dict, max_length=64)

    def to_request(
        self, account_id: str, run_id: str, *, idempotency_key: str | None = None
    ) -> RunResultsRequest:
        return RunResultsRequest(
            account_id=account_id,
            run_id=run_id,
            rows_kept=self.rows_kept,
            rows_discarded=self.rows_discarded,
            functions={name: (f.attempts, f.successes) for name, f in self.functions.items()},
            idempotency_key=idempotency_key,
        )


class RunOut(Out):
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
    # The engine says `charged`, and "" for a run without a hold.
    credits: Amount = Field(validation_alias=AliasChoices("credits", "charged"))
    started_at: datetime
    finished_at: datetime | None

    @field_validator("hold_id", mode="before")
    @classmethod
    def _no_hold(cls, value: Any) -> Any:
        return value or None


class RunList(Out):
    # Defaults: a server from before runs were paged answers `data` alone; this one always
    # sends all three (documented as required).
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    data: list[RunOut]
    has_more: bool = False
    next_cursor: str | None = None


class BreakdownItem(Out):
    function: str = Field(description="`base` for the rows themselves, else the function's name.")
    credits: Amount = Field(
        description="Base: kept rows × credits per row; a function: successes × its rate."
    )
    attempts: int = Field(description="Rows the step was tried on.")


class FilterItem(Out):
    name: str = Field(description="The paid filter's id on the rate card.")
    display: str = Field(description="Its display name.")
    rate: Amount = Field(description="Credits per kept row.")
    credits: Amount = Field(description="rate × kept rows.")


class ColorPair(Out):
    bg_color: str = Field(description="Background colour (CSS hex).")
    txt_color: str = Field(description="Text colour (CSS hex).")


class RunCreditsOut(Out):
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
