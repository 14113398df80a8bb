"""What the API document says about a behaviour is what the server does."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Api, bearer
from tests.api.test_errors_and_limits import refused

A = "doc"


def operation(api: Api, path: str, method: str) -> dict[str, Any]:
    document = api.client.get("/openapi.json").json()
    found: dict[str, Any] = document["paths"][path][method]
    return found


def lobstr_field(api: Api, name: str) -> str:
    document = api.client.get("/openapi.json").json()
    schema = document["components"]["schemas"]["LobstrBalanceOut"]["properties"][name]
    description: str = schema["description"]
    return description


def test_a_paused_run_holds_its_slot_as_the_lobstr_balance_says(api: Api) -> None:
    keys = api.account(A)  # 100 credits; the maps card costs 4 a row
    run_id = api.ok("POST", "/v1/runs", json={"rate_card_id": "maps"}, headers=bearer(keys.write))[
        "run_id"
    ]
    over = api.client.post(
        f"/v1/runs/{run_id}/results", json={"rows_kept": 1000}, headers=bearer(keys.write)
    )
    assert over.status_code == 402, over.text
    assert api.ok("GET", f"/v1/runs/{run_id}", headers=bearer(keys.read))["status"] == "paused"
    balance = api.ok("GET", "/v1/user/balance", headers=bearer(keys.read))
    assert balance["used_slots"] == 1
    assert "paused" in lobstr_field(api, "used_slots")
    assert "still running" not in lobstr_field(api, "used_slots")


def test_lobstr_figures_are_described_as_served(api: Api) -> None:
    keys = api.account(A)
    api.ok("POST", f"/v1/accounts/{A}/grants", json={"amount": 10})
    api.ok("POST", f"/v1/accounts/{A}/charges", json={"amount": 105}, headers=bearer(keys.write))
    balance = api.ok("GET", "/v1/user/balance", headers=bearer(keys.read))
    # Spent bonus still counts in bonus_credit, and available does not move when spending.
    assert (balance["available"], balance["bonus_credit"], balance["consumed"]) == (110, 10, 105)
    assert "still unspent" not in lobstr_field(api, "bonus_credit")
    assert "drawn from" in lobstr_field(api, "bonus_credit")
    assert "still unspent" not in lobstr_field(api, "rollover_credit")
    assert "drawn from" in lobstr_field(api, "rollover_credit")
    assert "remaining bonus" not in lobstr_field(api, "available")
    assert "does not move when credits are spent" in lobstr_field(api, "available")


def test_an_over_refund_answers_the_documented_status(api: Api) -> None:
    keys = api.account(A)
    charge = api.ok(
        "POST", f"/v1/accounts/{A}/charges", json={"amount": 5}, headers=bearer(keys.write)
    )
    path = f"/v1/charges/{charge['charge_id']}/refund"
    body = refused(
        api, "POST", path, (422, "validation_error"), json={"amount": 6}, headers=api.operator
    )
    assert "at most 5 credits" in body["detail"]
    described = operation(api, "/v1/charges/{charge_id}/refund", "post")["description"]
    assert "over-refund" in described and "422 `validation_error`" in described


def test_the_batch_key_is_documented_to_cover_the_whole_request(api: Api) -> None:
    batch = operation(api, "/v1/charges/batch", "post")
    assert "covers the whole request" in batch["description"]
    (header,) = [p for p in batch["parameters"] if p["name"] == "Idempotency-Key"]
    assert "whole batch" in header["description"]
