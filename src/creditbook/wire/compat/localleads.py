"""LocalLeads' balance and credit history."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, JsonValue

from creditbook.domain.grants import CUSTOMER_VISIBLE_TYPES, TransactionType
from creditbook.wire.common import Amount
from creditbook.wire.compat.common import InstantMillis, Shape

# The types the history lists (holds and releases are left out), in the enum's order.
VISIBLE_TYPES: list[JsonValue] = [t.value for t in TransactionType if t in CUSTOMER_VISIBLE_TYPES]


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


# Examples are attached to the media type, not the models: pydantic sorts the keys of model
# examples, and on these endpoints the key order is part of the contract. They are the
# pages' examples, except that FastAPI drops nulls from the document: where a page shows
# null, a value is shown.
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
