"""Charges, batches of charges and refunds."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import ConfigDict, Field

from creditbook.domain.requests import (
    OPERATOR_SCOPE,
    ChargeBatchRequest,
    ChargeRequest,
    RefundRequest,
)
from creditbook.wire.common import (
    Amount,
    Count,
    ErrorOut,
    Flag,
    Id,
    Name,
    OptionalId,
    Out,
    Strict,
    Text,
    credits,
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
    partial: Flag = False
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
        """The engine's charge of this body. `user_id` is the calling key's user (the API
        passes it): when set it wins over the body's, so a key bound to a user can never
        attribute its charges to another."""
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
            user_id=user_id or self.user_id or "",
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

    def to_request(
        self,
        *,
        user_id: str | None = None,
        idempotency_key: str | None = None,
        scope: str = OPERATOR_SCOPE,
    ) -> ChargeBatchRequest:
        """The batch as the ledger takes it: items without a key of their own get
        `<idempotency_key>:<index>`; `scope` is the calling account key's account."""
        charges = []
        for index, item in enumerate(self.items):
            key = item.idempotency_key
            if key is None and idempotency_key is not None:
                key = f"{idempotency_key}:{index}"
            charges.append(item.to_request(item.account_id, user_id=user_id, idempotency_key=key))
        return ChargeBatchRequest(charges=charges, idempotency_key=idempotency_key, scope=scope)


class ChargeOut(Out):
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


class BatchResultOut(Out):
    index: int
    ok: bool
    charge: ChargeOut | None
    error: ErrorOut | None

    @classmethod
    def of(cls, item: Any) -> BatchResultOut:
        """An item's charge, or its refusal as an error body."""
        error = None
        if not item.ok:
            error = {"detail": item.error_message or "", "code": item.error_code or "error"}
        return cls.model_validate(
            {"index": item.index, "ok": item.ok, "charge": item.charge, "error": error}
        )


class BatchOut(Out):
    data: list[BatchResultOut]


class RefundCreate(Strict):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"amount": 1, "description": "Goodwill"}]}
    )

    amount: Amount | None = None
    description: Text = ""

    def to_request(
        self, account_id: str, charge_id: str, *, idempotency_key: str | None = None
    ) -> RefundRequest:
        """The refund of `charge_id`, a charge of `account_id`; no amount: all of it."""
        return RefundRequest(
            account_id=account_id,
            charge_id=charge_id,
            amount=None if self.amount is None else credits(self.amount, "amount"),
            description=self.description,
            idempotency_key=idempotency_key,
        )


class RefundOut(Out):
    refund_id: str
    charge_id: str
    account_id: str
    amount: Amount
    returned: Amount
    created_at: datetime
