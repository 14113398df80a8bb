"""Webhook endpoints and their deliveries. Operator key: an account key answers 403."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from creditbook.api.deps import Caller, IdempotencyKey, LedgerDep, PathId, hit_headers
from creditbook.api.errors import ERROR_RESPONSES
from creditbook.api.responses import ExactJSONResponse, page_of, respond
from creditbook.wire.webhooks import (
    DeliveryList,
    DeliveryOut,
    EndpointCreate,
    EndpointList,
    EndpointOut,
    EndpointPatch,
)

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES, tags=["webhooks"])
Limit = Annotated[int, Query(ge=1, le=100)]
Cursor = Annotated[
    str | None, Query(max_length=200, description="The `next_cursor` of the previous page.")
]


@router.post(
    "/webhook_endpoints",
    operation_id="create_webhook_endpoint",
    summary="Create a webhook endpoint",
    status_code=201,
    response_model=EndpointOut,
)
def create_webhook_endpoint(
    body: EndpointCreate, caller: Caller, ledger: LedgerDep, idempotency_key: IdempotencyKey = None
) -> ExactJSONResponse:
    """Send events to a URL: every type (`["*"]`, the default) or those listed, of one
    account or of all. The answer carries the signing `secret`, shown this once (and on a
    replay of the same `Idempotency-Key`). The URL must be https on a public address
    (`webhook_url_not_allowed` otherwise); an unknown type answers 422
    `unknown_event_type`. Operator key."""
    caller.require_operator()
    endpoint = ledger.create_webhook_endpoint(body.to_request(idempotency_key=idempotency_key))
    return respond(EndpointOut.model_validate(endpoint), 201, hit_headers(endpoint.replayed))


@router.get(
    "/webhook_endpoints",
    operation_id="list_webhook_endpoints",
    summary="List webhook endpoints",
    response_model=EndpointList,
)
def list_webhook_endpoints(
    caller: Caller, ledger: LedgerDep, limit: Limit = 50, cursor: Cursor = None
) -> ExactJSONResponse:
    """Endpoints oldest first, paged by cursor (without their secrets). Operator key."""
    caller.require_operator()
    return respond(page_of(ledger.webhook_endpoints(limit=limit, cursor=cursor), EndpointOut))


@router.get(
    "/webhook_endpoints/{endpoint_id}",
    operation_id="get_webhook_endpoint",
    summary="Get a webhook endpoint",
    response_model=EndpointOut,
)
def get_webhook_endpoint(
    endpoint_id: PathId, caller: Caller, ledger: LedgerDep
) -> ExactJSONResponse:
    """An endpoint, without its secret. Operator key."""
    caller.require_operator()
    return respond(EndpointOut.model_validate(ledger.get_webhook_endpoint(endpoint_id)))


@router.patch(
    "/webhook_endpoints/{endpoint_id}",
    operation_id="update_webhook_endpoint",
    summary="Update a webhook endpoint",
    response_model=EndpointOut,
)
def update_webhook_endpoint(
    endpoint_id: PathId, body: EndpointPatch, caller: Caller, ledger: LedgerDep
) -> ExactJSONResponse:
    """Change the URL, types, account or description; `status` `enabled` re-enables an
    endpoint disabled after its retries ran out (`disabled` stops deliveries). Operator
    key."""
    caller.require_operator()
    endpoint = ledger.update_webhook_endpoint(body.to_request(endpoint_id))
    return respond(EndpointOut.model_validate(endpoint))


@router.delete(
    "/webhook_endpoints/{endpoint_id}",
    operation_id="delete_webhook_endpoint",
    summary="Delete a webhook endpoint",
    response_model=EndpointOut,
)
def delete_webhook_endpoint(
    endpoint_id: PathId, caller: Caller, ledger: LedgerDep
) -> ExactJSONResponse:
    """Delete an endpoint with its deliveries; answers the endpoint as it was. Operator
    key."""
    caller.require_operator()
    return respond(EndpointOut.model_validate(ledger.delete_webhook_endpoint(endpoint_id)))


@router.post(
    "/webhook_endpoints/{endpoint_id}/rotate_secret",
    operation_id="rotate_webhook_secret",
    summary="Rotate a webhook endpoint's secret",
    response_model=EndpointOut,
)
def rotate_webhook_secret(
    endpoint_id: PathId, caller: Caller, ledger: LedgerDep, idempotency_key: IdempotencyKey = None
) -> ExactJSONResponse:
    """A new signing secret, in this answer. For 24 hours every delivery is signed with
    both the new and the previous secret, so receivers can switch without losing an event.
    Operator key."""
    caller.require_operator()
    endpoint = ledger.rotate_webhook_secret(endpoint_id, idempotency_key=idempotency_key)
    return respond(EndpointOut.model_validate(endpoint), 200, hit_headers(endpoint.replayed))


@router.get(
    "/webhook_endpoints/{endpoint_id}/deliveries",
    operation_id="list_webhook_deliveries",
    summary="List an endpoint's deliveries",
    response_model=DeliveryList,
)
def list_webhook_deliveries(
    endpoint_id: PathId, caller: Caller, ledger: LedgerDep, limit: Limit = 50, cursor: Cursor = None
) -> ExactJSONResponse:
    """Deliveries newest first, each with its attempts (status, time, the start of the
    receiver's answer, the error). Operator key."""
    caller.require_operator()
    page = ledger.webhook_deliveries(endpoint_id, limit=limit, cursor=cursor)
    return respond(page_of(page, DeliveryOut))


@router.post(
    "/webhook_deliveries/{delivery_id}/retry",
    operation_id="retry_webhook_delivery",
    summary="Retry a webhook delivery now",
    response_model=DeliveryOut,
)
def retry_webhook_delivery(
    delivery_id: PathId, caller: Caller, ledger: LedgerDep, idempotency_key: IdempotencyKey = None
) -> ExactJSONResponse:
    """Queue a pending or failed delivery for an attempt now (after the deliveries before
    it in the endpoint's queue for that account; not before the endpoint is enabled). A
    delivery that succeeded answers 409 `invalid_state`. Operator key."""
    caller.require_operator()
    delivery = ledger.retry_webhook_delivery(delivery_id, idempotency_key=idempotency_key)
    return respond(DeliveryOut.model_validate(delivery), 200, hit_headers(delivery.replayed))
