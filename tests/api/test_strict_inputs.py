"""Strict inputs: a value of the wrong JSON type is refused, never coerced; long inputs are
never echoed whole; a cursor no page gave is refused."""

from __future__ import annotations

from typing import Any

import pytest
from tests.api.conftest import AccountKeys, Api, bearer
from tests.api.test_errors_and_limits import refused

A = "strict"


@pytest.fixture
def keys(api: Api) -> AccountKeys:
    return api.account(A)


def cases(api: Api, keys: AccountKeys) -> list[tuple[str, str, dict[str, Any]]]:
    write, operator = bearer(keys.write), api.operator
    charges = f"/v1/accounts/{A}/charges"
    card = {"rate_card_id": "maps", "function": "get_phone_numbers"}
    return [
        ("POST", charges, {"json": {**card, "quantity": True}, "headers": write}),
        ("POST", charges, {"json": {**card, "quantity": "3"}, "headers": write}),
        ("POST", charges, {"json": {"amount": "1_000"}, "headers": write}),
        ("POST", charges, {"json": {"amount": " 1"}, "headers": write}),
        ("POST", charges, {"json": {"amount": 1, "partial": 1}, "headers": write}),
        ("POST", f"/v1/accounts/{A}/grants", {"json": {"amount": "1e2_0"}, "headers": operator}),
        (
            "POST",
            f"/v1/accounts/{A}/grants",
            {"json": {"amount": 1, "priority": False}, "headers": operator},
        ),
        ("POST", "/v1/runs", {"json": {"rate_card_id": "maps", "slots": False}, "headers": write}),
        ("PATCH", f"/v1/accounts/{A}", {"json": {"has_unpaid_bill": 0}, "headers": operator}),
        ("PUT", "/v1/plans/p2", {"json": {"slots": True}, "headers": operator}),
        ("PUT", "/v1/plans/p2", {"json": {"prices": {"eur": 1}}, "headers": operator}),
        (
            "POST",
            f"/v1/accounts/{A}/estimates",
            {
                "json": {
                    "rate_card_id": "maps",
                    "rows": 1,
                    "success_rates_percent": {"x" * 100_000: 5},
                },
                "headers": write,
            },
        ),
        (
            "POST",
            f"/v1/accounts/{A}/estimates",
            {
                "json": {
                    "rate_card_id": "maps",
                    "rows": 1,
                    "success_rates_percent": {"get_phone_numbers": 5.0},
                },
                "headers": write,
            },
        ),
        ("GET", f"/v1/accounts/{A}/balance", {"params": {"at": "0.5"}, "headers": write}),
        ("GET", "/v1/accounts", {"params": {"cursor": "garbage"}, "headers": operator}),
        ("GET", "/v1/accounts", {"params": {"cursor": "Not An Id"}, "headers": operator}),
    ]


def test_wrong_types_are_refused_never_coerced(api: Api, keys: AccountKeys) -> None:
    for method, path, kwargs in cases(api, keys):
        try:
            body = refused(api, method, path, (422, "validation_error"), **kwargs)
        except AssertionError as error:
            raise AssertionError(f"{method} {path} {kwargs}"[:300] + f": {error}") from None
        assert len(body["detail"]) <= 300


def test_a_long_input_is_not_echoed_whole(api: Api, keys: AccountKeys) -> None:
    long_name = "X" * 50_000
    card = {"credits_per_row": 1, "functions": {long_name: {"credits_per_success": 1}}}
    body = refused(
        api,
        "PUT",
        "/v1/rate_cards/long",
        (422, "validation_error"),
        json=card,
        headers=api.operator,
    )
    assert len(body["detail"]) <= 300 and long_name not in body["detail"]
    plan = {"allowances": {"credits": 1}, "rollover": {"cap": "y" * 50_000}}
    body = refused(
        api, "PUT", "/v1/plans/p2", (422, "validation_error"), json=plan, headers=api.operator
    )
    assert len(body["detail"]) <= 300


def test_exact_numbers_and_cursors_this_api_gave_still_work(api: Api, keys: AccountKeys) -> None:
    charges = f"/v1/accounts/{A}/charges"
    for amount in ("1", "0.5", "1e0", 2, 0.25):
        api.ok("POST", charges, json={"amount": amount}, headers=bearer(keys.write))
    api.account("strict2")
    first = api.ok("GET", "/v1/accounts", params={"limit": 1})
    assert first["has_more"] is True
    second = api.ok("GET", "/v1/accounts", params={"limit": 1, "cursor": first["next_cursor"]})
    assert second["data"][0]["account_id"] == "strict2"


def test_transaction_types_are_an_enumeration_in_the_schema(api: Api, keys: AccountKeys) -> None:
    document = api.client.get("/openapi.json").json()
    parameters = document["paths"]["/v1/accounts/{account_id}/transactions"]["get"]["parameters"]
    (kind,) = [p for p in parameters if p["name"] == "type"]
    items = kind["schema"]["anyOf"][0]["items"]
    enum = (
        items["enum"]
        if "enum" in items
        else document["components"]["schemas"][items["$ref"].rsplit("/", 1)[-1]]["enum"]
    )
    assert "" not in enum and "DEDUCTION" in enum
    path = f"/v1/accounts/{A}/transactions"
    refused(
        api, "GET", path, (422, "validation_error"), params={"type": ""}, headers=bearer(keys.read)
    )
    api.ok("GET", path, params={"type": "DEDUCTION"}, headers=bearer(keys.read))
