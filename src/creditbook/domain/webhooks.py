"""Webhooks as values: what the operator asks of an endpoint, and the retry schedule.

An endpoint receives the events of one account (or of every account, and the operator's
own), of the types it lists (or all, `["*"]`), signed with its secret. Each event goes to
each endpoint as one delivery, tried until the endpoint answers 2xx or the schedule ends.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

ALL_EVENT_TYPES = "*"
MAX_URL_CHARS = 2048
MAX_EVENT_TYPES = 32
MAX_RESPONSE_CHARS = 500  # of a receiver's answer, kept with each attempt
MAX_ERROR_CHARS = 500
# The dispatcher: deliveries in flight at once, and how long one request may take.
DEFAULT_CONCURRENCY = 16
MAX_CONCURRENCY = 256
DEFAULT_TIMEOUT_S = 10.0
# How long a rotated-out secret keeps signing beside the new one.
PREVIOUS_SECRET_LIFETIME = timedelta(hours=24)

# After a failed attempt, the wait before the next one (the first attempt is made at once):
# 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, 10 h, 14 h, 20 h; 11 attempts over about 72 h.
RETRY_DELAYS_S = (5, 300, 1800, 7200, 18000, 36000, 36000, 36000, 50400, 72000)
MAX_ATTEMPTS = len(RETRY_DELAYS_S) + 1
# Each wait is drawn within ±10% of the schedule (so that failures spread out), and no
# attempt of the schedule comes later than this after the first.
RETRY_JITTER = 0.1
RETRY_WINDOW = timedelta(hours=72)


class EndpointStatus(enum.StrEnum):
    ENABLED = "enabled"
    DISABLED = "disabled"


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class CreateEndpointRequest:
    """Register a URL for events.

    Attributes:
        url: where to POST each event (https; see `engine/webhooks/urls.py`).
        event_types: the types to send, or `["*"]` for every type.
        account_id: only this account's events; None for every account's and the
            operator's own.
        description: for the operator.
        idempotency_key: a replay answers the endpoint first created (with its secret).
    """

    url: str
    event_types: Sequence[str] = (ALL_EVENT_TYPES,)
    account_id: str | None = None
    description: str = ""
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class UpdateEndpointRequest:
    """Change an endpoint; None leaves a field as it is. `status` "enabled" re-enables an
    endpoint the dispatcher disabled; `account_id` "" widens it to every account."""

    endpoint_id: str
    url: str | None = None
    event_types: Sequence[str] | None = None
    account_id: str | None = None
    description: str | None = None
    status: EndpointStatus | str | None = None


def retry_at(
    attempts: int, failed_at: datetime, first_attempt_at: datetime, rng: random.Random
) -> datetime | None:
    """When to try again after attempt number `attempts` failed at `failed_at`; None when
    that was the schedule's last attempt."""
    if attempts >= MAX_ATTEMPTS:
        return None
    delay_s = RETRY_DELAYS_S[attempts - 1] * (1 + rng.uniform(-RETRY_JITTER, RETRY_JITTER))
    return min(failed_at + timedelta(seconds=delay_s), first_attempt_at + RETRY_WINDOW)
