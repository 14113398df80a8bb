"""The vendor endpoints answer exactly as their pages show, set up through the native API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from tests.api import seed_examples as seeds
from tests.api.conftest import Api, bearer

from creditbook import ManualClock


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
    assert body == {**seeds.LOBSTR_RUN_CREDITS, "run_id": run["run_id"]}
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
            "rollover": {"cap": 1750, "expires_after_periods": None},
        },
    )
    clock.set(utc(2024, 12, 1))
    key = account_key(api, "acme", "professional")
    clock.set(utc(2025, 1, 10))
    charge(api, "acme", amount=1550)  # rollover goes first: 1750 - 1550 = 200 left
    api.ok("POST", "/v1/runs", json={"account_id": "acme", "rate_card_id": "maps", "slots": 2})
    api.ok("POST", "/v1/runs", json={"account_id": "acme", "rate_card_id": "maps"})
    body = get(api, "/v1/user/balance", key)
    assert body == seeds.LOBSTR_BALANCE
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
    assert (body["available"], body["consumed"], body["bonus_credit"]) == (54.5, 3, 4.5)
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
    assert get(api, "/api/v1/credits/balance", key) == seeds.LOCALLEADS_BALANCE

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
        assert response.json() == seeds.CLODURA_SEPARATE
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
    assert body["period"] == seeds.CATALOGUE_STATS["period"]
    assert body["summary"] == seeds.CATALOGUE_STATS["summary"]
    assert body["daily"][0] == seeds.CATALOGUE_STATS["daily"][0]
    assert body["by_module"][0] == seeds.CATALOGUE_STATS["by_module"][0]
    assert body["by_service"] == seeds.CATALOGUE_STATS["by_service"]
    assert seeds.CATALOGUE_STATS["by_user"][0] in body["by_user"]
    lasso = body["lasso"]
    assert (lasso["credits_spent"], lasso["products_enhanced"], lasso["credits_per_product"]) == (
        3000,
        450,
        6.67,
    )
    assert seeds.CATALOGUE_STATS["lasso"]["by_table"][0] in lasso["by_table"]
    assert body["currency_config"] == seeds.CATALOGUE_STATS["currency_config"]


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
    ],
)
def test_catalogue_stats_400s(api: Api, query: str) -> None:
    key = account_key(api, "shop", "pro")
    response = api.client.get(f"/credits/stats{query}", headers=bearer(key))
    assert response.status_code == 400, response.text
    assert set(response.json()) == {"detail", "code"}


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
