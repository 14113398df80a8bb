"""Who may call what: every endpoint of the app × every kind of caller, on account A's objects.

The table below is the contract. The endpoints are read from `app.routes`, so a new endpoint
without a row fails `test_every_endpoint_has_a_row`. Rules:

- no key, or a key we never issued: 401 `unauthenticated`;
- a revoked key: 403 `key_revoked`;
- a read key on a write endpoint, any account key on an operator endpoint: 403 `forbidden`;
- another account's key on A's object: 404, byte for byte the answer for a missing object;
- the operator: 2xx everywhere, except on the compat endpoints (the vendors' paths), which
  speak for the caller's own account and so need an account key (the operator gets 403).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import Mount, Route
from tests.api.conftest import AccountKeys, Api
from tests.conftest import START
from tests.stripe_fake import API_KEY, WEBHOOK_SECRET, FakeStripe
from tests.stripe_fake import serve as serve_stripe
from tests.webhook_events import add_events

from creditbook import CreditPack, Credits, StripeSettings
from creditbook.dashboard import MOUNT_PATH as DASHBOARD
from creditbook.engine.keys import new_token
from creditbook.engine.payments.stripe_api import StripeGateway

A = "acct-a"
B = "acct-b"
PLAN = "matrix"
MISSING_ACCOUNT = "acct-missing"
RUN_CREDITS = "/v1/runs/{run_id}/credits"  # lobstr's path: its 404 is lobstr's shape
ENDPOINT = "/v1/webhook_endpoints/{endpoint_id}"
HOOK_URL = "http://127.0.0.1:9/hooks"  # nothing listens: deliveries stay pending
PACK = CreditPack("matrix-pack", Credits.of(10), {"usd": 100})


@pytest.fixture(autouse=True)
def stripe(api: Api) -> Iterator[FakeStripe]:
    """Payments reach a local Stripe stand-in, so that authorised calls succeed."""
    for fake in serve_stripe(FakeStripe()):
        api.ledger.payments.gateway = StripeGateway(
            StripeSettings(api_key=API_KEY, webhook_secret=WEBHOOK_SECRET, api_base=fake.url)
        )
        yield fake


CALLERS = ("operator", "write", "read", "other", "revoked", "unknown", "none")
OPEN = (200, 200, 200, 200, 200, 200, 200)
OPERATOR_ONLY = (200, 403, 403, 403, 403, 401, 401)
OPERATOR_ONLY_CREATE = (201, 403, 403, 403, 403, 401, 401)
READ = (200, 200, 200, 404, 403, 401, 401)
WRITE = (200, 200, 403, 404, 403, 401, 401)
WRITE_CREATE = (201, 201, 403, 404, 403, 401, 401)
ANY_KEY = (200, 200, 200, 200, 403, 401, 401)
ACCOUNT_KEY = (403, 200, 200, 200, 403, 401, 401)  # compat: B's key reads B's own account
SIGNED = (400, 400, 400, 400, 400, 400, 400)  # Stripe's signature, not a key: none here

# Callers: operator key; A's write key; A's read key; B's write key ("other"); A's revoked
# write key; a well-formed key that was never issued ("unknown"); no key at all ("none").
# fmt: off
MATRIX: dict[tuple[str, str], tuple[int, ...]] = {
    #                                                 operator write read other revoked unknown none
    ("GET",    "/healthz"):                              OPEN,
    ("GET",    "/metrics"):                              OPEN,
    ("GET",    "/openapi.json"):                         OPEN,
    ("GET",    "/docs"):                                 OPEN,
    ("GET",    "/docs/oauth2-redirect"):                 OPEN,
    ("GET",    "/redoc"):                                OPEN,
    ("PUT",    "/v1/plans/{plan_id}"):                   OPERATOR_ONLY,
    ("GET",    "/v1/plans"):                             OPERATOR_ONLY,
    ("PUT",    "/v1/rate_cards/{rate_card_id}"):         OPERATOR_ONLY,
    ("GET",    "/v1/rate_cards"):                        OPERATOR_ONLY,
    ("POST",   "/v1/accounts"):                          OPERATOR_ONLY_CREATE,
    ("GET",    "/v1/accounts"):                          OPERATOR_ONLY,
    ("GET",    "/v1/accounts/{account_id}"):             READ,
    ("PATCH",  "/v1/accounts/{account_id}"):             OPERATOR_ONLY,
    ("POST",   "/v1/accounts/{account_id}/api_keys"):    OPERATOR_ONLY_CREATE,
    ("GET",    "/v1/api_keys/current"):                  ANY_KEY,
    ("DELETE", "/v1/api_keys/{key_id}"):                 OPERATOR_ONLY,
    ("POST",   "/v1/accounts/{account_id}/grants"):      OPERATOR_ONLY_CREATE,
    ("POST",   "/v1/charges/{charge_id}/refund"):        OPERATOR_ONLY_CREATE,
    ("POST",   "/v1/ledger/verify"):                     OPERATOR_ONLY,
    ("POST",   "/v1/accounts/{account_id}/charges"):     WRITE_CREATE,
    ("POST",   "/v1/charges/batch"):                     WRITE,
    ("POST",   "/v1/accounts/{account_id}/estimates"):   READ,
    ("POST",   "/v1/runs"):                              WRITE_CREATE,
    ("POST",   "/v1/runs/{run_id}/results"):             WRITE,
    ("POST",   "/v1/runs/{run_id}/finish"):              WRITE,
    ("GET",    "/v1/accounts/{account_id}/balance"):     READ,
    ("GET",    "/v1/accounts/{account_id}/transactions"): READ,
    ("GET",    "/v1/accounts/{account_id}/stats"):       READ,
    ("GET",    "/v1/accounts/{account_id}/runs"):        READ,
    ("GET",    "/v1/runs/{run_id}"):                     READ,
    ("GET",    RUN_CREDITS):                             READ,
    ("GET",    "/v1/events"):                            READ,
    ("GET",    "/v1/events/{event_id}"):                 READ,
    ("PUT",    "/v1/accounts/{account_id}/alerts"):      WRITE,
    ("GET",    "/v1/accounts/{account_id}/alerts"):      READ,
    ("GET",    "/v1/user/balance"):                      ACCOUNT_KEY,
    ("GET",    "/api/v1/credits/balance"):               ACCOUNT_KEY,
    ("GET",    "/api/v1/credits/transactions"):          ACCOUNT_KEY,
    ("GET",    "/api/v1/credits"):                       ACCOUNT_KEY,
    ("GET",    "/credits/stats"):                        ACCOUNT_KEY,
    ("POST",   "/v1/webhook_endpoints"):                 OPERATOR_ONLY_CREATE,
    ("GET",    "/v1/webhook_endpoints"):                 OPERATOR_ONLY,
    ("GET",    ENDPOINT):                                OPERATOR_ONLY,
    ("PATCH",  ENDPOINT):                                OPERATOR_ONLY,
    ("DELETE", ENDPOINT):                                OPERATOR_ONLY,
    ("POST",   f"{ENDPOINT}/rotate_secret"):             OPERATOR_ONLY,
    ("GET",    f"{ENDPOINT}/deliveries"):                OPERATOR_ONLY,
    ("POST",   "/v1/webhook_deliveries/{delivery_id}/retry"): OPERATOR_ONLY,
    ("PUT",    "/v1/credit_packs/{pack_id}"):            OPERATOR_ONLY,
    ("GET",    "/v1/credit_packs"):                      ANY_KEY,
    ("GET",    "/v1/credit_packs/{pack_id}"):            ANY_KEY,
    ("POST",   "/v1/accounts/{account_id}/checkout_sessions"): WRITE_CREATE,
    ("PUT",    "/v1/accounts/{account_id}/auto_recharge"): WRITE,
    ("DELETE", "/v1/accounts/{account_id}/auto_recharge"): WRITE,
    ("GET",    "/v1/accounts/{account_id}/auto_recharge"): READ,
    ("GET",    "/v1/accounts/{account_id}/payments"):    READ,
    ("POST",   "/v1/integrations/stripe/webhook"):       SIGNED,
}
# fmt: on
EXPECTED: dict[tuple[str, str], dict[str, int]] = {
    route: dict(zip(CALLERS, statuses, strict=True)) for route, statuses in MATRIX.items()
}
HEADER_STYLES: dict[str, Callable[[str], dict[str, str]]] = {
    "bearer": lambda key: {"Authorization": f"Bearer {key}"},
    "token": lambda key: {"Authorization": f"Token {key}"},
    "x-api-key": lambda key: {"X-API-KEY": key},
}


@dataclass(frozen=True)
class Call:
    """One request. `subject` is the id of A's object in it (or of the missing object)."""

    path: str
    json: Any = None
    params: dict[str, str] = field(default_factory=dict)
    subject: str | None = None


@dataclass
class World:
    """Accounts A and B on a roomy plan, a run of A's with results, every kind of key."""

    api: Api
    a: AccountKeys
    b: AccountKeys
    revoked: str
    unknown: str
    run_id: str
    missing_run: str = field(default_factory=lambda: secrets.token_hex(16))
    missing_charge: str = field(default_factory=lambda: f"txn_{secrets.token_hex(12)}")
    missing_key: str = field(default_factory=lambda: f"key_{secrets.token_hex(8)}")
    endpoint_id: str = ""
    delivery_id: str = ""

    @classmethod
    def set_up(cls, api: Api) -> World:
        api.ok("PUT", f"/v1/plans/{PLAN}", json={"allowances": {"credits": 100_000}, "slots": 500})
        a, b = api.account(A, plan_id=PLAN), api.account(B, plan_id=PLAN)
        revoked = api.ledger.create_key(A, scope="write")
        api.ledger.revoke_key(revoked.key.key_id)
        assert revoked.secret is not None
        run_id = api.ledger.start_run(A, "maps").run_id
        api.ledger.report_results(A, run_id, rows_kept=3, functions={"get_phone_numbers": (2, 1)})
        world = cls(api, a, b, revoked.secret, new_token()[1], run_id)
        world.endpoint_id, world.delivery_id = _webhook_delivery(api)
        api.ledger.payments.put_pack(PACK)
        return world

    def key(self, caller: str) -> str | None:
        return {
            "operator": self.api.operator_key,
            "write": self.a.write,
            "read": self.a.read,
            "other": self.b.write,
            "revoked": self.revoked,
            "unknown": self.unknown,
            "none": None,
        }[caller]

    def headers(self, caller: str, style: str = "bearer") -> dict[str, str]:
        key = self.key(caller)
        return {} if key is None else HEADER_STYLES[style](key)

    # A's objects, made fresh where a successful call uses them up.

    def account(self, missing: bool) -> str:
        return MISSING_ACCOUNT if missing else A

    def run(self, missing: bool) -> str:
        return self.missing_run if missing else self.run_id

    def fresh_run(self, missing: bool) -> str:
        return self.missing_run if missing else self.api.ledger.start_run(A, "maps").run_id

    def fresh_charge(self, missing: bool) -> str:
        if missing:
            return self.missing_charge
        return self.api.ledger.charge(account_id=A, amount=Credits.of(1)).charge_id

    def fresh_key(self, missing: bool) -> str:
        return self.missing_key if missing else self.api.ledger.create_key(A).key.key_id


def _webhook_delivery(api: Api) -> tuple[str, str]:
    """An endpoint with one (pending) delivery of an event of A's."""
    api.ledger.webhooks_allow_private = True
    endpoint_id = api.ledger.create_webhook_endpoint(HOOK_URL).endpoint_id
    add_events(api.ledger.engine, A, 1, START)
    dispatcher = api.ledger.webhook_dispatcher(timeout_s=1.0)
    try:
        assert dispatcher.drain(timeout_s=30)
    finally:
        dispatcher.stop()
    (delivery,) = api.ledger.webhook_deliveries(endpoint_id).data
    return endpoint_id, delivery.delivery_id


def _endpoint_call(suffix: str, json: Any = None) -> Callable[[World, bool], Call]:
    return lambda world, missing: Call(f"/v1/webhook_endpoints/{world.endpoint_id}{suffix}", json)


def _delete_endpoint(world: World, missing: bool) -> Call:
    endpoint_id = world.api.ledger.create_webhook_endpoint(HOOK_URL).endpoint_id
    return Call(f"/v1/webhook_endpoints/{endpoint_id}")


def _retry_delivery(world: World, missing: bool) -> Call:
    return Call(f"/v1/webhook_deliveries/{world.delivery_id}/retry")


def _account_call(suffix: str, json: Any = None, **params: str) -> Callable[[World, bool], Call]:
    def build(world: World, missing: bool) -> Call:
        account = world.account(missing)
        return Call(f"/v1/accounts/{account}{suffix}", json, dict(params), account)

    return build


def _run_call(
    suffix: str, json: Any = None, *, fresh: bool = False
) -> Callable[[World, bool], Call]:
    def build(world: World, missing: bool) -> Call:
        run_id = world.fresh_run(missing) if fresh else world.run(missing)
        return Call(f"/v1/runs/{run_id}{suffix}", json, {}, run_id)

    return build


def _fixed(path: str, json: Any = None, **params: str) -> Callable[[World, bool], Call]:
    return lambda world, missing: Call(path, json, dict(params))


def _new_account(world: World, missing: bool) -> Call:
    return Call("/v1/accounts", {"plan_id": PLAN, "account_id": f"acct-{secrets.token_hex(6)}"})


def _revoke(world: World, missing: bool) -> Call:
    key_id = world.fresh_key(missing)
    return Call(f"/v1/api_keys/{key_id}", subject=key_id)


def _refund(world: World, missing: bool) -> Call:
    charge_id = world.fresh_charge(missing)
    return Call(f"/v1/charges/{charge_id}/refund", {}, subject=charge_id)


def _verify(world: World, missing: bool) -> Call:
    account = world.account(missing)
    return Call("/v1/ledger/verify", params={"account_id": account}, subject=account)


def _batch(world: World, missing: bool) -> Call:
    account = world.account(missing)
    items = [{"account_id": account, "amount": 1}, {"account_id": account, "amount": 2}]
    return Call("/v1/charges/batch", {"items": items}, subject=account)


def _start_run(world: World, missing: bool) -> Call:
    account = world.account(missing)
    return Call("/v1/runs", {"account_id": account, "rate_card_id": "maps"}, subject=account)


def _events(world: World, missing: bool) -> Call:
    account = world.account(missing)
    return Call("/v1/events", params={"account_id": account}, subject=account)


def _event(world: World, missing: bool) -> Call:
    if missing:
        event_id = f"evt_{secrets.token_hex(12)}"
    else:
        world.api.ledger.grant(account_id=A, amount=Credits.of(1), source="bonus")
        event_id = world.api.ledger.events(account_id=A, limit=1).data[0].event_id
    return Call(f"/v1/events/{event_id}", subject=event_id)


RESULTS = {"rows_kept": 2, "functions": {"get_phone_numbers": {"attempts": 2, "successes": 1}}}
BUILDERS: dict[tuple[str, str], Callable[[World, bool], Call]] = {
    ("GET", "/healthz"): _fixed("/healthz"),
    ("GET", "/metrics"): _fixed("/metrics"),
    ("GET", "/openapi.json"): _fixed("/openapi.json"),
    ("GET", "/docs"): _fixed("/docs"),
    ("GET", "/docs/oauth2-redirect"): _fixed("/docs/oauth2-redirect"),
    ("GET", "/redoc"): _fixed("/redoc"),
    ("PUT", "/v1/plans/{plan_id}"): _fixed("/v1/plans/spare", {"allowances": {"credits": 5}}),
    ("GET", "/v1/plans"): _fixed("/v1/plans"),
    ("PUT", "/v1/rate_cards/{rate_card_id}"): _fixed(
        "/v1/rate_cards/spare", {"credits_per_row": 1}
    ),
    ("GET", "/v1/rate_cards"): _fixed("/v1/rate_cards"),
    ("POST", "/v1/accounts"): _new_account,
    ("GET", "/v1/accounts"): _fixed("/v1/accounts"),
    ("GET", "/v1/accounts/{account_id}"): _account_call(""),
    ("PATCH", "/v1/accounts/{account_id}"): _account_call("", {"name": "Renamed"}),
    ("POST", "/v1/accounts/{account_id}/api_keys"): _account_call("/api_keys", {"scope": "read"}),
    ("GET", "/v1/api_keys/current"): _fixed("/v1/api_keys/current"),
    ("DELETE", "/v1/api_keys/{key_id}"): _revoke,
    ("POST", "/v1/accounts/{account_id}/grants"): _account_call("/grants", {"amount": 5}),
    ("POST", "/v1/charges/{charge_id}/refund"): _refund,
    ("POST", "/v1/ledger/verify"): _verify,
    ("POST", "/v1/accounts/{account_id}/charges"): _account_call("/charges", {"amount": 1}),
    ("POST", "/v1/charges/batch"): _batch,
    ("POST", "/v1/accounts/{account_id}/estimates"): _account_call(
        "/estimates", {"rate_card_id": "maps", "rows": 10}
    ),
    ("POST", "/v1/runs"): _start_run,
    ("POST", "/v1/runs/{run_id}/results"): _run_call("/results", RESULTS),
    ("POST", "/v1/runs/{run_id}/finish"): _run_call("/finish", fresh=True),
    ("GET", "/v1/accounts/{account_id}/balance"): _account_call("/balance"),
    ("GET", "/v1/accounts/{account_id}/transactions"): _account_call("/transactions"),
    ("GET", "/v1/accounts/{account_id}/stats"): _account_call(
        "/stats", **{"from": "2025-01-01", "to": "2025-01-31"}
    ),
    ("GET", "/v1/accounts/{account_id}/runs"): _account_call("/runs"),
    ("GET", "/v1/runs/{run_id}"): _run_call(""),
    ("GET", RUN_CREDITS): _run_call("/credits"),
    ("GET", "/v1/events"): _events,
    ("GET", "/v1/events/{event_id}"): _event,
    ("PUT", "/v1/accounts/{account_id}/alerts"): _account_call(
        "/alerts", {"rules": [{"pool": "credits", "credits": 5}]}
    ),
    ("GET", "/v1/accounts/{account_id}/alerts"): _account_call("/alerts"),
    ("GET", "/v1/user/balance"): _fixed("/v1/user/balance"),
    ("GET", "/api/v1/credits/balance"): _fixed("/api/v1/credits/balance"),
    ("GET", "/api/v1/credits/transactions"): _fixed("/api/v1/credits/transactions"),
    ("GET", "/api/v1/credits"): _fixed("/api/v1/credits"),
    ("GET", "/credits/stats"): _fixed(
        "/credits/stats", **{"from": "2025-01-01", "to": "2025-01-31"}
    ),
    ("POST", "/v1/webhook_endpoints"): _fixed("/v1/webhook_endpoints", {"url": HOOK_URL}),
    ("GET", "/v1/webhook_endpoints"): _fixed("/v1/webhook_endpoints"),
    ("GET", ENDPOINT): _endpoint_call(""),
    ("PATCH", ENDPOINT): _endpoint_call("", {"description": "renamed"}),
    ("DELETE", ENDPOINT): _delete_endpoint,
    ("POST", f"{ENDPOINT}/rotate_secret"): _endpoint_call("/rotate_secret"),
    ("GET", f"{ENDPOINT}/deliveries"): _endpoint_call("/deliveries"),
    ("POST", "/v1/webhook_deliveries/{delivery_id}/retry"): _retry_delivery,
    ("PUT", "/v1/credit_packs/{pack_id}"): _fixed(
        "/v1/credit_packs/spare", {"credits": 5, "prices": {"usd": 100}}
    ),
    ("GET", "/v1/credit_packs"): _fixed("/v1/credit_packs"),
    ("GET", "/v1/credit_packs/{pack_id}"): _fixed(f"/v1/credit_packs/{PACK.pack_id}"),
    ("POST", "/v1/accounts/{account_id}/checkout_sessions"): _account_call(
        "/checkout_sessions",
        {
            "pack_id": PACK.pack_id,
            "success_url": "https://e.com/ok",
            "cancel_url": "https://e.com/no",
        },
    ),
    ("PUT", "/v1/accounts/{account_id}/auto_recharge"): _account_call(
        "/auto_recharge", {"pack_id": PACK.pack_id, "threshold": 1}
    ),
    ("DELETE", "/v1/accounts/{account_id}/auto_recharge"): _account_call("/auto_recharge"),
    ("GET", "/v1/accounts/{account_id}/auto_recharge"): _account_call("/auto_recharge"),
    ("GET", "/v1/accounts/{account_id}/payments"): _account_call("/payments"),
    ("POST", "/v1/integrations/stripe/webhook"): _fixed(
        "/v1/integrations/stripe/webhook", {"id": "evt_1"}
    ),
}
COMPAT = [route for route, row in MATRIX.items() if row == ACCOUNT_KEY]


def endpoints(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) the app answers, HEAD aside (it mirrors GET)."""
    found = []
    for route in iter_route_contexts(app.routes):  # included routers flattened, with prefixes
        kind = route.original_route
        if isinstance(kind, Mount) and kind.path == DASHBOARD:
            continue  # signs in with a session cookie, not a key: tests/dashboard
        assert isinstance(kind, APIRoute | Route), f"a route of another kind: {kind!r}"
        assert route.path is not None and route.methods
        for method in sorted(route.methods - {"HEAD"}):
            found.append((method, route.path))
    return found


def send(world: World, method: str, call: Call, headers: dict[str, str]) -> httpx2.Response:
    return world.api.client.request(
        method, call.path, json=call.json, params=call.params, headers=headers
    )


def expected_code(route: tuple[str, str], caller: str, status: int) -> str | None:
    """The `code` of an error body (None: no native error body to check)."""
    if status < 400:
        return None
    if status == 404 and route[1] == RUN_CREDITS:
        return None  # lobstr's shape, checked apart
    if status == 403:
        return "key_revoked" if caller == "revoked" else "forbidden"
    return {400: "invalid_signature", 401: "unauthenticated", 404: "not_found"}[status]


def _swap(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, dict):
        return {key: _swap(item, old, new) for key, item in value.items()}
    if isinstance(value, list):
        return [_swap(item, old, new) for item in value]
    return value


def check_cell(world: World, route: tuple[str, str], caller: str, style: str) -> list[str]:
    """Call `route` as `caller`; the differences from the table (none when it holds)."""
    method = route[0]
    expected = EXPECTED[route][caller]
    call = BUILDERS[route](world, False)
    response = send(world, method, call, world.headers(caller, style))
    where = f"{method} {route[1]} as {caller} ({style})"
    if response.status_code != expected:
        return [f"{where}: {response.status_code} != {expected}: {response.text[:200]}"]
    problems = []
    code = expected_code(route, caller, expected)
    if code is not None:
        body = response.json()
        if set(body) != {"detail", "code"} or body["code"] != code or not body["detail"]:
            problems.append(f"{where}: error body {body} is not {{detail, code: {code!r}}}")
    if (
        expected == 404
        and route[1] == RUN_CREDITS
        and response.json() != {"detail": "Run not found."}
    ):
        problems.append(f"{where}: lobstr 404 body is {response.json()}")
    if caller == "other" and call.subject is not None:
        problems += check_same_as_missing(world, route, call, response, where)
    return problems


def check_same_as_missing(
    world: World, route: tuple[str, str], call: Call, response: httpx2.Response, where: str
) -> list[str]:
    """Another account's object answers exactly like a missing one: to the same caller,
    and (where the operator gets a 404 for it) like a truly missing object."""
    assert call.subject is not None
    missing_call = BUILDERS[route](world, True)
    missing_id = missing_call.subject
    assert missing_id is not None and missing_id != call.subject, (route, missing_call)
    seen = (response.status_code, response.json())
    problems = []
    for caller in ("other", "operator"):
        missing = send(world, route[0], missing_call, world.headers(caller))
        if caller == "operator" and (response.status_code != 404 or missing.status_code != 404):
            continue  # a truly missing object, where the other account's answer is "missing"
        if missing.headers.get("content-type") != response.headers.get("content-type"):
            problems.append(f"{where}: content type differs from a missing object's")
        wanted = (missing.status_code, _swap(missing.json(), missing_id, call.subject))
        if seen != wanted:
            problems.append(f"{where}: {seen} differs from a missing object ({caller}): {wanted}")
    return problems


def test_every_endpoint_has_a_row(api: Api) -> None:
    app = api.client.app
    assert isinstance(app, FastAPI)
    routes = endpoints(app)
    assert len(routes) == len(set(routes))
    assert set(routes) - set(MATRIX) == set(), "endpoints without a row in MATRIX"
    assert set(MATRIX) - set(routes) == set(), "rows in MATRIX for endpoints the app lacks"
    assert set(BUILDERS) == set(MATRIX)


def test_authorization_matrix(api: Api) -> None:
    world = World.set_up(api)
    app = api.client.app
    assert isinstance(app, FastAPI)
    styles = list(HEADER_STYLES)
    problems: list[str] = []
    cell = 0
    for route in endpoints(app):
        for caller in CALLERS:
            # Every header style takes its turn, so refusals are checked through each too.
            problems += check_cell(world, route, caller, styles[cell % len(styles)])
            cell += 1
    assert not problems, "\n".join(problems)
    assert cell == len(MATRIX) * len(CALLERS)
    assert api.ledger.verify().ok


def test_every_header_style_on_every_endpoint(api: Api) -> None:
    """Each endpoint accepts all three header styles from its least privileged allowed
    caller (the operator on operator endpoints). Refusals through each style are in the
    matrix, which takes the styles in turn."""
    world = World.set_up(api)
    app = api.client.app
    assert isinstance(app, FastAPI)
    problems: list[str] = []
    for route in endpoints(app):
        row = EXPECTED[route]
        if MATRIX[route] == SIGNED:
            continue  # no key: Stripe's signature (tests/api/test_payments_http.py)
        allowed = next(c for c in ("none", "read", "write", "operator") if row[c] < 300)
        for style in HEADER_STYLES:
            problems += check_cell(world, route, allowed, style)
    assert not problems, "\n".join(problems)


def test_malformed_authorization_header_is_401(api: Api) -> None:
    world = World.set_up(api)
    for headers in (
        {"Authorization": f"Basic {world.a.read}"},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer not-a-key"},
        {"X-API-KEY": "cb_0000000000000000_" + "a" * 32 + "_00000000"},
        {"X-API-KEY": world.a.read[:-1] + ("0" if world.a.read[-1] != "0" else "1")},
    ):
        response = api.client.get(f"/v1/accounts/{A}/balance", headers=headers)
        assert response.status_code == 401, (headers, response.text)
        assert response.json()["code"] == "unauthenticated"


def test_compat_endpoints_answer_for_the_callers_own_account(api: Api) -> None:
    """A compat endpoint names no account: each key gets its own account's answer."""
    world = World.set_up(api)  # A has spent on a run; B has not
    for method, path in COMPAT:
        call = BUILDERS[(method, path)](world, False)
        answers = {
            caller: send(world, method, call, world.headers(caller)).json()
            for caller in ("write", "read", "other")
        }
        assert answers["write"] == answers["read"], path
        assert answers["other"] != answers["write"], path
        b_read = send(world, method, call, {"X-API-KEY": world.b.read}).json()
        assert answers["other"] == b_read, path
