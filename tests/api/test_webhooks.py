"""The webhook endpoints over HTTP, on both databases: each route's answers, its errors
(stable codes, nothing written), idempotency keys, and operator-only access."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.api.conftest import Api, bearer
from tests.conftest import START
from tests.webhook_events import add_events
from tests.webhook_receiver import Receiver, serve

ENDPOINTS = "/v1/webhook_endpoints"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from serve(Receiver(mode="fail"))


@pytest.fixture
def hooks(api: Api) -> Api:
    api.ledger.webhooks_allow_private = True
    return api


def refused(api: Api, method: str, path: str, status: int, code: str, **kwargs: Any) -> None:
    kwargs.setdefault("headers", api.operator)
    response = api.client.request(method, path, **kwargs)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code and body["detail"], body


def test_create_get_list_update_delete(hooks: Api, receiver: Receiver) -> None:
    api = hooks
    created = api.client.post(
        ENDPOINTS,
        json={"url": receiver.url, "event_types": ["balance.low"], "description": "alerts"},
        headers={**api.operator, "Idempotency-Key": "create-1"},
    )
    assert created.status_code == 201, created.text
    endpoint = created.json()
    assert endpoint["secret"].startswith("whsec_")
    assert endpoint["status"] == "enabled" and endpoint["account_id"] is None
    assert endpoint["endpoint_id"].startswith("we_")
    replay = api.client.post(
        ENDPOINTS,
        json={"url": receiver.url, "event_types": ["balance.low"], "description": "alerts"},
        headers={**api.operator, "Idempotency-Key": "create-1"},
    )
    assert replay.status_code == 201 and replay.headers["Idempotency-Hit"] == "true"
    assert replay.json() == endpoint
    refused(
        api,
        "POST",
        ENDPOINTS,
        409,
        "idempotency_key_conflict",
        json={"url": receiver.url},
        headers={**api.operator, "Idempotency-Key": "create-1"},
    )
    path = f"{ENDPOINTS}/{endpoint['endpoint_id']}"
    shown = api.ok("GET", path)
    assert shown["secret"] is None and shown["event_types"] == ["balance.low"]
    api.ok("POST", "/v1/accounts", json={"plan_id": "pro", "account_id": "acme"})
    patched = api.ok("PATCH", path, json={"account_id": "acme", "event_types": ["*"]})
    assert patched["account_id"] == "acme" and patched["event_types"] == ["*"]
    disabled = api.ok("PATCH", path, json={"status": "disabled"})
    assert disabled["status"] == "disabled" and disabled["disabled_reason"]
    enabled = api.ok("PATCH", path, json={"status": "enabled"})
    assert enabled["status"] == "enabled" and enabled["disabled_reason"] == ""
    second = api.ok("POST", ENDPOINTS, json={"url": receiver.url})
    first_page = api.ok("GET", ENDPOINTS, params={"limit": 1})
    assert first_page["has_more"] and len(first_page["data"]) == 1
    rest = api.ok("GET", ENDPOINTS, params={"limit": 1, "cursor": first_page["next_cursor"]})
    assert not rest["has_more"] and rest["next_cursor"] is None
    listed = {e["endpoint_id"] for e in [*first_page["data"], *rest["data"]]}
    assert listed == {endpoint["endpoint_id"], second["endpoint_id"]}
    assert api.ok("DELETE", path)["endpoint_id"] == endpoint["endpoint_id"]
    refused(api, "GET", path, 404, "not_found")
    refused(api, "DELETE", path, 404, "not_found")


def test_rotation_answers_the_new_secret(hooks: Api, receiver: Receiver) -> None:
    api = hooks
    endpoint = api.ok("POST", ENDPOINTS, json={"url": receiver.url})
    path = f"{ENDPOINTS}/{endpoint['endpoint_id']}/rotate_secret"
    headers = {**api.operator, "Idempotency-Key": "rotate-1"}
    rotated = api.client.post(path, headers=headers)
    assert rotated.status_code == 200, rotated.text
    again = api.client.post(path, headers=headers)
    assert again.headers["Idempotency-Hit"] == "true" and again.json() == rotated.json()
    body = rotated.json()
    assert body["secret"].startswith("whsec_") and body["secret"] != endpoint["secret"]
    assert body["previous_secret_expires_at"] == "2025-01-02T00:00:00Z"
    refused(api, "POST", f"{ENDPOINTS}/we_missing/rotate_secret", 404, "not_found")


def test_deliveries_with_attempts_and_retry(hooks: Api, receiver: Receiver) -> None:
    api = hooks
    endpoint = api.ok("POST", ENDPOINTS, json={"url": receiver.url})
    add_events(api.ledger.engine, "acme", 3, START)
    dispatcher = api.ledger.webhook_dispatcher(timeout_s=2)
    try:
        assert dispatcher.drain(timeout_s=30)
    finally:
        dispatcher.stop()
    path = f"{ENDPOINTS}/{endpoint['endpoint_id']}/deliveries"
    page = api.ok("GET", path, params={"limit": 2})
    assert page["has_more"] and len(page["data"]) == 2
    rest = api.ok("GET", path, params={"limit": 2, "cursor": page["next_cursor"]})
    deliveries = [*page["data"], *rest["data"]]
    assert len({d["delivery_id"] for d in deliveries}) == 3
    head = min(deliveries, key=lambda d: d["event_sequence"])
    assert head["status"] == "pending" and head["attempts"] == 1  # the others wait their turn
    (attempt,) = head["attempt_log"]
    assert attempt["status_code"] == 500 and attempt["response"] == "nope"
    assert head["next_attempt_at"] > head["first_attempt_at"]
    retried = api.ok("POST", f"/v1/webhook_deliveries/{head['delivery_id']}/retry")
    assert retried["status"] == "pending" and retried["next_attempt_at"] == "2025-01-01T00:00:00Z"
    refused(api, "POST", "/v1/webhook_deliveries/whd_missing/retry", 404, "not_found")
    refused(api, "GET", f"{ENDPOINTS}/we_missing/deliveries", 404, "not_found")
    refused(api, "GET", path, 422, "validation_error", params={"cursor": "bogus"})


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"url": "http://example.com/hooks"}, "webhook_url_not_allowed"),
        ({"url": "https://127.0.0.1/hooks"}, "webhook_url_not_allowed"),
        ({"url": "https://10.0.0.8/hooks"}, "webhook_url_not_allowed"),
        ({"url": "https://x.invalid/", "event_types": ["balance.lowish"]}, "unknown_event_type"),
        ({"url": "https://x.invalid/", "event_types": []}, "validation_error"),
        ({"url": "https://x.invalid/", "colour": "red"}, "validation_error"),
        ({"event_types": ["*"]}, "validation_error"),
    ],
)
def test_bad_input_answers_422_and_writes_nothing(
    api: Api, body: dict[str, object], code: str
) -> None:
    refused(api, "POST", ENDPOINTS, 422, code, json=body)
    assert api.ok("GET", ENDPOINTS)["data"] == []


def test_account_keys_are_refused(hooks: Api, receiver: Receiver) -> None:
    api = hooks
    keys = api.account("acme")
    endpoint = api.ok("POST", ENDPOINTS, json={"url": receiver.url, "account_id": "acme"})
    path = f"{ENDPOINTS}/{endpoint['endpoint_id']}"
    for key in (keys.write, keys.read):
        for method, target in [
            ("GET", ENDPOINTS),
            ("POST", ENDPOINTS),
            ("GET", path),
            ("PATCH", path),
            ("DELETE", path),
            ("POST", f"{path}/rotate_secret"),
            ("GET", f"{path}/deliveries"),
        ]:
            json = {"url": receiver.url} if method in ("POST", "PATCH") else None
            response = api.client.request(method, target, json=json, headers=bearer(key))
            assert response.status_code == 403, (method, target, response.text)
            assert response.json()["code"] == "forbidden"
    assert api.ok("GET", path)["url"] == receiver.url  # nothing changed
