"""lobstr's plan balance."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from creditbook.wire.common import Amount
from creditbook.wire.compat.common import InstantSeconds, Shape, Slots


class LobstrBalanceOut(Shape):
    """lobstr's plan balance (`GET /v1/user/balance`): credits of the current period,
    bonus and rollover, concurrency slots and the next reset."""

    id: str = Field(description="The plan's price id; the plan id when the plan has none.")
    object: Literal["plan"] = Field(description='Always "plan".')
    name: str = Field(description="The plan's display name; the plan id when it has none.")
    available: Amount = Field(
        description="The credits of the current period including bonus: the plan's allowance "
        "for the period (a day's allowance on daily plans) plus `bonus_credit`. Not what is "
        "left to spend: it does not move when credits are spent."
    )
    consumed: Amount = Field(description="Credits spent since the current period began.")
    bonus_credit: Amount = Field(
        description="The period's credits beyond the plan (bonus credits, top-ups, "
        "adjustments): what is left of them plus what was drawn from them this period."
    )
    rollover_credit: Amount = Field(
        description="Unused allowance carried over from the previous period: what is left of "
        "it plus what was drawn from it this period (expired credits are gone from it)."
    )
    rollover_credit_expires_at: InstantSeconds | None = Field(
        description="When the carried-over credits lapse (UTC, to the second); null when "
        "there are none or they never lapse."
    )
    interval: Literal["monthly", "daily"] = Field(description="How often the allowance renews.")
    used_slots: Slots = Field(
        description="Concurrency slots held by runs that are running or paused."
    )
    total_available_slots: Slots = Field(description="Concurrency slots the plan allows.")
    has_unpaid_bill: bool = Field(description="Whether an invoice is outstanding.")
    reset_time: InstantSeconds = Field(
        description="When the next period starts (UTC, to the second)."
    )


# Examples are attached to the media type, not the models: pydantic sorts the keys of model
# examples, and on these endpoints the key order is part of the contract. They are the
# pages' examples, except that FastAPI drops nulls from the document: where a page shows
# null, a value is shown.
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
