"""Webhook endpoints: creating, reading, changing, deleting them, rotating their secret;
an endpoint's deliveries, and retrying one now. Operator-wide writes: their idempotency
keys live in the operator's scope, as opening an account's do."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import Connection

from creditbook.domain.errors import (
    NotFoundError,
    StateError,
    UnknownEventTypeError,
    ValidationError,
)
from creditbook.domain.plans import check_identifier
from creditbook.domain.requests import OPERATOR_SCOPE
from creditbook.domain.webhooks import (
    ALL_EVENT_TYPES,
    MAX_EVENT_TYPES,
    PREVIOUS_SECRET_LIFETIME,
    CreateEndpointRequest,
    DeliveryStatus,
    EndpointStatus,
    UpdateEndpointRequest,
)
from creditbook.engine import idempotency
from creditbook.engine.account.lines import new_id
from creditbook.engine.context import Context
from creditbook.engine.events.records import EVENT_TYPES
from creditbook.engine.reports.paging import (
    MAX_PAGE_SIZE,
    check_limit,
    decode_instant_cursor,
    encode_instant_cursor,
)
from creditbook.engine.validation import check_key, check_text
from creditbook.engine.webhooks.results import (
    DeliveryAttempt,
    DeliveryPage,
    EndpointPage,
    WebhookDelivery,
    WebhookEndpoint,
)
from creditbook.engine.webhooks.urls import check_url
from creditbook.store.queries import accounts as account_queries
from creditbook.store.queries import webhooks as queries

T = TypeVar("T")
SECRET_BYTES = 32
SECRET_PREFIX = "whsec_"
OPERATOR_DISABLED = "disabled by the operator"


def new_secret() -> str:
    """A signing secret as the Standard Webhooks spec writes one: `whsec_` and base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def check_event_types(event_types: Sequence[str]) -> tuple[str, ...]:
    """Known types, each once, in the given order; `["*"]` (alone) for every type."""
    if isinstance(event_types, str) or not 1 <= len(event_types) <= MAX_EVENT_TYPES:
        raise ValidationError(
            f"event_types must list 1..{MAX_EVENT_TYPES} event types", field="event_types"
        )
    chosen: list[str] = []
    for event_type in event_types:
        if event_type != ALL_EVENT_TYPES and event_type not in EVENT_TYPES:
            raise UnknownEventTypeError(str(event_type))
        if event_type not in chosen:
            chosen.append(event_type)
    if ALL_EVENT_TYPES in chosen and len(chosen) > 1:
        raise ValidationError('"*" stands for every type: give it alone', field="event_types")
    return tuple(chosen)


def _check_account(connection: Connection, account_id: str) -> None:
    if account_id and not account_queries.exists(connection, account_id):
        raise NotFoundError("account", account_id)


def _operator_write(
    context: Context,
    operation: str,
    fields: Mapping[str, Any],
    key: str | None,
    kind: Any,
    body: Callable[[Connection], T],
) -> T:
    """Run `body` in one transaction, once per idempotency key (the operator's scope)."""
    check_key(key)
    request_hash = "" if key is None else idempotency.hash_request(operation, fields)

    def transaction(connection: Connection) -> T:
        if key is not None:
            replayed: T | None = idempotency.replay(
                connection, OPERATOR_SCOPE, key, request_hash, kind
            )
            if replayed is not None:
                return replayed
        result = body(connection)
        if key is not None:
            idempotency.remember(
                context, connection, OPERATOR_SCOPE, key, operation, request_hash, result
            )
        return result

    return context.run(transaction)


def create_endpoint(
    context: Context, request: CreateEndpointRequest, *, allow_private: bool
) -> WebhookEndpoint:
    """Register an endpoint, enabled; its secret is in this answer (and a replay's)."""
    event_types = check_event_types(request.event_types)
    account_id = request.account_id or ""
    if account_id:
        check_identifier("account_id", account_id)
    description = check_text("description", request.description)
    url = check_url(request.url, allow_private=allow_private)
    fields = {
        "url": url,
        "event_types": list(event_types),
        "account_id": account_id,
        "description": description,
    }

    def body(connection: Connection) -> WebhookEndpoint:
        _check_account(connection, account_id)
        now = context.now()
        secret = new_secret()
        row = {
            **fields,
            "endpoint_id": new_id("we_"),
            "secret": secret,
            "previous_secret": None,
            "previous_secret_expires_at": None,
            "status": EndpointStatus.ENABLED.value,
            "disabled_reason": "",
            "created_at": now,
            "updated_at": now,
        }
        queries.insert_endpoint(connection, row)
        return WebhookEndpoint.from_row(_Row(row), secret=secret)

    key = request.idempotency_key
    return _operator_write(context, "create_webhook_endpoint", fields, key, WebhookEndpoint, body)


class _Row:
    """A row as a mapping, read by attribute like the database's rows."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.__dict__.update(values)


def endpoint_row(connection: Connection, endpoint_id: str) -> Any:
    row = queries.endpoint(connection, endpoint_id)
    if row is None:
        raise NotFoundError("webhook endpoint", endpoint_id)
    return row


def get_endpoint(context: Context, endpoint_id: str) -> WebhookEndpoint:
    def read(connection: Connection) -> WebhookEndpoint:
        return WebhookEndpoint.from_row(endpoint_row(connection, endpoint_id))

    return context.run(read, read_only=True)


def list_endpoints(context: Context, limit: int, cursor: str | None) -> EndpointPage:
    """Endpoints oldest first, paged by a keyset cursor."""
    check_limit("limit", limit, MAX_PAGE_SIZE)
    after = decode_instant_cursor(cursor, "webhook_endpoint") if cursor else None

    def read(connection: Connection) -> EndpointPage:
        rows = queries.endpoint_page(connection, after, limit + 1)
        data = [WebhookEndpoint.from_row(row) for row in rows[:limit]]
        has_more = len(rows) > limit
        last = data[-1] if has_more else None
        next_cursor = (
            None
            if last is None
            else encode_instant_cursor("webhook_endpoint", last.created_at, last.endpoint_id)
        )
        return EndpointPage(data, has_more, next_cursor)

    return context.run(read, read_only=True)


def update_endpoint(
    context: Context, request: UpdateEndpointRequest, *, allow_private: bool
) -> WebhookEndpoint:
    """Change what the request gives; re-enabling clears the reason it was disabled."""
    values: dict[str, Any] = {}
    if request.url is not None:
        values["url"] = check_url(request.url, allow_private=allow_private)
    if request.event_types is not None:
        values["event_types"] = list(check_event_types(request.event_types))
    if request.description is not None:
        values["description"] = check_text("description", request.description)
    if request.account_id is not None:
        if request.account_id:
            check_identifier("account_id", request.account_id)
        values["account_id"] = request.account_id
    if request.status is not None:
        try:
            status = EndpointStatus(request.status)
        except ValueError:
            raise ValidationError("status must be enabled or disabled", field="status") from None
        values["status"] = status.value
        values["disabled_reason"] = "" if status is EndpointStatus.ENABLED else OPERATOR_DISABLED

    def transaction(connection: Connection) -> WebhookEndpoint:
        current = endpoint_row(connection, request.endpoint_id)
        _check_account(connection, values.get("account_id", ""))
        if values.get("status") == current.status:
            values.pop("status")
            values.pop("disabled_reason")  # a disabled endpoint keeps its first reason
        if values:
            values["updated_at"] = context.now()
            queries.update_endpoint(connection, request.endpoint_id, values)
        return WebhookEndpoint.from_row(endpoint_row(connection, request.endpoint_id))

    return context.run(transaction)


def delete_endpoint(context: Context, endpoint_id: str) -> WebhookEndpoint:
    """Delete an endpoint with its deliveries; the answer is the endpoint as it was."""

    def transaction(connection: Connection) -> WebhookEndpoint:
        endpoint = WebhookEndpoint.from_row(endpoint_row(connection, endpoint_id))
        queries.delete_endpoint(connection, endpoint_id)
        return endpoint

    return context.run(transaction)


def rotate_secret(context: Context, endpoint_id: str, key: str | None) -> WebhookEndpoint:
    """A new secret; the current one keeps signing beside it for 24 hours."""

    def body(connection: Connection) -> WebhookEndpoint:
        current = endpoint_row(connection, endpoint_id)
        now = context.now()
        secret = new_secret()
        queries.update_endpoint(
            connection,
            endpoint_id,
            {
                "secret": secret,
                "previous_secret": current.secret,
                "previous_secret_expires_at": now + PREVIOUS_SECRET_LIFETIME,
                "updated_at": now,
            },
        )
        return WebhookEndpoint.from_row(endpoint_row(connection, endpoint_id), secret=secret)

    fields = {"endpoint_id": endpoint_id}
    return _operator_write(context, "rotate_webhook_secret", fields, key, WebhookEndpoint, body)


def deliveries(context: Context, endpoint_id: str, limit: int, cursor: str | None) -> DeliveryPage:
    """An endpoint's deliveries, newest first, each with its attempts."""
    check_limit("limit", limit, MAX_PAGE_SIZE)
    before = decode_instant_cursor(cursor, "webhook_delivery") if cursor else None

    def read(connection: Connection) -> DeliveryPage:
        endpoint_row(connection, endpoint_id)
        rows = queries.delivery_page(connection, endpoint_id, before, limit + 1)[: limit + 1]
        data = with_attempts(connection, rows[:limit])
        has_more = len(rows) > limit
        last = data[-1] if has_more else None
        next_cursor = (
            None
            if last is None
            else encode_instant_cursor("webhook_delivery", last.created_at, last.delivery_id)
        )
        return DeliveryPage(data, has_more, next_cursor)

    return context.run(read, read_only=True)


def with_attempts(connection: Connection, rows: Sequence[Any]) -> list[WebhookDelivery]:
    """Deliveries with their attempts, read in one query."""
    keys = [(row.account_id, row.delivery_id) for row in rows]
    attempts: dict[tuple[str, str], list[DeliveryAttempt]] = {key: [] for key in keys}
    for found in queries.attempts_of(connection, keys):
        attempts[(found.account_id, found.delivery_id)].append(
            DeliveryAttempt(
                found.attempt,
                found.attempted_at,
                found.status_code,
                found.duration_ms,
                found.response,
                found.error,
            )
        )
    return [
        WebhookDelivery.from_row(row, attempts[(row.account_id, row.delivery_id)]) for row in rows
    ]


def retry_delivery(context: Context, delivery_id: str, key: str | None) -> WebhookDelivery:
    """Queue a pending or failed delivery for an attempt now (after the ones before it in
    its endpoint's queue for the account). A succeeded one is refused."""

    def body(connection: Connection) -> WebhookDelivery:
        row = queries.delivery(connection, delivery_id)
        if row is None:
            raise NotFoundError("webhook delivery", delivery_id)
        if row.status == DeliveryStatus.SUCCEEDED:
            raise StateError(f"delivery {delivery_id} has succeeded already")
        values = {"status": DeliveryStatus.PENDING.value, "next_attempt_at": context.now()}
        queries.update_delivery(connection, row.account_id, delivery_id, values)
        (retried,) = with_attempts(connection, [queries.delivery(connection, delivery_id)])
        return retried

    fields = {"delivery_id": delivery_id}
    return _operator_write(context, "retry_webhook_delivery", fields, key, WebhookDelivery, body)
