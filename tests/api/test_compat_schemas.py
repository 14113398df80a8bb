"""The compat endpoints' 200 schemas in openapi.json describe what they really answer.

Real responses (including both Clodura pool shapes, decimals, nulls and empty lists) are
validated against the committed document's schema for their operation, with `$ref`s resolved
against its components; so are the documented examples, which are the pages' own. The
schemas forbid unknown keys, so a key added to a response without its schema fails here.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from tests.api import seed_examples as seeds
from tests.api.conftest import Api, bearer
from tests.api.test_compat import account_key, charge, seeds_card, stats_scenario, utc

from creditbook import ManualClock

SNAPSHOT = Path(__file__).resolve().parents[2] / "openapi.json"
# operation id -> (path, the seed example its documented example must equal)
COMPAT = {
    "get_run_credits": ("/v1/runs/{run_id}/credits", None),
    # FastAPI drops nulls from the document: the example shows an expiry instead of null.
    "lobstr_user_balance": (
        "/v1/user/balance",
        {**seeds.LOBSTR_BALANCE, "rollover_credit_expires_at": "2025-03-01T00:00:00Z"},
    ),
    "localleads_balance": ("/api/v1/credits/balance", seeds.LOCALLEADS_BALANCE),
    "localleads_transactions": ("/api/v1/credits/transactions", seeds.LOCALLEADS_TRANSACTIONS),
    "clodura_credits": ("/api/v1/credits", None),
    "catalogue_stats": ("/credits/stats", seeds.CATALOGUE_STATS),
}


@cache
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    return loaded


def media(operation_id: str) -> dict[str, Any]:
    path, _ = COMPAT[operation_id]
    operation = document()["paths"][path]["get"]
    assert operation["operationId"] == operation_id
    found: dict[str, Any] = operation["responses"]["200"]["content"]["application/json"]
    return found


def validator(schema: dict[str, Any]) -> jsonschema_rs.Validator:
    """A 2020-12 validator (OpenAPI 3.1) whose `#/components/...` refs resolve in the
    document; formats (date, date-time) are checked too."""
    return jsonschema_rs.Draft202012Validator(
        {**schema, "components": document()["components"]}, validate_formats=True
    )


@cache
def _validator_for(operation_id: str) -> jsonschema_rs.Validator:
    return validator(media(operation_id)["schema"])


def problems(operation_id: str, body: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, error.instance_path)) or '$'}: {error.message}"
        for error in _validator_for(operation_id).iter_errors(body)
    ]


def component(name: str) -> dict[str, Any]:
    found: dict[str, Any] = document()["components"]["schemas"][name]
    return found


def ref_name(schema: dict[str, Any]) -> str:
    ref: str = schema["$ref"]
    return ref.rsplit("/", 1)[-1]


def get(api: Api, path: str, key: str) -> Any:
    response = api.client.get(path, headers=bearer(key))
    assert response.status_code == 200, response.text
    return response.json()


def check(operation_id: str, body: Any) -> Any:
    assert problems(operation_id, body) == [], json.dumps(body)
    return body


# -- the document ---------------------------------------------------------------------------


def referenced(schema: Any) -> set[str]:
    """Component names a schema refers to, transitively."""
    names: set[str] = set()
    pending = [schema]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            if "$ref" in item and ref_name(item) not in names:
                names.add(ref_name(item))
                pending.append(component(ref_name(item)))
            pending += [v for k, v in item.items() if k != "$ref"]
        elif isinstance(item, list):
            pending += item
    return names


@pytest.mark.parametrize("operation_id", sorted(COMPAT))
def test_each_compat_operation_documents_its_200_body(operation_id: str) -> None:
    schema = media(operation_id)["schema"]
    assert "$ref" in schema, schema  # a named model, not the empty schema
    models = referenced(schema)
    for name in sorted(models):
        model = component(name)
        if "properties" not in model:  # a union (Clodura): its members are checked
            assert "oneOf" in model and model.get("description"), name
            continue
        undocumented = [p for p, s in model["properties"].items() if not s.get("description")]
        assert undocumented == [], name
        if operation_id != "get_run_credits":  # the native model also parses the SDK's input
            assert model.get("additionalProperties") is False, name
            assert model["required"] == list(model["properties"]), name


def test_clodura_documents_both_shapes_as_exclusive_alternatives() -> None:
    union = component(ref_name(media("clodura_credits")["schema"]))
    assert [ref_name(part) for part in union["oneOf"]] == [
        "CloduraSeparateOut",
        "CloduraUnifiedOut",
    ]
    assert list(component("CloduraSeparateOut")["properties"]) == list(seeds.CLODURA_SEPARATE)
    assert list(component("CloduraUnifiedOut")["properties"]) == ["remainingCredits"]


@pytest.mark.parametrize("operation_id", sorted(COMPAT))
def test_documented_examples_are_the_pages_and_fit_the_schema(operation_id: str) -> None:
    found = media(operation_id)
    _, seed = COMPAT[operation_id]
    if operation_id == "clodura_credits":
        examples = {name: e["value"] for name, e in found["examples"].items()}
        assert examples == {
            "separate": seeds.CLODURA_SEPARATE,
            "unified": {"remainingCredits": 700},
        }
    elif seed is not None:
        examples = {"example": found["example"]}
        assert found["example"] == seed
        assert list(found["example"]) == list(seed)  # key order as on the page
    else:  # run credits: the native route documents no example; the page's must fit
        examples = {"page": seeds.LOBSTR_RUN_CREDITS}
        seed = seeds.LOBSTR_RUN_CREDITS
    for example in examples.values():
        check(operation_id, example)
    # The page's keys are the documented properties, in the page's order.
    if operation_id != "clodura_credits":
        model = component(ref_name(found["schema"]))
        assert list(model["properties"]) == list(seed)


def test_the_schemas_refuse_other_shapes() -> None:
    """The validation below is worth something: wrong shapes fail it."""
    assert problems("clodura_credits", {**seeds.CLODURA_SEPARATE, "remainingCredits": 1}) != []
    assert problems("clodura_credits", {**seeds.CLODURA_SEPARATE, "maxContacts": 1000}) != []
    assert problems("clodura_credits", {"remainingCredits": "700"}) != []
    assert problems("lobstr_user_balance", {**seeds.LOBSTR_BALANCE, "extra": 1}) != []
    assert problems("lobstr_user_balance", {**seeds.LOBSTR_BALANCE, "used_slots": 1.5}) != []
    assert (
        problems("lobstr_user_balance", {**seeds.LOBSTR_BALANCE, "reset_time": "2025-02-01"}) != []
    )
    wrong_time = {**seeds.LOCALLEADS_BALANCE["data"], "lastResetAt": "2026-05-01T00:00:00Z"}
    assert problems("localleads_balance", {"success": True, "data": wrong_time}) != []
    held = {**seeds.LOCALLEADS_TRANSACTIONS["data"][0], "type": "HOLD"}
    body = {**seeds.LOCALLEADS_TRANSACTIONS, "data": [held]}
    assert problems("localleads_transactions", body) != []
    stats = json.loads(json.dumps(seeds.CATALOGUE_STATS))
    stats["currency_config"]["monthly_fee_euro"] = 1
    assert problems("catalogue_stats", stats) != []
    del stats["currency_config"]["monthly_fee_euro"]
    del stats["lasso"]["by_table"][0]["products"]
    assert problems("catalogue_stats", stats) != []


# -- real responses -------------------------------------------------------------------------


def test_run_credits_responses_fit_the_schema(api: Api) -> None:
    key = account_key(api, "acme", "pro")
    card = seeds_card()
    api.ok("PUT", "/v1/rate_cards/seed", json=card)
    card["credits_per_row"] = "0.5"
    card["base_label"] = None
    card["filters"] = {"geo_match": {"display": "Geo match", "credits_per_row": "0.25"}}
    api.ok("PUT", "/v1/rate_cards/cheap", json=card)
    for rate_card_id, filters in (("seed", []), ("cheap", ["geo_match"])):
        run = api.ok(
            "POST",
            "/v1/runs",
            json={"account_id": "acme", "rate_card_id": rate_card_id, "active_filters": filters},
        )
        path = f"/v1/runs/{run['run_id']}/credits"
        check("get_run_credits", get(api, path, key))  # before any results
        api.ok(
            "POST",
            f"/v1/runs/{run['run_id']}/results",
            json={
                "rows_kept": 9,
                "functions": {"get_phone_numbers": {"attempts": 9, "successes": 1}},
            },
        )
        body = check("get_run_credits", get(api, path, key))
    assert body["base_function_label"] is None
    assert body["filter_breakdown"][0]["credits"] == 2.25


def test_lobstr_balance_responses_fit_the_schema(api: Api, clock: ManualClock) -> None:
    api.ok(
        "PUT",
        "/v1/plans/daily",
        json={
            "interval": "daily",
            "allowances": {"credits": 50},
            "rollover": {"cap": 10},
            "slots": 3,
        },
    )
    clock.set(utc(2025, 3, 1, 12))
    key = account_key(api, "acme", "daily", timezone="Europe/Prague")
    fresh = check("lobstr_user_balance", get(api, "/v1/user/balance", key))
    assert fresh["rollover_credit_expires_at"] is None
    api.ok("POST", "/v1/accounts/acme/grants", json={"amount": "7.5", "source": "bonus"})
    clock.set(utc(2025, 3, 2, 12))
    charge(api, "acme", amount=3)
    api.ok("POST", "/v1/runs", json={"account_id": "acme", "rate_card_id": "maps", "slots": 2})
    body = check("lobstr_user_balance", get(api, "/v1/user/balance", key))
    assert body["rollover_credit_expires_at"] is not None
    assert (body["available"], body["used_slots"]) == (57.5, 2)


def test_localleads_responses_fit_the_schemas(api: Api, clock: ManualClock) -> None:
    api.ok("PUT", "/v1/plans/starter", json={"allowances": {"credits": 100}})
    clock.set(utc(2026, 5, 1))
    key = account_key(api, "leads", "starter")
    empty = account_key(api, "empty", "starter")
    api.ok("POST", "/v1/accounts/leads/grants", json={"amount": "2.5", "source": "top_up"})
    clock.set(utc(2026, 5, 3, 8, 30, 0))
    charge(api, "leads", amount="12.125", description="Lead search")
    charge(api, "leads", amount=1)
    api.ok("POST", "/v1/runs", json={"account_id": "leads", "rate_card_id": "maps", "hold": 5})
    check("localleads_balance", get(api, "/api/v1/credits/balance", key))
    check("localleads_balance", get(api, "/api/v1/credits/balance", empty))
    for query in ("", "?limit=2&offset=1", "?limit=500", "?offset=1000"):
        check("localleads_transactions", get(api, f"/api/v1/credits/transactions{query}", key))
    nothing = check("localleads_transactions", get(api, "/api/v1/credits/transactions", empty))
    assert [t["type"] for t in nothing["data"]] == ["MONTHLY_RESET"]


@pytest.mark.parametrize(
    ("allowances", "shape"),
    [
        ({"contact_views": 1000, "direct_dials": 200}, "CloduraSeparateOut"),
        ({"contact_views": "1000.5", "direct_dials": "0.5"}, "CloduraSeparateOut"),
        ({"credits": 750}, "CloduraUnifiedOut"),
        ({"credits": 750, "contact_views": 10}, "CloduraUnifiedOut"),
    ],
)
def test_clodura_responses_fit_the_schema_in_both_shapes(
    api: Api, allowances: dict[str, Any], shape: str
) -> None:
    api.ok("PUT", "/v1/plans/clodura", json={"allowances": allowances})
    key = account_key(api, "acme", "clodura")
    for pool in allowances:
        charge(api, "acme", amount="0.25", pool=pool)
    body = check("clodura_credits", get(api, "/api/v1/credits", key))
    # It is the expected alternative, and only that one.
    matching = [
        ref_name(part)
        for part in component("CloduraCreditsOut")["oneOf"]
        if validator(part).is_valid(body)
    ]
    assert matching == [shape], body


def test_catalogue_stats_responses_fit_the_schema(api: Api, clock: ManualClock) -> None:
    key = stats_scenario(api, clock)
    full = check("catalogue_stats", get(api, "/credits/stats?from=2025-01-01&to=2025-03-31", key))
    assert full["currency_config"]["monthly_fee_czk"] == 25000
    check("catalogue_stats", get(api, "/credits/stats?from=2024-11-01&to=2024-11-30", key))
    # No prices, no spend: nulls and empty lists.
    bare = account_key(api, "bare", "pro")
    body = check("catalogue_stats", get(api, "/credits/stats?from=2025-01-01&to=2025-01-31", bare))
    assert body["summary"]["cost_per_credit"] == {
        "amount": None,
        "currency": None,
        "monthly_fee": None,
        "monthly_credits": 100,
    }
    assert body["summary"]["previous_period_change_pct"] is None
    assert body["daily"] == body["lasso"]["by_table"] == []
