"""The payments API over HTTP, on both databases: packs, Checkout, auto-recharge, purchases,
and Stripe's notifications (signed as Stripe signs them, verified by the `stripe` package)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.api.conftest import Api, bearer
from tests.stripe_fake import (
    API_KEY,
    WEBHOOK_SECRET,
    FakeStripe,
    event,
    paid_session,
    serve,
    signed,
)

from creditbook import Ledger, ManualClock
from creditbook.api.app import create_app
from creditbook.engine.payments.stripe_api import StripeSettings
from creditbook.settings import Settings
from creditbook.store.database import make_engine

PACK = {
    "name": "1,000 credits",
    "credits": 1000,
    "prices": {"USD": 900},
    "expires_after_months": 12,
}
URLS = {"success_url": "https://example.com/ok", "cancel_url": "https://example.com/back"}
WEBHOOK = "/v1/integrations/stripe/webhook"


@pytest.fixture
def stripe() -> Iterator[FakeStripe]:
    yield from serve(FakeStripe())


@pytest.fixture
def shop(
    database_url: str, clock: ManualClock, stripe: FakeStripe, settings: Settings
) -> Iterator[Api]:
    stripe_settings = StripeSettings(
        api_key=API_KEY, webhook_secret=WEBHOOK_SECRET, api_base=stripe.url
    )
    ledger = Ledger(make_engine(database_url), clock, stripe=stripe_settings)
    operator = ledger.create_key(None, scope="operator").secret
    assert operator is not None
    try:
        with TestClient(create_app(ledger, settings=settings)) as client:
            api = Api(client, ledger, operator)
            api.ok("PUT", "/v1/plans/free", json={"name": "Free", "allowances": {"credits": 0}})
            api.ok("PUT", "/v1/credit_packs/credits-1000", json=PACK)
            yield api
    finally:
        ledger.close()


def post_stripe(api: Api, kind: str, obj: dict[str, Any], **sign: Any) -> Any:
    payload, signature = signed(event(kind, obj), **sign)
    return api.client.post(WEBHOOK, content=payload, headers={"Stripe-Signature": signature})


def buy(api: Api, stripe: FakeStripe, account_id: str, key: str) -> dict[str, Any]:
    response = api.client.post(
        f"/v1/accounts/{account_id}/checkout_sessions",
        json={"pack_id": "credits-1000", **URLS},
        headers=bearer(key),
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_packs_are_put_and_listed(shop: Api) -> None:
    listed = shop.ok("GET", "/v1/credit_packs")["data"]
    assert listed == [
        {
            "pack_id": "credits-1000",
            "name": "1,000 credits",
            "credits": 1000,
            "prices": {"usd": 900},
            "pool": None,
            "expires_after_months": 12,
            "priority": None,
            "active": True,
        }
    ]
    keys = shop.account("acme", "free")
    retired = shop.ok("PUT", "/v1/credit_packs/old", json={**PACK, "active": False})
    assert retired["active"] is False
    mine = shop.client.get("/v1/credit_packs", headers=bearer(keys.read)).json()["data"]
    assert [p["pack_id"] for p in mine] == ["credits-1000"]
    assert shop.client.get("/v1/credit_packs/old", headers=bearer(keys.read)).status_code == 404
    refused = shop.client.put("/v1/credit_packs/x", json=PACK, headers=bearer(keys.write))
    assert refused.status_code == 403


@pytest.mark.parametrize(
    "body",
    [
        {**PACK, "credits": 0},
        {**PACK, "credits": True},
        {**PACK, "prices": {}},
        {**PACK, "prices": {"usd": 1.5}},
        {**PACK, "prices": {"usd": 100_000_000}},
        {**PACK, "prices": {"dollars": 100}},
        {**PACK, "expires_after_months": 0},
        {**PACK, "surprise": 1},
    ],
)
def test_a_bad_pack_is_a_422_and_stores_nothing(shop: Api, body: dict[str, Any]) -> None:
    response = shop.client.put("/v1/credit_packs/bad", json=body, headers=shop.operator)
    assert response.status_code == 422, response.text
    assert response.json()["code"] in {"validation_error", "amount_out_of_range"}
    assert shop.client.get("/v1/credit_packs/bad", headers=shop.operator).status_code == 404


def test_an_account_write_key_buys_for_its_own_account_only(shop: Api, stripe: FakeStripe) -> None:
    acme = shop.account("acme", "free")
    other = shop.account("other", "free")
    session = buy(shop, stripe, "acme", acme.write)
    assert session["url"].startswith("https://checkout.stripe.com/")
    assert (session["amount_total"], session["currency"], session["credits"]) == (900, "usd", 1000)
    path = "/v1/accounts/acme/checkout_sessions"
    body = {"pack_id": "credits-1000", **URLS}
    assert shop.client.post(path, json=body, headers=bearer(acme.read)).status_code == 403
    assert shop.client.post(path, json=body, headers=bearer(other.write)).status_code == 404
    bad_url = shop.client.post(
        path, json={**body, "success_url": "javascript:alert(1)"}, headers=bearer(acme.write)
    )
    assert bad_url.status_code == 422
    assert len(stripe.calls_to("POST", "/v1/checkout/sessions")) == 1


def test_a_replayed_checkout_answers_the_same_session(shop: Api, stripe: FakeStripe) -> None:
    keys = shop.account("acme", "free")
    headers = {**bearer(keys.write), "Idempotency-Key": "buy-42"}
    path = "/v1/accounts/acme/checkout_sessions"
    first = shop.client.post(path, json={"pack_id": "credits-1000", **URLS}, headers=headers)
    again = shop.client.post(path, json={"pack_id": "credits-1000", **URLS}, headers=headers)
    assert first.json()["id"] == again.json()["id"]
    assert again.headers["Idempotency-Hit"] == "true" and "Idempotency-Hit" not in first.headers
    other = {"pack_id": "credits-1000", "quantity": 3, **URLS}
    conflict = shop.client.post(path, json=other, headers=headers)
    assert conflict.status_code == 409 and conflict.json()["code"] == "idempotency_key_conflict"
    assert len(stripe.calls_to("POST", "/v1/checkout/sessions")) == 1


def test_a_paid_session_grants_once_and_shows_in_purchases(shop: Api, stripe: FakeStripe) -> None:
    keys = shop.account("acme", "free")
    session = paid_session(stripe.objects[buy(shop, stripe, "acme", keys.write)["id"]])
    answers = [post_stripe(shop, "checkout.session.completed", session) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.json()["action"] for a in answers] == ["fulfilled", "duplicate", "duplicate"]
    balance = shop.client.get("/v1/accounts/acme/balance", headers=bearer(keys.read)).json()
    assert balance["pools"]["credits"]["available"] == 1000
    purchases = shop.client.get("/v1/accounts/acme/payments", headers=bearer(keys.read)).json()
    [purchase] = purchases["data"]
    assert purchase["checkout_session_id"] == session["id"]
    assert (purchase["amount_paid"], purchase["currency"], purchase["credits"]) == (
        900,
        "usd",
        1000,
    )
    history = shop.client.get("/v1/accounts/acme/transactions", headers=bearer(keys.read)).json()
    assert any(session["id"] in item["description"] for item in history["data"])
    stats = shop.client.get(
        "/v1/accounts/acme/stats",
        params={"from": "2025-01-01", "to": "2025-01-31"},
        headers=bearer(keys.read),
    ).json()
    assert stats["purchases"] == [
        {
            "currency": "usd",
            "purchases": 1,
            "amount_paid": 900,
            "amount_refunded": 0,
            "net_amount": 900,
            "credits_bought": 1000,
            "credits_refunded": 0,
            "cost_per_credit": 0.9,
        }
    ]


def test_a_bad_signature_is_a_400_and_changes_nothing(shop: Api, stripe: FakeStripe) -> None:
    keys = shop.account("acme", "free")
    session = paid_session(stripe.objects[buy(shop, stripe, "acme", keys.write)["id"]])
    wrong = post_stripe(shop, "checkout.session.completed", session, secret="whsec_wrong")
    stale = post_stripe(shop, "checkout.session.completed", session, at=1_600_000_000)
    unsigned = shop.client.post(WEBHOOK, content=b"{}")
    for response in (wrong, stale, unsigned):
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_signature"
    assert shop.ok("GET", "/v1/accounts/acme/payments")["data"] == []


def test_auto_recharge_is_set_shown_and_removed(shop: Api, stripe: FakeStripe) -> None:
    keys = shop.account("acme", "free")
    path = "/v1/accounts/acme/auto_recharge"
    body = {"pack_id": "credits-1000", "threshold": 100, "max_per_month": 2}
    state = shop.client.put(path, json=body, headers=bearer(keys.write))
    assert state.status_code == 200, state.text
    assert state.json()["settings"] == {**body, "currency": None, "enabled": True}
    assert state.json()["pool"] == "credits" and state.json()["paused"] is False
    assert shop.client.put(path, json=body, headers=bearer(keys.read)).status_code == 403
    assert shop.client.get(path, headers=bearer(keys.read)).json()["settings"]["threshold"] == 100
    bad = shop.client.put(path, json={**body, "max_per_month": 0}, headers=bearer(keys.write))
    assert bad.status_code == 422
    unknown = shop.client.put(path, json={**body, "pack_id": "nope"}, headers=bearer(keys.write))
    assert unknown.status_code == 404
    removed = shop.client.delete(path, headers=bearer(keys.write))
    assert removed.status_code == 200 and removed.json()["settings"] is None


def test_without_stripe_settings_checkout_and_the_webhook_answer_503(
    ledger: Ledger, settings: Settings
) -> None:
    operator = ledger.create_key(None, scope="operator").secret
    assert operator is not None
    with TestClient(create_app(ledger, settings=settings)) as client:
        api = Api(client, ledger, operator)
        api.ok("PUT", "/v1/plans/free", json={"name": "Free", "allowances": {"credits": 0}})
        api.ok("PUT", "/v1/credit_packs/credits-1000", json=PACK)
        api.account("acme", "free")
        checkout = client.post(
            "/v1/accounts/acme/checkout_sessions",
            json={"pack_id": "credits-1000", **URLS},
            headers=api.operator,
        )
        webhook = client.post(WEBHOOK, content=b"{}", headers={"Stripe-Signature": "t=1,v1=0"})
    for response in (checkout, webhook):
        assert response.status_code == 503
        assert response.json()["code"] == "payments_not_configured"
