"""Accounts: opening, changing and reading them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AliasChoices, ConfigDict, Field

from creditbook.domain.requests import ChangePlanRequest, OpenAccountRequest, UpdateAccountRequest
from creditbook.wire.common import Flag, Id, Instant, Name, Out, Strict


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

    def to_request(self, *, idempotency_key: str | None = None) -> OpenAccountRequest:
        return OpenAccountRequest(
            plan_id=self.plan_id,
            account_id=self.account_id,
            name=self.name,
            timezone=self.timezone,
            billing_anchor_at=self.billing_anchor_at,
            metadata=self.metadata,
            idempotency_key=idempotency_key,
        )


class AccountPatch(Strict):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "Acme Inc.", "has_unpaid_bill": False}]}
    )

    name: Name | None = None
    plan_id: Id | None = None
    metadata: dict[str, Any] | None = None
    has_unpaid_bill: Flag | None = None

    def to_request(self, account_id: str) -> UpdateAccountRequest:
        """The account's own data; a new plan is `plan_request` (a separate ledger write)."""
        return UpdateAccountRequest(
            account_id=account_id,
            name=self.name,
            metadata=self.metadata,
            has_unpaid_bill=self.has_unpaid_bill,
        )

    def plan_request(self, account_id: str) -> ChangePlanRequest | None:
        """The move to `plan_id`, when the body names one (the caller skips it when the
        account is on that plan already)."""
        if self.plan_id is None:
            return None
        return ChangePlanRequest(account_id=account_id, plan_id=self.plan_id)


class AccountOut(Out):
    account_id: str
    name: str
    plan_id: str
    timezone: str
    # The engine calls it the anchor.
    billing_anchor_at: datetime = Field(
        validation_alias=AliasChoices("billing_anchor_at", "anchor_at")
    )
    created_at: datetime
    has_unpaid_bill: bool
    metadata: dict[str, Any]


class AccountList(Out):
    data: list[AccountOut]
    has_more: bool
    next_cursor: str | None
