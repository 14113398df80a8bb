"""Exactly once over HTTP: `Idempotency-Key` on every write endpoint.

- a replay answers the first status and body with `Idempotency-Hit: true` and writes nothing;
- the same key with a different request answers 409 `idempotency_key_conflict` and writes
  nothing (the batch endpoint answers that per item: its header key becomes per-item keys);
- many concurrent replays of one key take effect once, and all get the first result.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient
from tests.api.conftest import Api, bearer
from tests.api.state import snapshot

from creditbook import Credits, ManualClock

THREADS = 12
FUNCTIONS = {"get_phone_numbers": {"attempts": 2, "successes": 1}}


@dataclass(frozen=True)
class Req:
    method: str
    path: str
    json: Any = None


@dataclass(frozen=True)
class Case:
    """A write endpoint: how to call it on an account, and how to call it differently.

    `make` and `change` may set up what the call needs (a run to finish).
    """

    name: str
    status: int
    caller: str  # "operator" or the account's "write" key
    make: Callable[[Api, str], Req]
    change: Callable[[Api, str, Req], Req]
    identity: Callable[[Any], Any]

    def __str__(self) -> str:
        return self.name


def _with(req: Req, **fields: Any) -> Req:
    return replace(req, json={**req.json, **fields})


def _fresh_run(api: Api, account_id: str) -> str:
    return api.ledger.start_run(account_id, "maps", hold=Credits.of(10)).run_id


def _fresh_charge(api: Api, account_id: str) -> str:
    return api.ledger.charge(account_id=account_id, amount=Credits.of(5)).charge_id


def _batch(account_id: str, first: int, second: int) -> Req:
    items = [
        {"account_id": account_id, "amount": first},
        {"account_id": account_id, "amount": second, "idempotency_key": "own-key"},
    ]
    return Req("POST", "/v1/charges/batch", {"items": items})


CASES = [
    Case(
        "charge",
        201,
        "write",
        lambda api, a: Req("POST", f"/v1/accounts/{a}/charges", {"amount": 3, "module": "maps"}),
        lambda api, a, req: _with(req, amount=4),
        lambda body: body["charge_id"],
    ),
    Case(
        "grant",
        201,
        "operator",
        lambda api, a: Req("POST", f"/v1/accounts/{a}/grants", {"amount": 5, "source": "top_up"}),
        lambda api, a, req: _with(req, amount=6),
        lambda body: body["grant_id"],
    ),
    Case(
        "start_run",
        201,
        "write",
        lambda api, a: Req(
            "POST", "/v1/runs", {"account_id": a, "rate_card_id": "maps", "hold": 10}
        ),
        lambda api, a, req: _with(req, hold=20),
        lambda body: body["run_id"],
    ),
    Case(
        "run_results",
        200,
        "write",
        lambda api, a: Req(
            "POST",
            f"/v1/runs/{_fresh_run(api, a)}/results",
            {"rows_kept": 2, "functions": FUNCTIONS},
        ),
        lambda api, a, req: _with(req, rows_kept=3),
        lambda body: (body["run_id"], body["credits"]),
    ),
    Case(
        "finish_run",
        200,
        "write",
        lambda api, a: Req("POST", f"/v1/runs/{_fresh_run(api, a)}/finish"),
        # No body: another run is the different request.
        lambda api, a, req: Req("POST", f"/v1/runs/{_fresh_run(api, a)}/finish"),
        lambda body: (body["run_id"], body["status"]),
    ),
    Case(
        "refund",
        201,
        "operator",
        lambda api, a: Req("POST", f"/v1/charges/{_fresh_charge(api, a)}/refund", {"amount": 1}),
        lambda api, a, req: _with(req, amount=2),
        lambda body: body["refund_id"],
    ),
    Case(
        "open_account",
        201,
        "operator",
        lambda api, a: Req("POST", "/v1/accounts", {"plan_id": "pro", "name": "Globex"}),
        lambda api, a, req: _with(req, name="Initech"),
        lambda body: body["account_id"],
    ),
    Case(
        "create_key",
        201,
        "operator",
        lambda api, a: Req("POST", f"/v1/accounts/{a}/api_keys", {"scope": "read", "name": "ci"}),
        lambda api, a, req: _with(req, scope="write"),
        lambda body: body["key_id"],
    ),
    Case(
        "charge_batch",
        200,
        "write",
        lambda api, a: _batch(a, 1, 2),
        lambda api, a, req: _batch(a, 5, 6),
        lambda body: tuple(item["charge"]["charge_id"] for item in body["data"]),
    ),
]


def headers_for(api: Api, case: Case, account_keys: dict[str, str], key: str) -> dict[str, str]:
    token = api.operator_key if case.caller == "operator" else account_keys[case.caller]
    return {**bearer(token), "Idempotency-Key": key}


def send(client: TestClient, req: Req, headers: dict[str, str]) -> httpx2.Response:
    return client.request(req.method, req.path, json=req.json, headers=headers)


def as_replayed(case: Case, body: Any) -> Any:
    """The body a replay answers: the first one, less a new key's secret (shown once)."""
    return {**body, "secret": None} if case.name == "create_key" else body


def open_account(api: Api, account_id: str) -> dict[str, str]:
    keys = api.account(account_id)
    return {"write": keys.write, "read": keys.read}


@pytest.mark.parametrize("case", CASES, ids=str)
def test_replays_answer_the_first_result_and_another_request_is_refused(
    api: Api, case: Case
) -> None:
    keys = open_account(api, "acct-a")
    req = case.make(api, "acct-a")
    headers = headers_for(api, case, keys, "retry-1")
    first = send(api.client, req, headers)
    assert first.status_code == case.status, first.text
    assert "idempotency-hit" not in first.headers
    if case.name == "create_key":
        assert first.json()["secret"].startswith("cb_")
    # Something else happens to the account in between: a replay is the stored answer.
    api.ok("POST", "/v1/accounts/acct-a/charges", json={"amount": 1})
    changed = case.change(api, "acct-a", req)
    assert changed != req
    before = snapshot(api.ledger)

    for _ in range(2):
        again = send(api.client, req, headers)
        assert again.status_code == first.status_code
        assert again.headers.get("idempotency-hit") == "true"
        assert again.json() == as_replayed(case, first.json())
    assert snapshot(api.ledger) == before

    refused = send(api.client, changed, headers)
    assert "idempotency-hit" not in refused.headers
    # The batch's header key covers the whole batch, like every other POST.
    assert refused.status_code == 409, refused.text
    body = refused.json()
    assert set(body) == {"detail", "code"}
    assert body["code"] == "idempotency_key_conflict"
    assert snapshot(api.ledger) == before

    # The key still means the first request.
    again = send(api.client, req, headers)
    assert again.status_code == case.status
    assert again.headers.get("idempotency-hit") == "true"
    assert again.json() == as_replayed(case, first.json())
    assert snapshot(api.ledger) == before
    assert api.ledger.verify().ok


def concurrently(
    api: Api, req: Req, headers: dict[str, str], threads: int = THREADS
) -> list[httpx2.Response]:
    """Send one request from `threads` threads at once, each with a client of its own."""
    start = threading.Barrier(threads)

    def one(_: int) -> httpx2.Response:
        client = TestClient(api.client.app)
        try:
            start.wait(timeout=10)
            return send(client, req, headers)
        finally:
            client.close()

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, range(threads)))


@pytest.mark.parametrize("case", CASES, ids=str)
def test_concurrent_replays_take_effect_once(api: Api, case: Case) -> None:
    # What one request writes, measured on a twin account.
    twin_keys = open_account(api, "acct-twin")
    keys = open_account(api, "acct-a")
    twin = case.make(api, "acct-twin")
    before = snapshot(api.ledger)
    assert send(api.client, twin, headers_for(api, case, twin_keys, "once")).status_code < 300
    once = snapshot(api.ledger).minus(before)

    req = case.make(api, "acct-a")
    before = snapshot(api.ledger)
    key = f"burst-{secrets.token_hex(4)}"
    responses = concurrently(api, req, headers_for(api, case, keys, key))

    assert [r.status_code for r in responses] == [case.status] * THREADS, [
        r.text for r in responses if r.status_code != case.status
    ]
    firsts = [r for r in responses if "idempotency-hit" not in r.headers]
    assert len(firsts) == 1, "exactly one request takes effect; the others replay it"
    assert all(r.headers.get("idempotency-hit") == "true" for r in responses if r not in firsts)
    first = firsts[0].json()
    assert {case.identity(r.json()) for r in responses} == {case.identity(first)}
    assert all(r.json() == as_replayed(case, first) for r in responses if r not in firsts)
    assert snapshot(api.ledger).minus(before) == once
    assert api.ledger.verify().ok


def test_batch_header_key_becomes_item_keys(api: Api) -> None:
    """Items without a key of their own use `<Idempotency-Key>:<index>`: a single charge with
    that key is a replay of the item."""
    keys = open_account(api, "acct-a")
    headers = {**bearer(keys["write"]), "Idempotency-Key": "nightly"}
    items = [
        {"account_id": "acct-a", "amount": 1},
        {"account_id": "acct-a", "amount": 2, "idempotency_key": "mine"},
        {"account_id": "acct-a", "amount": 3},
    ]
    batch = api.client.post("/v1/charges/batch", json={"items": items}, headers=headers)
    assert batch.status_code == 200, batch.text
    charges = [item["charge"] for item in batch.json()["data"]]
    assert all(item["ok"] for item in batch.json()["data"])
    before = snapshot(api.ledger)
    for key, item, charge in (("nightly:0", 0, charges[0]), ("mine", 1, charges[1])):
        single = api.client.post(
            "/v1/accounts/acct-a/charges",
            json={"amount": items[item]["amount"]},
            headers={**bearer(keys["write"]), "Idempotency-Key": key},
        )
        assert single.status_code == 201, single.text
        assert single.headers.get("idempotency-hit") == "true"
        assert single.json() == charge
    assert snapshot(api.ledger) == before
    # Item 1 had a key of its own, so `nightly:1` was never used.
    fresh = api.client.post(
        "/v1/accounts/acct-a/charges",
        json={"amount": 2},
        headers={**bearer(keys["write"]), "Idempotency-Key": "nightly:1"},
    )
    assert fresh.status_code == 201 and "idempotency-hit" not in fresh.headers
    # A replay of the whole batch is a hit with the first answer.
    replay = api.client.post("/v1/charges/batch", json={"items": items}, headers=headers)
    assert replay.headers.get("idempotency-hit") == "true"
    assert replay.json() == batch.json()


def test_batch_replay_with_another_body_writes_nothing(api: Api) -> None:
    keys = open_account(api, "acct-a")
    headers = {**bearer(keys["write"]), "Idempotency-Key": "nightly"}
    items = [{"account_id": "acct-a", "amount": 1}]
    first = api.client.post("/v1/charges/batch", json={"items": items}, headers=headers)
    assert first.status_code == 200, first.text
    before = snapshot(api.ledger)
    more = [*items, {"account_id": "acct-a", "amount": 2}]
    conflict = api.client.post("/v1/charges/batch", json={"items": more}, headers=headers)
    assert conflict.status_code == 409
    assert conflict.json()["code"] == "idempotency_key_conflict"
    assert snapshot(api.ledger) == before


def test_keys_are_scoped_per_account(api: Api) -> None:
    a, b = open_account(api, "acct-a"), open_account(api, "acct-b")
    answers = []
    for account_id, keys in (("acct-a", a), ("acct-b", b)):
        response = api.client.post(
            f"/v1/accounts/{account_id}/charges",
            json={"amount": 7},
            headers={**bearer(keys["write"]), "Idempotency-Key": "shared"},
        )
        assert response.status_code == 201, response.text
        assert "idempotency-hit" not in response.headers
        answers.append(response.json())
    assert answers[0]["charge_id"] != answers[1]["charge_id"]
    for account_id in ("acct-a", "acct-b"):
        assert api.ledger.balance(account_id).pools["credits"].available == Credits.of(93)


def test_revoking_a_revoked_key_answers_like_the_first_revocation(
    api: Api, clock: ManualClock
) -> None:
    """DELETE is idempotent: a second revocation (a retry whose first answer was lost)
    answers 200 with the first one's body, revoked_at included, and writes nothing."""
    open_account(api, "acct-a")
    key = api.ok("POST", "/v1/accounts/acct-a/api_keys", json={"scope": "read"})
    path = f"/v1/api_keys/{key['key_id']}"
    first = api.client.delete(path, headers=api.operator)
    assert first.status_code == 200, first.text
    assert first.json()["revoked_at"] is not None and first.json()["secret"] is None
    stored = api.ledger.get_key(key["key_id"])
    before = snapshot(api.ledger)
    clock.advance(seconds=90)
    again = api.client.delete(path, headers=api.operator)
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert api.ledger.get_key(key["key_id"]) == stored
    assert snapshot(api.ledger) == before
    refused = api.client.get("/v1/api_keys/current", headers=bearer(key["secret"]))
    assert refused.status_code == 403 and refused.json()["code"] == "key_revoked"
    missing = api.client.delete("/v1/api_keys/key_0000000000000000", headers=api.operator)
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
