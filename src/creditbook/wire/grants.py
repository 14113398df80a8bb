"""Grants: giving an account credits."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StrictInt

from creditbook.domain.grants import GrantSource
from creditbook.domain.requests import GrantRequest
from creditbook.wire.common import Amount, Id, Instant, Out, Strict, Text, credits


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
    priority: Annotated[StrictInt, Field(ge=0, le=999_999)] | None = None
    effective_at: Instant | None = None
    expires_at: Instant | None = None
    description: Text = ""

    def to_request(self, account_id: str, *, idempotency_key: str | None = None) -> GrantRequest:
        return GrantRequest(
            account_id=account_id,
            amount=credits(self.amount, "amount"),
            source=GrantSource(self.source),
            pool=self.pool,
            priority=self.priority,
            effective_at=self.effective_at,
            expires_at=self.expires_at,
            description=self.description,
            idempotency_key=idempotency_key,
        )


class GrantOut(Out):
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
