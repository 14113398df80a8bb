"""What the webhook operations answer: endpoints, deliveries with their attempts, pages."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class WebhookEndpoint:
    """An endpoint.

    Attributes:
        endpoint_id: `we_…`.
        url, description: as given.
        event_types: the types sent, or ("*",) for all.
        account_id: the one account whose events go there; None for every account's
            (and the operator's own events).
        status: `enabled` or `disabled`; `disabled_reason` says why ("" when enabled).
        secret: the signing secret (`whsec_…`), only when it is created or rotated.
        previous_secret_expires_at: until when the secret before the last rotation still
            signs beside the current one (None: no rotation in progress).
        replayed: answered from an idempotency key.
    """

    endpoint_id: str
    url: str
    description: str
    event_types: tuple[str, ...]
    account_id: str | None
    status: str
    disabled_reason: str
    created_at: datetime
    updated_at: datetime
    previous_secret_expires_at: datetime | None = None
    secret: str | None = None
    replayed: bool = False

    @classmethod
    def from_row(cls, row: Any, *, secret: str | None = None) -> WebhookEndpoint:
        return cls(
            row.endpoint_id,
            row.url,
            row.description,
            tuple(row.event_types),
            row.account_id or None,
            row.status,
            row.disabled_reason,
            row.created_at,
            row.updated_at,
            row.previous_secret_expires_at,
            secret,
        )


@dataclass(frozen=True, slots=True)
class EndpointPage:
    data: list[WebhookEndpoint]
    has_more: bool
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    """One try: when, the receiver's status (None: no answer), how long, the start of its
    answer and what went wrong ("" when it succeeded)."""

    attempt: int
    attempted_at: datetime
    status_code: int | None
    duration_ms: int
    response: str
    error: str


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """One event's delivery to one endpoint.

    Attributes:
        status: `pending` (with `next_attempt_at`), `succeeded` or `failed`.
        account_id: the event's account (None for the operator's own events).
        event_sequence: the event's number within its account.
    """

    delivery_id: str
    endpoint_id: str
    event_id: str
    account_id: str | None
    event_sequence: int
    status: str
    attempts: int
    next_attempt_at: datetime | None
    first_attempt_at: datetime | None
    created_at: datetime
    attempt_log: list[DeliveryAttempt] = field(default_factory=list)
    replayed: bool = False

    @classmethod
    def from_row(cls, row: Any, attempts: list[DeliveryAttempt]) -> WebhookDelivery:
        return cls(
            row.delivery_id,
            row.endpoint_id,
            row.event_id,
            row.account_id or None,
            row.event_seq,
            row.status,
            row.attempts,
            row.next_attempt_at,
            row.first_attempt_at,
            row.created_at,
            attempts,
        )


@dataclass(frozen=True, slots=True)
class DeliveryPage:
    data: list[WebhookDelivery]
    has_more: bool
    next_cursor: str | None
