"""The OpenAPI document: committed snapshot and reference are current, ids are sane, and every
native route of the API contract (docs/http.md) is there."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
METHODS = ("get", "put", "post", "patch", "delete")

# The native API contract (operator, then operator or the account's own key).
NATIVE_ROUTES = {
    ("PUT", "/v1/plans/{plan_id}"),
    ("GET", "/v1/plans"),
    ("PUT", "/v1/rate_cards/{rate_card_id}"),
    ("GET", "/v1/rate_cards"),
    ("POST", "/v1/accounts"),
    ("GET", "/v1/accounts"),
    ("GET", "/v1/accounts/{account_id}"),
    ("PATCH", "/v1/accounts/{account_id}"),
    ("POST", "/v1/accounts/{account_id}/api_keys"),
    ("DELETE", "/v1/api_keys/{key_id}"),
    ("POST", "/v1/accounts/{account_id}/grants"),
    ("POST", "/v1/accounts/{account_id}/charges"),
    ("POST", "/v1/charges/batch"),
    ("POST", "/v1/charges/{charge_id}/refund"),
    ("POST", "/v1/accounts/{account_id}/estimates"),
    ("POST", "/v1/runs"),
    ("POST", "/v1/runs/{run_id}/results"),
    ("POST", "/v1/runs/{run_id}/finish"),
    ("POST", "/v1/ledger/verify"),
    ("GET", "/v1/accounts/{account_id}/balance"),
    ("GET", "/v1/accounts/{account_id}/transactions"),
    ("GET", "/v1/accounts/{account_id}/stats"),
    ("GET", "/v1/accounts/{account_id}/runs"),
    ("GET", "/v1/runs/{run_id}"),
    ("GET", "/v1/runs/{run_id}/credits"),
    ("POST", "/v1/webhook_endpoints"),
    ("GET", "/v1/webhook_endpoints"),
    ("GET", "/v1/webhook_endpoints/{endpoint_id}"),
    ("PATCH", "/v1/webhook_endpoints/{endpoint_id}"),
    ("DELETE", "/v1/webhook_endpoints/{endpoint_id}"),
    ("POST", "/v1/webhook_endpoints/{endpoint_id}/rotate_secret"),
    ("GET", "/v1/webhook_endpoints/{endpoint_id}/deliveries"),
    ("POST", "/v1/webhook_deliveries/{delivery_id}/retry"),
}
# Shared paths that answer in the lobstr seed's error shape.
LOBSTR_ERRORS = {("get_run_credits", "404"): "DetailOut"}


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("openapi_script", ROOT / "scripts/openapi.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def script() -> ModuleType:
    return load_script()


@pytest.fixture(scope="module")
def schema(script: ModuleType) -> dict[str, Any]:
    built: dict[str, Any] = script.build_schema()
    return built


def routes(schema: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method in operations
        if method in METHODS
    }


def test_snapshot_matches_the_app(script: ModuleType, schema: dict[str, Any]) -> None:
    committed = json.loads(script.SNAPSHOT.read_text(encoding="utf-8"))
    assert committed == schema, (
        f"openapi.json is out of date with the app: run `{script.REGENERATE}` and commit "
        "openapi.json and docs/api.md"
    )
    assert script.SNAPSHOT.read_text(encoding="utf-8") == script.render_json(schema), (
        f"openapi.json is not formatted as generated: run `{script.REGENERATE}`"
    )


def test_reference_matches_the_snapshot(script: ModuleType) -> None:
    committed = json.loads(script.SNAPSHOT.read_text(encoding="utf-8"))
    assert script.REFERENCE.read_text(encoding="utf-8") == script.render_markdown(committed), (
        f"docs/api.md is out of date with openapi.json: run `{script.REGENERATE}`"
    )


def test_operation_ids_are_unique_snake_case(schema: dict[str, Any]) -> None:
    ids = [op["operationId"] for ops in schema["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    assert [i for i in ids if not re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", i)] == []


def test_every_operation_is_documented(schema: dict[str, Any]) -> None:
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            label = f"{method.upper()} {path}"
            assert operation.get("summary") and operation.get("description"), label
            responses = operation["responses"]
            assert any(status.startswith("2") for status in responses), label
            if operation.get("security"):
                for status in ("401", "403", "404", "409", "422", "429"):
                    content = responses[status]["content"]["application/json"]
                    model = content["schema"]["$ref"].rsplit("/", 1)[-1]
                    expected = LOBSTR_ERRORS.get((operation["operationId"], status), "ErrorOut")
                    assert model == expected, (label, status)


def test_every_native_route_of_the_design_exists(schema: dict[str, Any]) -> None:
    assert sorted(NATIVE_ROUTES - routes(schema)) == []
