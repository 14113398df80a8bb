"""One delivery attempt: the fan-out that queues deliveries, the signed request, and what
its outcome writes (the attempt, the next try or the end, the endpoint disabled)."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import Connection
from standardwebhooks import Webhook

from creditbook.domain.errors import WebhookUrlError
from creditbook.domain.webhooks import (
    ALL_EVENT_TYPES,
    MAX_ATTEMPTS,
    MAX_ERROR_CHARS,
    MAX_RESPONSE_CHARS,
    DeliveryStatus,
    EndpointStatus,
    retry_at,
)
from creditbook.engine.account.lines import new_id
from creditbook.engine.context import Context
from creditbook.engine.events.records import Event, encode
from creditbook.engine.payments import recharge
from creditbook.engine.webhooks.urls import check_url
from creditbook.store.queries import events as event_queries
from creditbook.store.queries import webhooks as queries
from creditbook.version import __version__

DISABLED_EVENT = "webhook_endpoint.disabled"
# Bytes of a receiver's answer read at most (the first MAX_RESPONSE_CHARS are kept).
MAX_RESPONSE_BYTES = 4 * MAX_RESPONSE_CHARS


def _matches(endpoint: Any, event: Any) -> bool:
    types = endpoint.event_types
    return (not endpoint.account_id or endpoint.account_id == event.account_id) and (
        ALL_EVENT_TYPES in types or event.type in types
    )


def fan_out(context: Context, limit: int) -> int:
    """Queue up to `limit` undelivered events, oldest first: one delivery per matching
    enabled endpoint, one recharge per crossed auto-recharge threshold (`recharge.queue`),
    and the events marked dispatched, in one transaction (a delivery
    queued already stays as it is). How many events it took."""
    # A read first: most rounds find nothing, and a write would wait for the write lock.
    if not context.run(lambda c: bool(event_queries.undispatched(c, 1)), read_only=True):
        return 0

    def transaction(connection: Connection) -> int:
        events = event_queries.undispatched(connection, limit)
        if not events:
            return 0
        endpoints = queries.enabled_endpoints(connection)
        now = context.now()
        rows = [
            {
                "account_id": event.account_id,
                "delivery_id": new_id("whd_"),
                "endpoint_id": endpoint.endpoint_id,
                "event_seq": event.seq,
                "event_id": event.event_id,
                "status": DeliveryStatus.PENDING.value,
                "attempts": 0,
                "next_attempt_at": now,
                "first_attempt_at": None,
                "created_at": now,
            }
            for event in events
            for endpoint in endpoints
            if _matches(endpoint, event)
        ]
        queries.insert_deliveries(connection, rows)
        recharge.queue(connection, events, now)
        queries.mark_events_dispatched(connection, [(e.account_id, e.seq) for e in events])
        return len(events)

    return context.run(transaction)


@dataclass(frozen=True, slots=True)
class Request:
    """A delivery ready to send: where, what, and the secrets that sign it."""

    delivery: Any
    url: str
    event_id: str
    body: bytes
    secrets: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt got: the status (None: no answer), time taken, the start of the
    answer, and the error ("" when the receiver answered)."""

    status_code: int | None
    duration_ms: int
    response: str
    error: str

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def prepare(context: Context, delivery: Any) -> Request | None:
    """The request of a pending delivery to an enabled endpoint (None: nothing to send)."""

    def read(connection: Connection) -> Request | None:
        current = queries.delivery(connection, delivery.delivery_id)
        endpoint = queries.endpoint(connection, delivery.endpoint_id)
        if current is None or current.status != DeliveryStatus.PENDING or endpoint is None:
            return None
        if endpoint.status != EndpointStatus.ENABLED:
            return None
        event = event_queries.event(connection, current.event_id)
        if event is None:
            return None
        signing = [endpoint.secret]
        expires_at = endpoint.previous_secret_expires_at
        if endpoint.previous_secret and expires_at is not None and expires_at > context.now():
            signing.append(endpoint.previous_secret)
        body = encode(Event.from_row(event).body())
        return Request(current, endpoint.url, event.event_id, body, tuple(signing))

    return context.run(read, read_only=True)


def headers(request: Request, sent_at: datetime) -> dict[str, str]:
    """The Standard Webhooks headers: one signature per secret, space-separated. The time
    is the wall clock's (receivers check it against theirs)."""
    signatures = " ".join(
        Webhook(secret).sign(request.event_id, sent_at, request.body) for secret in request.secrets
    )
    return {
        "webhook-id": request.event_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": signatures,
        "content-type": "application/json",
        "user-agent": f"creditbook/{__version__}",
    }


def send(http: httpx.Client, request: Request, *, allow_private: bool, timeout_s: float) -> Outcome:
    """POST the event once (no redirects followed: a redirect is an answer, not a 2xx)."""
    started = time.monotonic()
    try:
        check_url(request.url, allow_private=allow_private)
        sent_at = datetime.now(UTC).replace(microsecond=0)
        with http.stream(
            "POST",
            request.url,
            content=request.body,
            headers=headers(request, sent_at),
            timeout=timeout_s,
        ) as response:
            answer = _read_start(response)
        return Outcome(response.status_code, _elapsed_ms(started), answer, "")
    except WebhookUrlError as error:
        return Outcome(None, _elapsed_ms(started), "", f"url not allowed: {error.message}")
    except httpx.HTTPError as error:
        message = f"{type(error).__name__}: {error}".strip().rstrip(":")
        return Outcome(None, _elapsed_ms(started), "", message[:MAX_ERROR_CHARS])


def _read_start(response: httpx.Response) -> str:
    read = b""
    for chunk in response.iter_bytes():
        read += chunk
        if len(read) >= MAX_RESPONSE_BYTES:
            break
    return read[:MAX_RESPONSE_BYTES].decode(errors="replace")[:MAX_RESPONSE_CHARS]


def _elapsed_ms(started: float) -> int:
    return max(0, round((time.monotonic() - started) * 1000))


@dataclass(frozen=True, slots=True)
class Recorded:
    """What recording an outcome did: the delivery's status now, whether it disabled the
    endpoint, and the next delivery of the same queue when it is due now."""

    status: str
    disabled: bool
    next_due: Any


def record(context: Context, request: Request, outcome: Outcome, rng: random.Random) -> Recorded:
    """Write the attempt and what follows: succeeded, another try later, or failed (the
    schedule's last attempt disables the endpoint and records the event saying so)."""

    def transaction(connection: Connection) -> Recorded:
        current = queries.delivery(connection, request.delivery.delivery_id)
        if current is None or current.status != DeliveryStatus.PENDING:
            return Recorded("gone" if current is None else current.status, False, None)
        now = context.now()
        attempt = current.attempts + 1
        queries.insert_attempt(connection, _attempt_row(current, attempt, now, outcome))
        first = current.first_attempt_at or now
        values: dict[str, Any] = {"attempts": attempt, "first_attempt_at": first}
        next_at = None if outcome.succeeded else retry_at(attempt, now, first, rng)
        if outcome.succeeded:
            status = DeliveryStatus.SUCCEEDED
        else:
            status = DeliveryStatus.PENDING if next_at is not None else DeliveryStatus.FAILED
        values.update(status=status.value, next_attempt_at=next_at)
        queries.update_delivery(connection, current.account_id, current.delivery_id, values)
        disabled = status is DeliveryStatus.FAILED and attempt == MAX_ATTEMPTS
        if disabled:
            disabled = _disable(connection, current, outcome, now)
        return Recorded(status.value, disabled, _next_due(connection, current, now, status))

    return context.run(transaction)


def _attempt_row(delivery: Any, attempt: int, now: datetime, outcome: Outcome) -> dict[str, Any]:
    return {
        "account_id": delivery.account_id,
        "delivery_id": delivery.delivery_id,
        "attempt": attempt,
        "attempted_at": now,
        "status_code": outcome.status_code,
        "duration_ms": outcome.duration_ms,
        "response": outcome.response,
        "error": outcome.error,
    }


def _next_due(connection: Connection, delivery: Any, now: datetime, status: DeliveryStatus) -> Any:
    if status is not DeliveryStatus.SUCCEEDED:
        return None
    following = queries.head(connection, delivery.endpoint_id, delivery.account_id)
    if following is None or following.next_attempt_at > now:
        return None
    return following


def _disable(connection: Connection, delivery: Any, outcome: Outcome, now: datetime) -> bool:
    """Disable the delivery's endpoint (if enabled) and record the operator's event."""
    endpoint = queries.endpoint(connection, delivery.endpoint_id)
    if endpoint is None or endpoint.status != EndpointStatus.ENABLED:
        return False
    last = f"HTTP {outcome.status_code}" if outcome.status_code is not None else outcome.error
    reason = (
        f"{MAX_ATTEMPTS} attempts to deliver {delivery.event_id} failed over 3 days (last: {last})"
    )[:MAX_ERROR_CHARS]
    queries.update_endpoint(
        connection,
        endpoint.endpoint_id,
        {"status": EndpointStatus.DISABLED.value, "disabled_reason": reason, "updated_at": now},
    )
    event = {
        "account_id": "",
        "seq": event_queries.next_operator_seq(connection),
        "event_id": new_id("evt_"),
        "type": DISABLED_EVENT,
        "pool": "",
        "data": {"endpoint_id": endpoint.endpoint_id, "url": endpoint.url, "reason": reason},
        "transfer_id": "",
        "run_id": "",
        "created_at": now,
        "dispatched": False,
    }
    event_queries.insert_events(connection, [event])
    return True
