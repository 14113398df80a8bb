"""Property-based tests of the API against its own OpenAPI document (schemathesis, in-process).

With an operator key (an account key on the compat endpoints), on both databases:
- every operation, with data the schema allows, passes every schemathesis check: no 5xx,
  documented status codes, content types, headers and bodies, and schema-valid data accepted
  (or refused with a business code the operation documents: 402, 404, 409, 422, and 400 where
  the contract says so);
- every operation refuses data the schema forbids with a 4xx, never a 5xx;
- sequences of calls linked by earlier answers (the stateful phase, with the links schemathesis
  infers) pass the same checks, the key-revoking operation left out.
Without a key every operation but the health check, the metrics and Stripe's signed
notifications answers 401.

Path parameters and ids in bodies are mostly drawn from objects that exist (an account, a
run, a charge, a key, a pack), so the operations get past "not found" and into their logic.
Payments talk to a local Stripe stand-in.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.stateful import run_state_machine_as_test
from schemathesis.specs.openapi.schemas import OpenApiSchema
from tests.api.conftest import PLAN, RATE_CARD, Api, bearer
from tests.conftest import BACKENDS, START, truncate_all
from tests.stripe_fake import API_KEY, WEBHOOK_SECRET, FakeStripe
from tests.stripe_fake import serve as serve_stripe

from creditbook import Ledger, ManualClock, StripeSettings
from creditbook.api.app import create_app
from creditbook.settings import Settings
from creditbook.store.database import make_engine

Case = schemathesis.Case[Any]
Operation = schemathesis.APIOperation[Any, Any, Any, Any]
MAX_EXAMPLES = 8  # generated cases per operation (plus its documented examples)
STATEFUL_RUNS = 30  # sequences of up to 8 linked calls
# One test per operation, named from the committed snapshot (test_openapi.py keeps it equal to
# the app's document); the cases themselves come from the document the app serves.
SNAPSHOT = Path(__file__).resolve().parents[2] / "openapi.json"
OPERATION_IDS = [
    operation["operationId"]
    for operations in json.loads(SNAPSHOT.read_text(encoding="utf-8"))["paths"].values()
    for operation in operations.values()
]
PUBLIC_PATHS = {"/healthz", "/metrics"}
# Verified by Stripe's signature, not a key: without one it answers 400 `invalid_signature`.
SIGNED_PATHS = {"/v1/integrations/stripe/webhook"}
# Every check runs. Data the schema allows may still be refused by the ledger's rules, with
# the codes the operations document: 402 (cannot pay), 404 (no such object), 409 (state,
# idempotency), 422 (a business rule: an amount out of range, a pool the plan lacks).
BUSINESS_REFUSALS = ["2XX", "402", "404", "409", "422"]
# And 400 where the contract says so: the catalogue seed's period errors, a Stripe
# notification without its signature.
REFUSED_WITH_400 = ("catalogue_stats", "receive_stripe_webhook")
NEGATIVE_CHECKS = ("not_a_server_error", "negative_data_rejection", "content_type_conformance")
HYPOTHESIS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


@dataclass
class Seeded:
    """Objects for the generated requests to find, by kind, and the account's own key."""

    dictionaries: dict[str, list[str]]
    account_key: str


def seed(api: Api) -> Seeded:
    keys = api.account("acme")
    api.ok("PUT", "/v1/credit_packs/credits-1000", json={"credits": 1000, "prices": {"usd": 900}})
    key_id = api.ok("POST", "/v1/accounts/acme/api_keys", json={"scope": "read"})["key_id"]
    charge = api.ok("POST", "/v1/accounts/acme/charges", json={"amount": 5})
    run = api.ok("POST", "/v1/runs", json={"account_id": "acme", "rate_card_id": "maps"})
    dictionaries = {
        "accounts": ["acme"],
        "plans": ["pro"],
        "rate_cards": ["maps"],
        "functions": ["get_phone_numbers"],
        "runs": [run["run_id"]],
        "charges": [charge["charge_id"]],
        "keys": [key_id],
        "packs": ["credits-1000"],
    }
    return Seeded(dictionaries, keys.write)


def bindings(probability: float) -> dict[str, Any]:
    def bound(dictionary: str) -> dict[str, Any]:
        return {"dictionary": dictionary, "probability": probability}

    return {
        "path.account_id": bound("accounts"),
        "path.plan_id": bound("plans"),
        "path.rate_card_id": bound("rate_cards"),
        "path.run_id": bound("runs"),
        "path.charge_id": bound("charges"),
        "path.key_id": bound("keys"),
        "path.pack_id": bound("packs"),
        "body.pack_id": bound("packs"),
        "body.account_id": bound("accounts"),
        "body.items[*].account_id": bound("accounts"),
        "body.plan_id": bound("plans"),
        "body.rate_card_id": bound("rate_cards"),
        "body.items[*].rate_card_id": bound("rate_cards"),
        "body.function": bound("functions"),
    }


def config(
    dictionaries: dict[str, list[str]],
    probability: float,
    mode: str = "positive",
    *,
    stateful: bool = False,
    **extra: Any,
) -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "dictionaries": {name: {"values": values} for name, values in dictionaries.items()},
            "parameters": bindings(probability),
            # Keys are sent explicitly (or not at all), never generated from the security schemes.
            "generation": {
                "mode": mode,
                "max-examples": MAX_EXAMPLES,
                "with-security-parameters": False,
            },
            "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": stateful}},
            **extra,
        }
    )


def load(api: Api, settings: schemathesis.Config) -> OpenApiSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", api.client.app, config=settings)


@pytest.fixture(scope="module")
def fake_stripe() -> Iterator[FakeStripe]:
    yield from serve_stripe(FakeStripe())


@pytest.fixture(scope="module", params=BACKENDS)
def service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Api]:
    """One app per backend for the whole module, so state builds up across operations (the
    `api` fixture of conftest, module-scoped)."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("schemathesis") / "creditbook.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("postgres_database_url")
        engine = make_engine(url)
        truncate_all(engine)
        engine.dispose()
    # Payments reach a local Stripe stand-in, so Checkout gets past configuration.
    fake = request.getfixturevalue("fake_stripe")
    stripe = StripeSettings(api_key=API_KEY, webhook_secret=WEBHOOK_SECRET, api_base=fake.url)
    ledger = Ledger(make_engine(url), ManualClock(START), stripe=stripe)
    # The fuzzer sends many wrong keys from one address: no failed-authentication limit.
    settings = Settings(rate_limit_per_s=10_000, rate_limit_burst=10_000, auth_failure_limit=10**9)
    app = create_app(ledger, settings)
    operator = ledger.create_key(None, scope="operator").secret
    assert operator is not None
    try:
        with TestClient(app) as client:
            api = Api(client, ledger, operator)
            api.ok("PUT", "/v1/plans/pro", json=PLAN)
            api.ok("PUT", "/v1/rate_cards/maps", json=RATE_CARD)
            yield api
    finally:
        ledger.close()


@pytest.fixture(scope="module")
def seeded(service: Api) -> Seeded:
    return seed(service)


@pytest.fixture(scope="module")
def operator_schema(service: Api, seeded: Seeded) -> OpenApiSchema:
    return load(service, positive_config(seeded))


def positive_config(seeded: Seeded, *, stateful: bool = False) -> schemathesis.Config:
    """Every check; business refusals accepted where the operations document them."""
    return config(
        seeded.dictionaries,
        0.8,
        stateful=stateful,
        checks={
            "enabled": True,
            "positive_data_acceptance": {"expected-statuses": BUSINESS_REFUSALS},
        },
        operations=[
            {
                "include-operation-id": operation_id,
                "checks": {
                    "positive_data_acceptance": {"expected-statuses": [*BUSINESS_REFUSALS, "400"]}
                },
            }
            for operation_id in REFUSED_WITH_400
        ]
        + [
            # An account's auto-recharge is its setting, not an object of its own: after
            # DELETE, GET answers the account's (empty) settings, not 404.
            {
                "include-operation-id": "get_auto_recharge",
                "checks": {"use_after_free": {"enabled": False}},
            }
        ],
    )


@pytest.fixture(scope="module")
def negative_schema(service: Api, seeded: Seeded) -> OpenApiSchema:
    """Requests the schema forbids (a wrong type, a missing field, a value out of bounds)."""
    checks = {"enabled": False, **{name: {"enabled": True} for name in NEGATIVE_CHECKS}}
    return load(service, config(seeded.dictionaries, 0.8, "negative", checks=checks))


@pytest.fixture(scope="module")
def anonymous_schema(service: Api, seeded: Seeded) -> OpenApiSchema:
    # Real ids only: a path that no longer matches a route would answer 404 before auth.
    return load(service, config(seeded.dictionaries, 1.0))


def run(
    operation: Operation, test: Callable[[Case], None], max_examples: int = MAX_EXAMPLES
) -> None:
    """`test` on the operation's documented examples, then on generated cases.

    Plain Hypothesis over schemathesis strategies: `schemathesis.pytest.from_fixture` (needed
    for a per-backend app) fails under pytest 9 (it sets `Item._nodeid`, which is gone).
    """
    for strategy in [*operation.get_strategies_from_examples(), operation.as_strategy()]:

        @settings(HYPOTHESIS, max_examples=max_examples)
        @given(case=strategy)
        def property_test(case: Case) -> None:
            test(case)

        property_test()


@pytest.mark.parametrize("operation_id", OPERATION_IDS)
def test_operation_conforms_to_the_schema(
    service: Api, seeded: Seeded, operator_schema: OpenApiSchema, operation_id: str
) -> None:
    operation = operator_schema.find_operation_by_id(operation_id)
    # The compat endpoints speak for the caller's own account: they take an account key.
    key = seeded.account_key if "compat" in (operation.tags or []) else service.operator_key

    def test(case: Case) -> None:
        case.call_and_validate(headers=bearer(key))

    run(operation, test)


@pytest.mark.parametrize("operation_id", OPERATION_IDS)
def test_operation_refuses_what_the_schema_forbids(
    service: Api, seeded: Seeded, negative_schema: OpenApiSchema, operation_id: str
) -> None:
    """A request outside the schema is refused with a 4xx (never accepted, never a 5xx)."""
    operation = negative_schema.find_operation_by_id(operation_id)
    key = seeded.account_key if "compat" in (operation.tags or []) else service.operator_key

    def test(case: Case) -> None:
        case.call_and_validate(headers=bearer(key))

    run(operation, test)


@pytest.mark.parametrize("operation_id", OPERATION_IDS)
def test_operation_needs_a_key(anonymous_schema: OpenApiSchema, operation_id: str) -> None:
    def test(case: Case) -> None:
        response = case.call()
        expected = 200 if case.path in PUBLIC_PATHS else 400 if case.path in SIGNED_PATHS else 401
        assert response.status_code == expected, (case.method, case.formatted_path, response.text)
        if expected == 401:
            assert response.json()["code"] == "unauthenticated"
        if expected == 400:
            assert response.json()["code"] == "invalid_signature"

    # Refusal comes before any parsing, so a few cases per operation say enough.
    run(anonymous_schema.find_operation_by_id(operation_id), test, max_examples=3)


@pytest.mark.slow
def test_sequences_of_operations_conform(service: Api, seeded: Seeded) -> None:
    """The stateful phase: sequences of calls linked by what earlier answers returned (an
    account opened, then charged, its run started and finished, an endpoint created then
    rotated…), every answer checked as above. Revoking keys is left out: it would revoke the
    key the sequence runs with."""
    stateful = load(service, positive_config(seeded, stateful=True))
    schema = stateful.exclude(operation_id="revoke_api_key")
    machine = schema.as_state_machine()
    operator = service.operator_key

    class AsOperator(machine):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case: Case) -> dict[str, Any]:
            return {"headers": bearer(operator)}

    run_state_machine_as_test(
        AsOperator, settings=settings(HYPOTHESIS, max_examples=STATEFUL_RUNS, stateful_step_count=8)
    )
