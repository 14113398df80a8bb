"""Inputs that once answered 500: each is now a documented 4xx that writes nothing, and reads
never fail on what was accepted, even by an older version. Also: a bug answers the documented
error body."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.api.conftest import AccountKeys, Api, bearer
from tests.api.test_errors_and_limits import assert_error, refused
from tests.cli.conftest import ENVIRONMENT as CLI_ENVIRONMENT
from tests.cli.conftest import invoke
from tests.dashboard.conftest import sign_in

from creditbook import Ledger
from creditbook.api.app import create_app
from creditbook.domain.amounts import MAX_ABS_MILLICREDITS, MILLICREDITS_PER_CREDIT
from creditbook.engine.operations import grants as grant_operations
from creditbook.settings import Settings

A = "big"
# A function whose price times the largest quantity is beyond the amount range.
HUGE_CARD = {"credits_per_row": 2_000_000, "functions": {"f": {"credits_per_success": 2_000_000}}}
OUT_OF_RANGE_QUANTITY = 500_000_001  # × 2,000,000 > 10^15 credits


@pytest.fixture
def huge(api: Api) -> Api:
    api.ok("PUT", "/v1/rate_cards/huge", json=HUGE_CARD)
    return api


def test_price_times_quantity_beyond_the_range_is_422(huge: Api) -> None:
    keys = huge.account(A)
    body = {"rate_card_id": "huge", "function": "f", "quantity": OUT_OF_RANGE_QUANTITY}
    expected = (422, "amount_out_of_range")
    refused(
        huge, "POST", f"/v1/accounts/{A}/charges", expected, json=body, headers=bearer(keys.write)
    )
    batch = huge.client.post(
        "/v1/charges/batch", json={"items": [{"account_id": A, **body}]}, headers=huge.operator
    )
    assert batch.status_code == 200, batch.text
    assert batch.json()["data"][0]["error"]["code"] == "amount_out_of_range"
    # A read key reaches the estimate.
    estimate = {"rate_card_id": "huge", "rows": OUT_OF_RANGE_QUANTITY}
    refused(
        huge,
        "POST",
        f"/v1/accounts/{A}/estimates",
        expected,
        json=estimate,
        headers=bearer(keys.read),
    )
    run_id = huge.ok("POST", "/v1/runs", json={"rate_card_id": "huge"}, headers=bearer(keys.write))[
        "run_id"
    ]
    results = {"rows_kept": OUT_OF_RANGE_QUANTITY}
    refused(
        huge,
        "POST",
        f"/v1/runs/{run_id}/results",
        expected,
        json=results,
        headers=bearer(keys.write),
    )


READS = [
    "/v1/accounts/{account}/balance",
    "/v1/accounts/{account}/stats?from=2025-01-01&to=2025-01-31",
    "/v1/accounts/{account}/transactions",
    "/credits/stats?from=2025-01-01&to=2025-01-31",
    "/api/v1/credits",
    "/api/v1/credits/balance",
    "/api/v1/credits/transactions",
    "/v1/user/balance",
]


def test_a_grant_that_takes_a_total_out_of_range_is_refused(api: Api) -> None:
    keys = api.account(A)  # holds the plan's 100 credits
    grants = f"/v1/accounts/{A}/grants"
    api.ok("POST", grants, json={"amount": "999999999999800"})
    api.ok("POST", grants, json={"amount": "100", "source": "top_up"})
    for amount in ("1", "1000000000000000"):
        body = refused(
            api,
            "POST",
            grants,
            (422, "amount_out_of_range"),
            json={"amount": amount},
            headers=api.operator,
        )
        assert "granted" in body["detail"]
    # Spending and granting back again stays within the bound: what was granted counts.
    api.ok("POST", f"/v1/accounts/{A}/charges", json={"amount": 5}, headers=bearer(keys.write))
    refused(
        api,
        "POST",
        grants,
        (422, "amount_out_of_range"),
        json={"amount": "5"},
        headers=api.operator,
    )
    # Every read of the account still answers.
    for path in READS:
        response = api.client.get(path.format(account=A), headers=bearer(keys.read))
        assert response.status_code == 200, (path, response.text)
    assert sign_in(api.client, keys.read).status_code == 303
    for page in ("", "/usage", "/transactions", "/runs"):
        response = api.client.get(f"/dashboard/accounts/{A}{page}")
        assert response.status_code == 200, (page, response.text[:300])


# Before grants were bounded by the credits granted to the account in all, an account could
# be granted the largest amount again and again: its totals then pass the amount range, and
# its spend the signed 64-bit range (10^19 millicredits) that SQLite's sum() stops at.
LARGEST = MAX_ABS_MILLICREDITS // MILLICREDITS_PER_CREDIT  # credits: 1,000,000,000,000,000
OLDER_GRANTS, OLDER_CHARGES = 22, 10
PLAN_CREDITS = 100  # tests/api/conftest.py's plan
GRANTED = OLDER_GRANTS * LARGEST
SPENT = OLDER_CHARGES * LARGEST
AVAILABLE = GRANTED - SPENT + PLAN_CREDITS  # 12,000,000,000,000,100 credits


@pytest.fixture
def older(api: Api, monkeypatch: pytest.MonkeyPatch) -> AccountKeys:
    """An account as an older version left it: 22 grants of the largest amount (the engine
    writes them as it writes any grant, without the check on the credits granted in all),
    then 10 charges of the largest amount by two users (two daily rollups of 5 x 10^18
    millicredits: within 64 bits each, past them together). An alert below the largest
    amount records the credits available when the first grant lifts the pool above it."""
    keys = api.account(A)
    rules = {"rules": [{"pool": "credits", "credits": str(LARGEST)}]}
    api.ok("PUT", f"/v1/accounts/{A}/alerts", json=rules)
    with monkeypatch.context() as older_version:
        older_version.setattr(grant_operations, "_check_granted_total", lambda tx, amount: None)
        for _ in range(OLDER_GRANTS):
            api.ok("POST", f"/v1/accounts/{A}/grants", json={"amount": str(LARGEST)})
    for number in range(OLDER_CHARGES):
        charge = {"amount": str(LARGEST), "user_id": f"u{number % 2}"}
        api.ok("POST", f"/v1/accounts/{A}/charges", json=charge, headers=bearer(keys.write))
    assert api.ledger.verify(A).differences == []
    return keys


def exact(value: object) -> int:
    """A JSON amount that parsed as an int: an exact number, never a float's digits."""
    assert type(value) is int, value
    return value


def test_reads_of_totals_an_older_version_stored_beyond_the_range_are_exact(
    api: Api, older: AccountKeys
) -> None:
    read = bearer(older.read)
    for path in READS:
        response = api.client.get(path.format(account=A), headers=read)
        assert response.status_code == 200, (path, response.text)
    get = api.ok
    pool = get("GET", f"/v1/accounts/{A}/balance", headers=read)["pools"]["credits"]
    assert (exact(pool["available"]), exact(pool["consumed"])) == (AVAILABLE, SPENT)
    stats = get("GET", f"/v1/accounts/{A}/stats?from=2025-01-01&to=2025-01-31", headers=read)
    assert exact(stats["total"]) == SPENT
    assert [exact(user["credits"]) for user in stats["by_user"]] == [SPENT // 2] * 2
    summary = get("GET", "/credits/stats?from=2025-01-01&to=2025-01-31", headers=read)["summary"]
    assert exact(summary["total_spent"]) == SPENT
    assert exact(get("GET", "/api/v1/credits", headers=read)["remainingCredits"]) == AVAILABLE
    leads = get("GET", "/api/v1/credits/balance", headers=read)["data"]
    assert [exact(leads[name]) for name in ("availableCredits", "usedCredits")] == [
        AVAILABLE,
        SPENT,
    ]
    assert exact(leads["bonusCredits"]) == GRANTED
    lobstr = get("GET", "/v1/user/balance", headers=read)
    assert (exact(lobstr["available"]), exact(lobstr["consumed"])) == (
        PLAN_CREDITS + GRANTED,
        SPENT,
    )
    alerts = get("GET", f"/v1/accounts/{A}/alerts", headers=read)
    assert exact(alerts["pools"][0]["available"]) == AVAILABLE
    events = get("GET", f"/v1/events?account_id={A}&type=balance.recovered")["data"]
    assert [exact(event["data"]["available"]) for event in events] == [LARGEST + PLAN_CREDITS]
    balance = api.ledger.balance(A).pools["credits"]
    assert balance.available.millicredits == AVAILABLE * MILLICREDITS_PER_CREDIT


def test_the_dashboard_and_the_cli_show_totals_an_older_version_stored_exactly(
    api: Api, older: AccountKeys, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert sign_in(api.client, older.read).status_code == 303
    for page in ("", "/usage", "/transactions", "/runs", "/events"):
        response = api.client.get(f"/dashboard/accounts/{A}{page}")
        assert response.status_code == 200, (page, response.text[:300])
    overview = api.client.get(f"/dashboard/accounts/{A}").text
    assert f"{AVAILABLE:,}" in overview
    assert f"{SPENT:,}" in api.client.get(f"/dashboard/accounts/{A}/usage").text
    for name in CLI_ENVIRONMENT:  # none of the machine's CLI settings
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CREDITBOOK_CONFIG", str(tmp_path / "config.toml"))
    url = api.ledger.engine.url.render_as_string(hide_password=False)
    shown = invoke("balance", A, "--database-url", url, "--json")
    assert shown.exit_code == 0, shown.output
    assert exact(json.loads(shown.stdout)["pools"]["credits"]["available"]) == AVAILABLE


def test_the_bound_still_refuses_new_credits_on_such_an_account(
    api: Api, older: AccountKeys
) -> None:
    body = refused(
        api,
        "POST",
        f"/v1/accounts/{A}/grants",
        (422, "amount_out_of_range"),
        json={"amount": "1"},
        headers=api.operator,
    )
    assert "granted" in body["detail"]


@pytest.mark.parametrize("price", [1e30, "1e999999999", "1E+13", "0.00001", "NaN", -1])
def test_plan_prices_are_bounded(api: Api, price: object) -> None:
    plan = {"name": "x", "allowances": {"credits": 1}, "prices": {"EUR": price}}
    body = refused(
        api, "PUT", "/v1/plans/p2", (422, "validation_error"), json=plan, headers=api.operator
    )
    assert body["detail"].startswith("prices")
    assert len(body["detail"]) < 200


def test_plan_prices_within_the_bounds_are_kept(api: Api) -> None:
    plan = {"name": "x", "allowances": {"credits": 1}, "prices": {"EUR": "999999999999.9999"}}
    assert api.ok("PUT", "/v1/plans/p2", json=plan)["prices"] == {"EUR": 999999999999.9999}
    stats = api.client.get("/v1/credits/stats", headers=api.operator)
    assert stats.status_code < 500, stats.text


def test_the_engine_refuses_unbounded_prices(ledger: Ledger) -> None:
    from decimal import Decimal

    from creditbook.domain.errors import ValidationError
    from creditbook.domain.plans import Plan

    for price in ("1E+30", "1E+999999999", "0.00001", "-1", "NaN"):
        with pytest.raises(ValidationError):
            Plan("p", "x", allowances={}, prices={"EUR": Decimal(price)})


@pytest.mark.parametrize("length", [250, 255])
def test_a_long_batch_idempotency_key_is_422(api: Api, length: int) -> None:
    api.account(A)
    refused(
        api,
        "POST",
        "/v1/charges/batch",
        (422, "validation_error"),
        json={"items": [{"account_id": A, "amount": 1}]},
        headers={**api.operator, "Idempotency-Key": "k" * length},
    )


def test_the_longest_batch_idempotency_key_is_stored_and_replayed(api: Api) -> None:
    api.account(A)
    items = [{"account_id": A, "amount": 1}] * 12
    headers = {**api.operator, "Idempotency-Key": "k" * 249}
    first = api.ok("POST", "/v1/charges/batch", json={"items": items}, headers=headers)
    assert all(item["ok"] for item in first["data"]), first
    again = api.client.post("/v1/charges/batch", json={"items": items}, headers=headers)
    assert again.status_code == 200 and again.headers["Idempotency-Hit"] == "true"


def test_a_naive_billing_anchor_is_422(api: Api) -> None:
    body = {"plan_id": "pro", "account_id": "naive", "billing_anchor_at": "2026-06-01T00:00:00"}
    detail = refused(
        api, "POST", "/v1/accounts", (422, "validation_error"), json=body, headers=api.operator
    )["detail"]
    assert detail.startswith("billing_anchor_at")


def test_an_unhandled_error_answers_the_error_body_with_the_request_id(
    ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    app: FastAPI = create_app(ledger, settings=Settings())

    def broken() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/v1/broken", broken)
    with TestClient(app, raise_server_exceptions=False) as client:
        with caplog.at_level(logging.ERROR, logger="creditbook.errors"):
            response = client.get("/v1/broken", headers={"X-Request-ID": "req-42"})
        assert_error(response, 500, "internal_error")
        assert response.headers["X-Request-ID"] == "req-42"
        assert "a bug" not in response.text
        (record,) = [r for r in caplog.records if r.name == "creditbook.errors"]
        assert record.request_id == "req-42" and record.exc_info is not None
        generated = client.get("/v1/broken")
        assert_error(generated, 500, "internal_error")
        assert len(generated.headers["X-Request-ID"]) == 16
        assert client.get("/healthz").status_code == 200


def test_a_key_bound_to_a_user_charges_as_that_user(api: Api) -> None:
    api.account(A)
    key = api.ok("POST", f"/v1/accounts/{A}/api_keys", json={"scope": "write", "user_id": "u1"})
    headers = bearer(key["secret"])
    charge = api.ok(
        "POST",
        f"/v1/accounts/{A}/charges",
        headers=headers,
        json={"amount": 1, "user_id": "u-victim"},
    )
    assert charge["user_id"] == "u1"
    run = api.ok(
        "POST", "/v1/runs", headers=headers, json={"rate_card_id": "maps", "user_id": "u-victim"}
    )
    assert run["user_id"] == "u1"
    batch = api.ok(
        "POST",
        "/v1/charges/batch",
        headers=headers,
        json={"items": [{"account_id": A, "amount": 1, "user_id": "u-victim"}]},
    )
    assert batch["data"][0]["charge"]["user_id"] == "u1"
    # A key bound to no user (and the operator) attributes to the body's user.
    unbound = api.ok(
        "POST",
        f"/v1/accounts/{A}/charges",
        headers=api.operator,
        json={"amount": 1, "user_id": "u2"},
    )
    assert unbound["user_id"] == "u2"


@pytest.mark.parametrize(
    "plan",
    [
        {"allowances": {"credits": "100000000001"}},
        {"allowances": {"a": "60000000000", "b": "60000000000"}},
        {"allowances": {"credits": 1}, "overdraft": "100000000001"},
    ],
)
def test_plan_credits_are_bounded_so_totals_stay_in_range(
    api: Api, plan: dict[str, object]
) -> None:
    refused(
        api, "PUT", "/v1/plans/big", (422, "amount_out_of_range"), json=plan, headers=api.operator
    )
    largest = {"allowances": {"credits": "100000000000"}, "overdraft": "100000000000"}
    api.ok("PUT", "/v1/plans/big", json=largest)
