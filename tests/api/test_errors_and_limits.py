"""Refusals: one error body `{"detail", "code"}` with a stable code, and nothing written.

Every refused request here is checked against a snapshot of the whole database (row counts
of every table, every account's credits) taken just before it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient
from tests.api.conftest import AccountKeys, Api, bearer
from tests.api.state import snapshot

from creditbook.api.app import create_app
from creditbook.settings import Settings

A = "acct-a"
SMALL_BODY_LIMIT = 1024


@pytest.fixture
def keys(api: Api) -> AccountKeys:
    return api.account(A)


def assert_error(response: httpx2.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"detail", "code"}, body
    assert body["code"] == code, body
    assert isinstance(body["detail"], str) and body["detail"], body
    return dict(body)


def refused(
    api: Api,
    method: str,
    path: str,
    expected: tuple[int, str],
    client: TestClient | None = None,
    events: int = 0,
    **kwargs: Any,
) -> dict[str, Any]:
    """Send a request that must be refused with (status, code) and must write nothing but
    `events` events (a charge refused for lack of credits records `balance.depleted`)."""
    before = snapshot(api.ledger)
    response = (client or api.client).request(method, path, **kwargs)
    body = assert_error(response, *expected)
    after = snapshot(api.ledger)
    if events:
        assert after.minus(before) == {"rows": {"events": events}, "available": {}, "held": {}}
    else:
        assert after == before, f"{method} {path} wrote something"
    return body


def test_insufficient_credits_is_402(api: Api, keys: AccountKeys) -> None:
    charges = f"/v1/accounts/{A}/charges"
    body = refused(
        api,
        "POST",
        charges,
        (402, "insufficient_credits"),
        json={"amount": 100.001},
        headers=bearer(keys.write),
        events=1,  # balance.depleted, once: the next refusal records nothing
    )
    assert "100.001" in body["detail"] and "available 100" in body["detail"]
    refused(
        api,
        "POST",
        charges,
        (402, "insufficient_credits"),
        json={"rate_card_id": "maps", "function": "get_phone_numbers", "quantity": 17},
        headers={**bearer(keys.write), "Idempotency-Key": "too-much"},
    )
    # A refused request does not use up its idempotency key.
    api.ok("POST", f"/v1/accounts/{A}/grants", json={"amount": 2})
    response = api.client.post(
        charges,
        json={"rate_card_id": "maps", "function": "get_phone_numbers", "quantity": 17},
        headers={**bearer(keys.write), "Idempotency-Key": "too-much"},
    )
    assert response.status_code == 201, response.text
    # In a batch the unaffordable item fails alone, writing nothing.
    before = snapshot(api.ledger)
    batch = api.client.post(
        "/v1/charges/batch",
        json={"items": [{"account_id": A, "amount": 1000}]},
        headers=bearer(keys.write),
    )
    assert batch.status_code == 200, batch.text
    (item,) = batch.json()["data"]
    assert item["ok"] is False and item["error"]["code"] == "insufficient_credits"
    assert set(item["error"]) == {"detail", "code"}
    assert snapshot(api.ledger) == before


def test_idempotency_key_conflict_is_409(api: Api, keys: AccountKeys) -> None:
    headers = {**bearer(keys.write), "Idempotency-Key": "once"}
    api.ok("POST", f"/v1/accounts/{A}/charges", json={"amount": 1}, headers=headers)
    body = refused(
        api,
        "POST",
        f"/v1/accounts/{A}/charges",
        (409, "idempotency_key_conflict"),
        json={"amount": 2},
        headers=headers,
    )
    assert "once" in body["detail"]


def test_no_free_slots_is_409(api: Api, keys: AccountKeys) -> None:
    for _ in range(3):  # the plan has three slots
        api.ok("POST", "/v1/runs", json={"rate_card_id": "maps"}, headers=bearer(keys.write))
    refused(
        api,
        "POST",
        "/v1/runs",
        (409, "no_free_slots"),
        json={"rate_card_id": "maps", "hold": 5},
        headers=bearer(keys.write),
    )
    refused(
        api,
        "POST",
        "/v1/runs",
        (409, "no_free_slots"),
        json={"account_id": A, "rate_card_id": "maps"},
        headers=api.operator,
    )


def test_validation_errors_are_422(api: Api, keys: AccountKeys) -> None:
    write, read = bearer(keys.write), bearer(keys.read)
    charges = f"/v1/accounts/{A}/charges"
    run_id = api.ok("POST", "/v1/runs", json={"rate_card_id": "maps"}, headers=write)["run_id"]
    cases: list[tuple[str, str, dict[str, Any]]] = [
        # bad types
        ("POST", charges, {"json": {"amount": "lots"}, "headers": write}),
        ("POST", charges, {"json": {"amount": True}, "headers": write}),
        ("POST", charges, {"json": {"amount": [1]}, "headers": write}),
        ("POST", charges, {"json": {"amount": 1, "quantity": 1.5}, "headers": write}),
        ("POST", charges, {"json": {"amount": 1, "partial": "maybe"}, "headers": write}),
        ("POST", charges, {"json": {"amount": 1, "description": None}, "headers": write}),
        ("POST", charges, {"json": [], "headers": write}),
        ("POST", charges, {"json": "charge", "headers": write}),
        ("POST", f"/v1/runs/{run_id}/results", {"json": {"rows_kept": -1}, "headers": write}),
        ("POST", f"/v1/runs/{run_id}/results", {"json": {"rows_kept": "three"}, "headers": write}),
        # amounts that are not exact credits
        ("POST", charges, {"json": {"amount": "NaN"}, "headers": write}),
        ("POST", charges, {"json": {"amount": "Infinity"}, "headers": write}),
        ("POST", charges, {"content": b'{"amount": 1e400}', "headers": write}),
        ("POST", charges, {"json": {"amount": 0.0001}, "headers": write}),
        ("POST", charges, {"json": {"amount": 10**30}, "headers": write}),
        ("POST", charges, {"json": {"amount": -1}, "headers": write}),
        ("POST", charges, {"json": {"amount": 0}, "headers": write}),
        ("POST", charges, {"json": {}, "headers": write}),
        # extra fields
        ("POST", charges, {"json": {"amount": 1, "colour": "red"}, "headers": write}),
        ("POST", f"/v1/accounts/{A}/grants",
         {"json": {"amount": 1, "free": True}, "headers": api.operator}),
        ("POST", "/v1/runs", {"json": {"rate_card_id": "maps", "speed": 2}, "headers": write}),
        # too-long strings
        ("POST", charges, {"json": {"amount": 1, "description": "x" * 501}, "headers": write}),
        ("POST", charges, {"json": {"amount": 1, "resource_name": "x" * 201}, "headers": write}),
        ("POST", charges,
         {"json": {"amount": 1}, "headers": {**write, "Idempotency-Key": "k" * 256}}),
        ("POST", "/v1/accounts",
         {"json": {"plan_id": "pro", "name": "x" * 201}, "headers": api.operator}),
        # bad ids
        ("POST", f"/v1/accounts/{'a' * 65}/charges", {"json": {"amount": 1}, "headers": write}),
        ("GET", f"/v1/runs/{'f' * 65}", {"headers": read}),
        ("POST", charges, {"json": {"amount": 1, "run_id": "NOT OK"}, "headers": write}),
        ("POST", charges,
         {"json": {"rate_card_id": "Maps!", "function": "x", "quantity": 1}, "headers": write}),
        ("POST", "/v1/accounts",
         {"json": {"plan_id": "pro", "account_id": "Has Spaces"}, "headers": api.operator}),
        ("PUT", "/v1/plans/Bad%20Id", {"json": {}, "headers": api.operator}),
        ("PUT", "/v1/rate_cards/-x", {"json": {"credits_per_row": 1}, "headers": api.operator}),
        # limits and query parameters
        ("GET", f"/v1/accounts/{A}/transactions", {"params": {"limit": 101}, "headers": read}),
        ("GET", f"/v1/accounts/{A}/transactions", {"params": {"limit": 0}, "headers": read}),
        ("GET", f"/v1/accounts/{A}/transactions", {"params": {"limit": "x"}, "headers": read}),
        ("GET", f"/v1/accounts/{A}/transactions", {"params": {"since": "soon"}, "headers": read}),
        ("GET", f"/v1/accounts/{A}/runs", {"params": {"limit": 101}, "headers": read}),
        ("GET", "/v1/accounts", {"params": {"limit": 101}, "headers": api.operator}),
        ("GET", f"/v1/accounts/{A}/stats", {"params": {"from": "2025-01-01"}, "headers": read}),
        ("GET", f"/v1/accounts/{A}/stats",
         {"params": {"from": "2025-02-01", "to": "2025-01-01"}, "headers": read}),
        ("GET", f"/v1/accounts/{A}/balance", {"params": {"at": "noon"}, "headers": read}),
    ]  # fmt: skip
    for method, path, kwargs in cases:
        try:
            refused(api, method, path, (422, "validation_error"), **kwargs)
        except AssertionError as error:
            raise AssertionError(f"{method} {path} {kwargs.get('json', '')}: {error}") from None


def test_batch_over_1000_items_is_422(api: Api, keys: AccountKeys) -> None:
    item = {"account_id": A, "amount": 0.001}
    for items in ([item] * 1001, []):
        refused(
            api,
            "POST",
            "/v1/charges/batch",
            (422, "validation_error"),
            json={"items": items},
            headers=bearer(keys.write),
        )
    # 1000 is accepted (items for an account that does not exist fail alone, cheaply).
    missing = {"account_id": "acct-missing", "amount": 0.001}
    response = api.client.post(
        "/v1/charges/batch", json={"items": [missing] * 1000}, headers=api.operator
    )
    assert response.status_code == 200, response.text
    results = response.json()["data"]
    assert len(results) == 1000
    assert {result["error"]["code"] for result in results} == {"not_found"}


def test_malformed_json_is_400(api: Api, keys: AccountKeys) -> None:
    headers = {**bearer(keys.write), "Content-Type": "application/json"}
    for content in (b'{"amount": 1', b'{"amount": 1}}', b"{amount: 1}", b'{"amount": "\xff"}'):
        refused(
            api,
            "POST",
            f"/v1/accounts/{A}/charges",
            (400, "malformed_request"),
            content=content,
            headers=headers,
        )


def test_not_found_is_404(api: Api, keys: AccountKeys) -> None:
    missing_run = "0" * 32
    cases: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/v1/accounts/acct-missing/charges", {"json": {"amount": 1}}),
        ("POST", "/v1/accounts/acct-missing/grants", {"json": {"amount": 1}}),
        ("GET", "/v1/accounts/acct-missing/balance", {}),
        ("PATCH", "/v1/accounts/acct-missing", {"json": {"name": "x"}}),
        ("POST", "/v1/accounts", {"json": {"plan_id": "no-such-plan"}}),
        ("POST", f"/v1/accounts/{A}/charges",
         {"json": {"rate_card_id": "no-such-card", "function": "x", "quantity": 1}}),
        ("POST", f"/v1/runs/{missing_run}/results", {"json": {"rows_kept": 1}}),
        ("POST", f"/v1/runs/{missing_run}/finish", {}),
        ("GET", f"/v1/runs/{missing_run}", {}),
        ("POST", "/v1/charges/txn_000000000000000000000000/refund", {"json": {}}),
        ("DELETE", "/v1/api_keys/key_0000000000000000", {}),
        ("GET", "/v1/nothing-here", {}),
        ("POST", "/v1/nothing-here", {"json": {}}),
        ("GET", "/", {}),
    ]  # fmt: skip
    for method, path, kwargs in cases:
        try:
            refused(api, method, path, (404, "not_found"), headers=api.operator, **kwargs)
        except AssertionError as error:
            raise AssertionError(f"{method} {path}: {error}") from None
    # Unknown routes answer the same without a key.
    assert_error(api.client.get("/v1/nothing-here"), 404, "not_found")


def test_method_not_allowed_is_405(api: Api) -> None:
    refused(api, "DELETE", "/v1/plans", (405, "method_not_allowed"), headers=api.operator)


@pytest.fixture
def small_client(api: Api) -> Iterator[TestClient]:
    settings = Settings(
        max_body_bytes=SMALL_BODY_LIMIT, rate_limit_per_s=10_000, rate_limit_burst=10_000
    )
    with TestClient(create_app(api.ledger, settings=settings)) as client:
        yield client


def test_payload_too_large_is_413(api: Api, keys: AccountKeys, small_client: TestClient) -> None:
    path = f"/v1/accounts/{A}/charges"
    headers = {**bearer(keys.write), "Content-Type": "application/json"}
    big = json.dumps({"amount": 1, "description": "x" * 480, "resource_name": "y" * 200})
    big = big + " " * (SMALL_BODY_LIMIT + 1 - len(big))  # valid JSON, one byte too many
    assert len(big.encode()) == SMALL_BODY_LIMIT + 1
    # Declared with Content-Length…
    body = refused(
        api,
        "POST",
        path,
        (413, "payload_too_large"),
        client=small_client,
        content=big.encode(),
        headers=headers,
    )
    assert str(SMALL_BODY_LIMIT) in body["detail"]

    # …and streamed without one (chunked): counted as it arrives.
    def chunks() -> Iterator[bytes]:
        data = big.encode()
        yield from (data[i : i + 256] for i in range(0, len(data), 256))

    refused(
        api,
        "POST",
        path,
        (413, "payload_too_large"),
        client=small_client,
        content=chunks(),
        headers=headers,
    )
    # A body at the limit is fine.
    fits = big[:-1].encode()
    response = small_client.post(path, content=fits, headers=headers)
    assert response.status_code == 201, response.text
    assert api.ledger.verify().ok
