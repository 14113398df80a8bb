"""The vendor endpoints answer exactly as their pages show, set up through the native API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.api import seed_examples as seeds
from tests.api.conftest import Api, bearer

from creditbook import ManualClock
from creditbook.api.app import create_app
from creditbook.settings import Settings


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def account_key(api: Api, account_id: str, plan_id: str, **fields: Any) -> str:
    api.ok("POST", "/v1/accounts", json={"plan_id": plan_id, "account_id": account_id, **fields})
    key: str = api.ok("POST", f"/v1/accounts/{account_id}/api_keys", json={"scope": "read"})[
        "secret"
    ]
    return key


def charge(api: Api, account_id: str, **body: Any) -> None:
    api.ok("POST", f"/v1/accounts/{account_id}/charges", json=body)


def get(api: Api, path: str, key: str, status: int = 200) -> Any:
    response = api.client.get(path, headers=bearer(key))
    assert response.status_code == status, response.text
    return response.json()


def test_lobstr_run_credits_reproduces_the_page(api: Api) -> None:
    api.ok("PUT", "/v1/plans/big", json={"allowances": {"credits": 10000}, "slots": 5})
    key = account_key(api, "acme", "big")
    api.ok("PUT", "/v1/rate_cards/maps", json=seeds_card())
    run = api.ok("POST", "/v1/runs", json={"account_id": "acme", "rate_card_id": "maps"})
    api.ok(
        "POST",
        f"/v1/runs/{run['run_id']}/results",
        json={
            "rows_kept": 20,
            "functions": {"get_phone_numbers": {"attempts": 20, "successes": 6}},
        },
    )
    body = get(api, f"/v1/runs/{run['run_id']}/credits", key)
    seeds.assert_same_json(body, {**seeds.LOBSTR_RUN_CREDITS, "run_id": run["run_id"]})
    assert list(body) == list(seeds.LOBSTR_RUN_CREDITS)


def seeds_card() -> dict[str, Any]:
    return {
        "credits_per_row": 4,
        "base_label": "Export Listings (No Phone)",
        "base_colors": {"bg_color": "#EAFBF3", "txt_color": "#0F9F5F"},
        "functions": {
            "get_phone_numbers": {
                "credits_per_success": 6,
                "colors": {"bg_color": "#EEF2F7", "txt_color": "#62748A"},
            }
        },
    }


def test_lobstr_run_credits_other_numbers_and_filters(api: Api) -> None:
    key = account_key(api, "acme", "pro")
    card = seeds_card()
    card["credits_per_row"] = "0.5"
    card["filters"] = {"geo_match": {"display": "Geo match", "credits_per_row": 1}}
    api.ok("PUT", "/v1/rate_cards/cheap", json=card)
    run = api.ok(
        "POST",
        "/v1/runs",
        json={"account_id": "acme", "rate_card_id": "cheap", "active_filters": ["geo_match"]},
    )
    api.ok(
        "POST",
        f"/v1/runs/{run['run_id']}/results",
        json={
            "rows_kept": 9,
            "rows_discarded": {"geo_match": 30},
            "functions": {"get_phone_numbers": {"attempts": 9, "successes": 1}},
        },
    )
    body = get(api, f"/v1/runs/{run['run_id']}/credits", key)
    assert seeds.same_shape(seeds.LOBSTR_RUN_CREDITS, body) == []
    assert body["total_credits"] == 4.5 + 6 + 9
    assert [b["function"] for b in body["breakdown"]] == ["get_phone_numbers", "base"]
    assert body["filter_breakdown"] == [
        {"name": "geo_match", "display": "Geo match", "rate": 1, "credits": 9}
    ]
    assert body["rates"] == {"credits_per_row": 0.5, "get_phone_numbers": 6}


def test_lobstr_run_credits_404_for_missing_and_other_accounts_runs(api: Api) -> None:
    key = account_key(api, "acme", "pro")
    other = account_key(api, "other", "pro")
    run = api.ok("POST", "/v1/runs", json={"account_id": "acme", "rate_card_id": "maps"})
    missing = api.client.get(
        "/v1/runs/0393be3ea6f74986906153df1c3f9894/credits", headers=bearer(key)
    )
    foreign = api.client.get(f"/v1/runs/{run['run_id']}/credits", headers=bearer(other))
    assert missing.status_code == foreign.status_code == 404
    assert missing.json() == foreign.json() == {"detail": "Run not found."}


def test_lobstr_balance_reproduces_the_page(api: Api, clock: ManualClock) -> None:
    api.ok(
        "PUT",
        "/v1/plans/professional",
        json={
            "name": "Professional",
            "price_id": "price_abc123",
            "slots": 20,
            "allowances": {"credits": 10000},
            "rollover": {"cap": 200, "expires_after_periods": None},
        },
    )
    clock.set(utc(2024, 12, 1))
    key = account_key(api, "acme", "professional")
    clock.set(utc(2025, 1, 10))
    # 200 of December's unused credits rolled over; rollover goes first, then 1350 of the
    # allowance: 10000 + 200 - 1550 can be spent
    charge(api, "acme", amount=1550)
    api.ok("POST", "/v1/runs", json={"account_id": "acme", "rate_card_id": "maps", "slots": 2})
    api.ok("POST", "/v1/runs", json={"account_id": "acme", "rate_card_id": "maps"})
    body = get(api, "/v1/user/balance", key)
    seeds.assert_same_json(body, seeds.LOBSTR_BALANCE)
    assert list(body) == list(seeds.LOBSTR_BALANCE)


def test_lobstr_balance_daily_plan_with_bonus_and_unpaid_bill(api: Api, clock: ManualClock) -> None:
    api.ok(
        "PUT",
        "/v1/plans/daily",
        json={
            "name": "Daily",
            "interval": "daily",
            "allowances": {"credits": 50},
            "slots": 2,
            "rollover": {"cap": 10},
        },
    )
    clock.set(utc(2025, 3, 1, 12))
    key = account_key(api, "acme", "daily", timezone="Europe/Prague")
    api.ok("POST", "/v1/accounts/acme/grants", json={"amount": "7.5", "source": "bonus"})
    clock.set(utc(2025, 3, 2, 12))
    charge(api, "acme", amount=3)
    api.ok("PATCH", "/v1/accounts/acme", json={"has_unpaid_bill": True})
    body = get(api, "/v1/user/balance", key)
    assert seeds.same_shape(seeds.LOBSTR_BALANCE, body) == []
    # bonus goes first (4.5 of 7.5 left); yesterday's 50 unused rolled 10 (capped)
    # the day's figures: 50 allowance + 7.5 bonus (3 of it spent today)
    assert (body["available"], body["consumed"], body["bonus_credit"]) == (57.5, 3, 7.5)
    assert (body["rollover_credit"], body["interval"], body["has_unpaid_bill"]) == (
        10,
        "daily",
        True,
    )
    assert body["rollover_credit_expires_at"] == "2025-03-02T23:00:00Z"
    assert body["reset_time"] == "2025-03-02T23:00:00Z"  # local midnight in Prague


def test_localleads_balance_and_transactions_reproduce_the_page(
    api: Api, clock: ManualClock
) -> None:
    api.ok("PUT", "/v1/plans/starter", json={"allowances": {"credits": 100}})
    clock.set(utc(2026, 5, 1))
    key = account_key(api, "leads", "starter")
    api.ok("POST", "/v1/accounts/leads/grants", json={"amount": 25, "source": "bonus"})
    clock.set(utc(2026, 5, 3))
    charge(api, "leads", amount=31, description="Lead search: Plumbers in Denver")
    clock.set(utc(2026, 5, 5, 10, 1))
    charge(api, "leads", amount=12, description="Lead search: Dentists in Austin, TX (97 results)")
    seeds.assert_same_json(get(api, "/api/v1/credits/balance", key), seeds.LOCALLEADS_BALANCE)

    body = get(api, "/api/v1/credits/transactions", key)
    assert seeds.same_shape(seeds.LOCALLEADS_TRANSACTIONS, body) == []
    assert body["meta"] == {"total": 4, "limit": 50, "offset": 0}
    newest = body["data"][0]
    assert newest["id"].startswith("txn_")
    assert {k: v for k, v in newest.items() if k != "id"} == {
        k: v for k, v in seeds.LOCALLEADS_TRANSACTIONS["data"][0].items() if k != "id"
    }
    oldest = body["data"][-1]
    assert {k: v for k, v in oldest.items() if k != "id"} == {
        k: v for k, v in seeds.LOCALLEADS_TRANSACTIONS["data"][1].items() if k != "id"
    }
    page = get(api, "/api/v1/credits/transactions?limit=2&offset=1", key)
    assert [t["amount"] for t in page["data"]] == [-31, 25]
    assert page["meta"] == {"total": 4, "limit": 2, "offset": 1}
    capped = get(api, "/api/v1/credits/transactions?limit=500", key)
    assert capped["meta"]["limit"] == 100


def test_localleads_after_a_reset_keeps_the_identity(api: Api, clock: ManualClock) -> None:
    api.ok(
        "PUT",
        "/v1/plans/starter",
        json={"allowances": {"credits": 300}, "rollover": {"cap_percent": 10}},
    )
    clock.set(utc(2026, 1, 31, 9))
    key = account_key(api, "leads", "starter")
    api.ok("POST", "/v1/accounts/leads/grants", json={"amount": 40, "source": "bonus"})
    charge(api, "leads", amount=20)
    clock.set(utc(2026, 3, 2))
    charge(api, "leads", amount="5.5")
    data = get(api, "/api/v1/credits/balance", key)["data"]
    assert data["resetDay"] == 28  # anchored on the 31st, February ends on the 28th
    assert data["lastResetAt"] == "2026-02-28T09:00:00.000Z"
    assert data["availableCredits"] == (
        data["monthlyCredits"] + data["bonusCredits"] - data["usedCredits"]
    )
    # 300 allowance + 20 bonus carried + 30 rolled over (10 %) - 5.5 used
    assert data["availableCredits"] == 344.5


def test_clodura_separate_and_unified_plans(api: Api) -> None:
    api.ok(
        "PUT",
        "/v1/plans/prospect",
        json={"name": "Prospect", "allowances": {"contact_views": 1000, "direct_dials": 200}},
    )
    api.ok("PUT", "/v1/plans/max", json={"name": "Max", "allowances": {"credits": 750}})
    separate = account_key(api, "prospect-co", "prospect")
    unified = account_key(api, "max-co", "max")
    charge(api, "prospect-co", amount=142, pool="contact_views")
    charge(api, "prospect-co", amount=38, pool="direct_dials")
    for headers in ({"X-API-KEY": separate}, bearer(separate)):
        response = api.client.get("/api/v1/credits", headers=headers)
        seeds.assert_same_json(response.json(), seeds.CLODURA_SEPARATE)
    charge(api, "max-co", amount=50)
    assert get(api, "/api/v1/credits", unified) == {"remainingCredits": 700}


def test_clodura_error_statuses(api: Api) -> None:
    key = account_key(api, "max-co", "pro")
    assert api.client.get("/api/v1/credits").status_code == 401
    assert api.client.get("/api/v1/credits", headers={"X-API-KEY": "nope"}).status_code == 401
    revoked = api.ok("POST", "/v1/accounts/max-co/api_keys", json={"scope": "read"})
    api.ok("DELETE", f"/v1/api_keys/{revoked['key_id']}")
    response = api.client.get("/api/v1/credits", headers={"X-API-KEY": revoked["secret"]})
    assert response.status_code == 403
    assert response.json()["code"] == "key_revoked"
    assert get(api, "/api/v1/credits", key) == {"remainingCredits": 100}


def stats_scenario(api: Api, clock: ManualClock) -> str:
    api.ok(
        "PUT",
        "/v1/plans/business",
        json={
            "allowances": {"credits": 50000},
            "prices": {"EUR": 1000, "CZK": 25000},
            "display_currency": "EUR",
        },
    )
    clock.set(utc(2024, 10, 18))
    key = account_key(api, "shop", "business")
    spends: list[tuple[datetime, dict[str, Any]]] = [
        (utc(2024, 11, 5, 9), {"amount": 3800, "module": "search", "user_id": "u3"}),
        (
            utc(2025, 1, 1, 8),
            {
                "amount": 120,
                "module": "lasso",
                "user_id": "5f0e...",
                "resource_id": "9b81...",
                "resource_name": "Summer catalog",
                "quantity": 18,
            },
        ),
        (
            utc(2025, 1, 10, 8),
            {
                "amount": 680,
                "module": "lasso",
                "service": "ai_field",
                "user_id": "5f0e...",
                "resource_id": "9b81...",
                "quantity": 102,
            },
        ),
        (
            utc(2025, 2, 1, 8),
            {
                "amount": 820,
                "module": "lasso",
                "service": "ai_field",
                "user_id": "u2",
                "resource_id": "t2",
                "resource_name": "Winter",
                "quantity": 130,
            },
        ),
        (
            utc(2025, 2, 15, 8),
            {
                "amount": 1380,
                "module": "lasso",
                "user_id": "u2",
                "resource_id": "t3",
                "resource_name": "Spring",
                "quantity": 200,
            },
        ),
        (utc(2025, 3, 1, 8), {"amount": 1200, "module": "search", "user_id": "u3"}),
    ]
    for when, body in spends:
        clock.set(when)
        charge(api, "shop", **body)
    clock.set(utc(2025, 4, 2))
    return key


def test_catalogue_stats_reproduce_the_page(api: Api, clock: ManualClock) -> None:
    key = stats_scenario(api, clock)
    body = get(api, "/credits/stats?from=2025-01-01&to=2025-03-31", key)
    assert seeds.same_shape(seeds.CATALOGUE_STATS, body) == []
    seeds.assert_same_json(body["period"], seeds.CATALOGUE_STATS["period"])
    seeds.assert_same_json(body["summary"], seeds.CATALOGUE_STATS["summary"])
    seeds.assert_same_json(body["daily"][0], seeds.CATALOGUE_STATS["daily"][0])
    seeds.assert_same_json(body["by_module"][0], seeds.CATALOGUE_STATS["by_module"][0])
    seeds.assert_same_json(body["by_service"], seeds.CATALOGUE_STATS["by_service"])
    assert seeds.CATALOGUE_STATS["by_user"][0] in body["by_user"]
    lasso = body["lasso"]
    assert (lasso["credits_spent"], lasso["products_enhanced"], lasso["credits_per_product"]) == (
        3000,
        450,
        6.67,
    )
    assert seeds.CATALOGUE_STATS["lasso"]["by_table"][0] in lasso["by_table"]
    seeds.assert_same_json(body["currency_config"], seeds.CATALOGUE_STATS["currency_config"])


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?from=2025-01-01",
        "?to=2025-01-01",
        "?from=2025-13-01&to=2025-12-31",
        "?from=2025-01-01&to=20250102",
        "?from=2025-02-01&to=2025-01-31",
        "?from=2020-01-01&to=2025-01-05",
        "?from=2025-01-01" + "x" * 40 + "&to=2025-01-02",
        "?from=2025-01-01&to=2025-01-02%0A",
        "?from=%D9%A2%D9%A0%D9%A2%D9%A5-01-01&to=2025-01-02",  # Arabic-Indic digits
        "?from=0001-01-01&to=0001-01-02",
    ],
)
def test_catalogue_stats_400s(api: Api, query: str) -> None:
    key = account_key(api, "shop", "pro")
    response = api.client.get(f"/credits/stats{query}", headers=bearer(key))
    assert response.status_code == 400, response.text
    assert set(response.json()) == {"detail", "code"}
    assert response.json()["code"] == "invalid_period"


def test_catalogue_stats_longest_range_is_accepted(api: Api) -> None:
    key = account_key(api, "shop", "pro")
    body = get(api, "/credits/stats?from=2020-01-01&to=2025-01-03", key)  # 1830 days
    assert body["summary"]["total_spent"] == 0
    assert body["summary"]["previous_period_change_pct"] is None


@pytest.mark.parametrize(
    "path",
    [
        "/v1/user/balance",
        "/api/v1/credits/balance",
        "/api/v1/credits/transactions",
        "/api/v1/credits",
        "/credits/stats?from=2025-01-01&to=2025-01-31",
    ],
)
def test_compat_endpoints_speak_for_the_key_s_own_account_only(api: Api, path: str) -> None:
    mine = account_key(api, "mine", "pro")
    theirs = account_key(api, "theirs", "pro")
    charge(api, "theirs", amount=7)
    assert get(api, path, mine) != get(api, path, theirs)
    assert api.client.get(path).status_code == 401
    assert api.client.get(path, headers=api.operator).status_code == 403


def test_shape_comparison_catches_missing_keys_and_wrong_types() -> None:
    example = {"a": 1, "b": {"c": "x"}, "by_user": {"u": 1}, "d": None, "e": [{"f": True}]}
    assert (
        seeds.same_shape(
            example,
            {
                "a": 2,
                "b": {"c": "y"},
                "by_user": {"v": 3},
                "d": "2025-01-01T00:00:00Z",
                "e": [{"f": False}],
            },
        )
        == []
    )
    assert sorted(
        seeds.same_shape(
            example, {"a": "1", "b": {}, "by_user": {"v": "3"}, "d": 5, "e": [{"f": 1}]}
        )
    ) == [
        "$.a: number expected, got string",
        "$.b: keys ['c'] expected, got []",
        "$.by_user.v: number expected, got string",
        "$.d: null expected, got number",
        "$.e[0].f: boolean expected, got number",
    ]


def spendable(api: Api, account_id: str) -> Any:
    balance = api.ok("GET", f"/v1/accounts/{account_id}/balance")
    return balance["pools"]["credits"]["available"]


def test_lobstr_available_holds_still_while_credits_are_spent(api: Api, clock: ManualClock) -> None:
    api.ok(
        "PUT",
        "/v1/plans/monthly",
        json={"allowances": {"credits": 100}, "rollover": {"cap": 30}},
    )
    clock.set(utc(2026, 1, 1))
    key = account_key(api, "acme", "monthly")
    charge(api, "acme", amount=60)
    clock.set(utc(2026, 2, 2))  # 30 of January's 40 left roll over
    api.ok("POST", "/v1/accounts/acme/grants", json={"amount": 25, "source": "bonus"})
    seen = []
    # bonus first, then rollover, then the allowance; then a top-up bought mid-period
    for amount in (10, 20, 40, 30):
        charge(api, "acme", amount=amount)
        body = get(api, "/v1/user/balance", key)
        seen.append((body["available"], body["consumed"], body["rollover_credit"]))
        assert body["available"] + body["rollover_credit"] - body["consumed"] == spendable(
            api, "acme"
        )
    # Spending bonus, rollover or allowance moves only consumed.
    assert seen == [(125, 10, 30), (125, 30, 30), (125, 70, 30), (125, 100, 30)]
    api.ok("POST", "/v1/accounts/acme/grants", json={"amount": 50, "source": "top_up"})
    assert get(api, "/v1/user/balance", key)["available"] == 175


def test_lobstr_times_round_up_to_the_second(api: Api, clock: ManualClock) -> None:
    api.ok("PUT", "/v1/plans/daily", json={"interval": "daily", "allowances": {"credits": 5}})
    clock.set(datetime(2026, 3, 1, 9, 30, 15, 250_000, tzinfo=UTC))
    key = account_key(api, "acme", "daily")
    body = get(api, "/v1/user/balance", key)
    # the next local midnight (UTC account): no fraction to round
    assert body["reset_time"] == "2026-03-02T00:00:00Z"
    api.ok("PUT", "/v1/plans/monthly", json={"allowances": {"credits": 5}})
    api.ok("PATCH", "/v1/accounts/acme", json={"plan_id": "monthly"})
    # a plan change re-anchors the period on the instant of the change, 09:30:15.25
    assert get(api, "/v1/user/balance", key)["reset_time"] == "2026-04-01T09:30:16Z"


def test_lobstr_run_credits_answers_any_malformed_hash_as_missing(api: Api) -> None:
    key = account_key(api, "acme", "pro")
    for run_hash in ("f" * 65, "a%00b", "%20", "x" * 2000):
        response = api.client.get(f"/v1/runs/{run_hash}/credits", headers=bearer(key))
        assert response.status_code == 404, run_hash
        assert response.json() == {"detail": "Run not found."}


def test_localleads_available_is_what_a_charge_may_take(api: Api) -> None:
    api.ok("PUT", "/v1/plans/credit-line", json={"allowances": {"credits": 100}, "overdraft": 50})
    key = account_key(api, "leads", "credit-line")
    api.ok("POST", "/v1/accounts/leads/grants", json={"amount": 25, "source": "bonus"})
    charge(api, "leads", amount=30)
    for _ in range(2):
        data = get(api, "/api/v1/credits/balance", key)["data"]
        assert data["availableCredits"] == (
            data["monthlyCredits"] + data["bonusCredits"] - data["usedCredits"]
        )
        assert data["availableCredits"] == 125 + 50 - data["usedCredits"]  # 50 of overdraft
        available = data["availableCredits"]
        if available:
            # a thousandth more than availableCredits is refused; exactly it is accepted
            response = api.client.post(
                "/v1/accounts/leads/charges",
                json={"amount": str(available + 0.001)},
                headers=api.operator,
            )
            assert response.status_code == 402, response.text
            charge(api, "leads", amount=available)
    assert data["availableCredits"] == 0 and data["usedCredits"] == 175


def test_localleads_transactions_refuse_bad_paging(api: Api) -> None:
    key = account_key(api, "leads", "pro")
    for query in ("limit=0", "limit=-1", "limit=abc", "offset=-1", "offset=x"):
        body = get(api, f"/api/v1/credits/transactions?{query}", key, status=422)
        assert body["code"] == "validation_error", query
    assert get(api, "/api/v1/credits/transactions?limit=100&offset=7", key)["meta"] == {
        "total": 1,
        "limit": 100,
        "offset": 7,
    }


def test_clodura_rate_limited_answers_429_with_retry_after(api: Api) -> None:
    key = account_key(api, "max-co", "pro")
    settings = Settings(rate_limit_per_s=0.001, rate_limit_burst=2)
    with TestClient(create_app(api.ledger, settings=settings)) as client:
        statuses = [client.get("/api/v1/credits", headers={"X-API-KEY": key}) for _ in range(3)]
    assert [r.status_code for r in statuses] == [200, 200, 429]
    assert statuses[2].json()["code"] == "rate_limited"
    assert int(statuses[2].headers["retry-after"]) >= 1


def test_native_stats_give_the_catalogue_pages_figures(api: Api, clock: ManualClock) -> None:
    key = stats_scenario(api, clock)
    page = get(api, "/credits/stats?from=2025-01-01&to=2025-03-31", key)
    native = get(api, "/v1/accounts/shop/stats?from=2025-01-01&to=2025-03-31", key)
    summary = page["summary"]
    assert (native["total"], native["previous_total"], native["change_percent"]) == (
        summary["total_spent"],
        summary["previous_period_spent"],
        summary["previous_period_change_pct"],
    )
    plan = native["plan"]
    assert plan == {
        "plan_id": "business",
        "interval": "monthly",
        "credits_per_period": 50000,
        "period_end_at": "2025-04-18T00:00:00Z",
        "currency": "EUR",
        "fee": 1000,
        "cost_per_credit": 0.02,
        "prices": {"CZK": 25000, "EUR": 1000},
    }
    assert summary["cost_per_credit"]["amount"] == plan["cost_per_credit"]
    assert summary["monthly_allocation"] == plan["credits_per_period"]
    assert {t["key"]: t["credits"] for t in native["by_module"]} == {
        m["module_key"]: m["total"] for m in page["by_module"]
    }
    assert {t["key"]: t["credits"] for t in native["by_service"]} == {
        s["service_type"]: s["total"] for s in page["by_service"]
    }
    assert {t["key"]: t["credits"] for t in native["by_user"]} == {
        u["user_id"]: u["total"] for u in page["by_user"]
    }
    lasso = next(t for t in native["by_module"] if t["key"] == "lasso")
    assert (lasso["credits"], lasso["units"]) == (3000, 450)
    assert sorted(
        (r["resource_id"], r["credits"], r["units"])
        for r in native["by_resource"]
        if r["module"] == "lasso"
    ) == sorted((t["table_id"], t["total"], t["products"]) for t in page["lasso"]["by_table"])
    assert [(d["date"], d["credits"]) for d in native["daily"]] == [
        (d["date"], d["total"]) for d in page["daily"]
    ]


def test_catalogue_stats_with_other_numbers(api: Api, clock: ManualClock) -> None:
    api.ok(
        "PUT",
        "/v1/plans/team",
        json={"allowances": {"credits": 12000}, "prices": {"CZK": 3000}},
    )
    clock.set(utc(2025, 6, 1))
    key = account_key(api, "shop", "team")
    for day, body in (
        (
            3,
            {
                "amount": 100,
                "module": "lasso",
                "service": "ai_field",
                "user_id": "u1",
                "resource_id": "a",
                "resource_name": "A",
                "quantity": 30,
            },
        ),
        (
            9,
            {
                "amount": "55.5",
                "module": "lasso",
                "user_id": "u2",
                "resource_id": "b",
                "resource_name": "B",
                "quantity": 7,
            },
        ),
        (9, {"amount": 20, "module": "search", "user_id": "u1"}),
    ):
        clock.set(utc(2025, 6, day, 10))
        charge(api, "shop", **body)
    clock.set(utc(2025, 7, 2))
    body = get(api, "/credits/stats?from=2025-06-01&to=2025-06-30", key)
    # The two documented departures: no change in percent over a period that spent nothing
    # before, and one fee key per currency the plan is sold in.
    assert sorted(seeds.same_shape(seeds.CATALOGUE_STATS, body)) == [
        "$.currency_config: keys ['auto_eur', 'monthly_credits', 'monthly_fee_czk', "
        "'monthly_fee_eur'] expected, got ['auto_eur', 'monthly_credits', 'monthly_fee_czk']",
        "$.summary.previous_period_change_pct: number expected, got null",
    ]
    seeds.assert_same_json(
        body["summary"],
        {
            "total_spent": 175.5,
            "previous_period_spent": 0,
            "previous_period_change_pct": None,  # nothing spent in the 30 days before
            "monthly_allocation": 12000,
            "period_end": "2025-08-01T00:00:00.000Z",
            "cost_per_credit": {
                "amount": 0.25,
                "currency": "CZK",
                "monthly_fee": 3000,
                "monthly_credits": 12000,
            },
        },
    )
    assert [(d["date"], d["total"]) for d in body["daily"]] == [
        ("2025-06-03", 100),
        ("2025-06-09", 75.5),
    ]
    assert body["daily"][1]["by_module"] == {"lasso": 55.5, "search": 20}
    assert body["daily"][1]["by_user"] == {"u1": 20, "u2": 55.5}
    assert {m["module_key"]: m["total"] for m in body["by_module"]} == {
        "lasso": 155.5,
        "search": 20,
    }
    assert {"service_type": "ai_field", "total": 100} in body["by_service"]
    assert {u["user_id"]: u["total"] for u in body["by_user"]} == {"u1": 120, "u2": 55.5}
    lasso = body["lasso"]
    # 155.5 credits over 37 products = 4.2027... → 4.2
    assert (lasso["credits_spent"], lasso["products_enhanced"]) == (155.5, 37)
    assert lasso["credits_per_product"] == 4.2
    assert sorted(lasso["by_table"], key=lambda t: t["table_id"]) == [
        {"table_id": "a", "name": "A", "total": 100, "products": 30},
        {"table_id": "b", "name": "B", "total": 55.5, "products": 7},
    ]
    assert body["currency_config"] == {
        "monthly_fee_czk": 3000,
        "monthly_credits": 12000,
        "auto_eur": False,
    }


def test_lobstr_bonus_counts_this_periods_draws_only(api: Api, clock: ManualClock) -> None:
    api.ok("PUT", "/v1/plans/monthly", json={"allowances": {"credits": 100}})
    clock.set(utc(2026, 1, 1))
    key = account_key(api, "acme", "monthly")
    api.ok("POST", "/v1/accounts/acme/grants", json={"amount": 50, "source": "bonus"})
    charge(api, "acme", amount=20)  # January's draw on the bonus: not February's
    clock.set(utc(2026, 2, 2))
    february = api.ok("POST", "/v1/accounts/acme/charges", json={"amount": 10})
    body = get(api, "/v1/user/balance", key)
    assert (body["available"], body["consumed"], body["bonus_credit"]) == (130, 10, 30)
    api.ok("POST", f"/v1/charges/{february['charge_id']}/refund", json={})
    body = get(api, "/v1/user/balance", key)
    # the refund puts the 10 back on the bonus and takes them out of what was consumed
    assert (body["available"], body["consumed"], body["bonus_credit"]) == (130, 0, 30)
