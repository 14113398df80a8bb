"""Webhook endpoints and their deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from creditbook.domain.webhooks import (
    ALL_EVENT_TYPES,
    MAX_EVENT_TYPES,
    MAX_URL_CHARS,
    CreateEndpointRequest,
    UpdateEndpointRequest,
)
from creditbook.wire.common import Id, OptionalId, Out, Strict, Text

Url = Annotated[str, Field(min_length=1, max_length=MAX_URL_CHARS)]
EventType = Annotated[str, Field(min_length=1, max_length=64)]
EventTypes = Annotated[list[EventType], Field(min_length=1, max_length=MAX_EVENT_TYPES)]


class EndpointCreate(Strict):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "url": "https://example.com/creditbook/events",
                    "event_types": ["balance.low", "balance.depleted"],
                    "description": "alerts to the billing service",
                }
            ]
        }
    )

    url: Url
    event_types: EventTypes = Field(default_factory=lambda: [ALL_EVENT_TYPES])
    account_id: Id | None = None
    description: Text = ""

    def to_request(self, *, idempotency_key: str | None = None) -> CreateEndpointRequest:
        return CreateEndpointRequest(
            url=self.url,
            event_types=tuple(self.event_types),
            account_id=self.account_id,
            description=self.description,
            idempotency_key=idempotency_key,
        )


class EndpointPatch(Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "enabled"}]})

    url: Url | None = None
    event_types: EventTypes | None = None
    account_id: OptionalId | None = Field(
        None, description="One account's events only; \"\" for every account's."
    )
    description: Text | None = None
    status: Literal["enabled", "disabled"] | None = None

    def to_request(self, endpoint_id: str) -> UpdateEndpointRequest:
        return UpdateEndpointRequest(
            endpoint_id=endpoint_id,
            url=self.url,
            event_types=None if self.event_types is None else tuple(self.event_types),
            account_id=self.account_id,
            description=self.description,
            status=self.status,
        )


class EndpointOut(Out):
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    endpoint_id: str
    url: str
    description: str
    event_types: list[str]
    account_id: str | None = Field(description="null: every account's events.")
    status: str = Field(description="`enabled` or `disabled`.")
    disabled_reason: str
    created_at: datetime
    updated_at: datetime
    previous_secret_expires_at: datetime | None = Field(
        description="Until when the secret before the last rotation still signs too."
    )
    secret: str | None = Field(
        None, description="The signing secret (`whsec_…`), only when created or rotated."
    )


class EndpointList(Out):
    data: list[EndpointOut]
    has_more: bool
    next_cursor: str | None


class AttemptOut(Out):
    attempt: int
    attempted_at: datetime
    status_code: int | None = Field(description="null: no answer (timeout, connection error).")
    duration_ms: int
    response: str = Field(description="The start of the receiver's answer (500 characters).")
    error: str


class DeliveryOut(Out):
    delivery_id: str
    endpoint_id: str
    event_id: str
    account_id: str | None
    event_sequence: int
    status: str = Field(description="`pending`, `succeeded` or `failed`.")
    attempts: int
    next_attempt_at: datetime | None
    first_attempt_at: datetime | None
    created_at: datetime
    attempt_log: list[AttemptOut] = Field(description="Every attempt, oldest first.")


class DeliveryList(Out):
    data: list[DeliveryOut]
    has_more: bool
    next_cursor: str | None
