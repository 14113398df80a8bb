"""Buying credits in the dashboard, on SQLite and PostgreSQL, against the local Stripe
stand-in (`tests/stripe_fake.py`): the overview's "Buy credits" section for the account's
own write key (and what a read key, the operator and a server without Stripe see), the
checkout form (CSRF, Stripe's parameters, a refusal), the purchases page after Stripe's
signed notifications, and the sentences of the payment events."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from html import unescape
from types import MappingProxyType
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.dashboard.conftest import app_client, sign_in
from tests.stripe_fake import (
    API_KEY,
    WEBHOOK_SECRET,
    Call,
    FakeStripe,
    event,
    paid_session,
    serve,
    signed,
)

from creditbook import Credits, Ledger, ManualClock, Plan
from creditbook.dashboard import event_figures
from creditbook.domain.payments import AutoRecharge, CreditPack
from creditbook.domain.requests import Scope
from creditbook.engine.payments.stripe_api import StripeSettings
from creditbook.store.database import make_engine

SHOP, OTHER = "shop", "other"
PACK = CreditPack(
    "credits-1000",
    Credits.of(1000),
    MappingProxyType({"usd": 900, "eur": 850}),
    name="1,000 credits",
    expires_after_months=12,
)
SMALL = CreditPack("credits-100", Credits.of(100), MappingProxyType({"usd": 150}), name="Starter")
RETIRED = CreditPack("old", Credits.of(5), MappingProxyType({"usd": 100}), active=False)
CHECKOUT = f"/dashboard/accounts/{SHOP}/checkout"
SESSIONS = "/v1/checkout/sessions"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass(frozen=True)
class Keys:
    operator: str
    write: str
    read: str
    other: str


class RefusingStripe(FakeStripe):
    """Stripe refusing every Checkout Session (as it does a bad request)."""

    def _make(self, call: Call) -> tuple[int, dict[str, Any]]:
        if call.path == SESSIONS:
            return 400, {"error": {"type": "invalid_request_error", "message": "Not today."}}
        return super()._make(call)


@pytest.fixture
def stripe() -> Iterator[FakeStripe]:
    yield from serve(FakeStripe())


def open_shop(database_url: str, clock: ManualClock, stripe: FakeStripe | None) -> Ledger:
    settings = None
    if stripe is not None:
        settings = StripeSettings(
            api_key=API_KEY, webhook_secret=WEBHOOK_SECRET, api_base=stripe.url
        )
    return Ledger(make_engine(database_url), clock, stripe=settings)


def stock(ledger: Ledger) -> Keys:
    ledger.put_plan(Plan("free", allowances={"credits": Credits.of(0)}))
    ledger.open_account("free", account_id=SHOP, name="Shop", timezone="Europe/Paris")
    ledger.open_account("free", account_id=OTHER, name="Other")
    for pack in (PACK, SMALL, RETIRED):
        ledger.payments.put_pack(pack)
    keys = [
        ledger.create_key(None, scope=Scope.OPERATOR),
        ledger.create_key(SHOP, scope=Scope.WRITE),
        ledger.create_key(SHOP, scope=Scope.READ),
        ledger.create_key(OTHER, scope=Scope.WRITE),
    ]
    return Keys(*(key.secret or "" for key in keys))


@pytest.fixture
def shop(database_url: str, clock: ManualClock, stripe: FakeStripe) -> Iterator[Ledger]:
    opened = open_shop(database_url, clock, stripe)
    yield opened
    opened.close()


@pytest.fixture
def keys(shop: Ledger) -> Keys:
    return stock(shop)


@pytest.fixture
def client(shop: Ledger) -> Iterator[TestClient]:
    with app_client(shop) as test_client:
        yield test_client


def text(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def buy(client: TestClient, **fields: str) -> Any:
    """Submit a pack's form from the overview, as the browser would."""
    page = client.get(f"/dashboard/accounts/{SHOP}")
    match = CSRF.search(page.text)
    assert match is not None
    form = {"csrf_token": match.group(1), "pack_id": PACK.pack_id, "quantity": "1", **fields}
    return client.post(CHECKOUT, data=form, follow_redirects=False)


def deliver(ledger: Ledger, kind: str, obj: dict[str, Any]) -> str:
    payload, signature = signed(event(kind, obj))
    return ledger.payments.handle_stripe(payload, signature).action


# -- the Buy credits section ----------------------------------------------------------------


def test_a_write_key_sees_the_packs_on_sale_and_checks_out_at_stripe(
    client: TestClient, keys: Keys, stripe: FakeStripe
) -> None:
    sign_in(client, keys.write)
    page = client.get(f"/dashboard/accounts/{SHOP}")
    section = text(page.text.split('id="buy-credits"', 1)[1].split('id="forecast"')[0])
    assert "1,000 credits 1,000 credits 8.50 EUR or 9.00 USD per pack" in section
    assert "Bought credits expire 12 months after the purchase." in section
    assert "Starter 100 credits 1.50 USD per pack" in section
    assert RETIRED.pack_id not in page.text  # retired: no longer sold
    assert "Buy, pay in USD" in section and "Buy, pay in EUR" in section
    assert 'href="/dashboard/accounts/shop/purchases"' in page.text  # in the nav too

    response = buy(client, quantity="2", currency="eur")
    assert response.status_code == 303
    [call] = stripe.calls_to("POST", SESSIONS)
    session = stripe.objects[response.headers["location"].rsplit("/", 1)[1]]
    assert response.headers["location"] == session["url"]
    params = call.params
    assert params["line_items[0][quantity]"] == "2"
    assert params["line_items[0][price_data][currency]"] == "eur"
    assert params["line_items[0][price_data][unit_amount]"] == "850"
    assert params["line_items[0][price_data][product_data][name]"] == "1,000 credits"
    assert params["metadata[creditbook_pack_id]"] == PACK.pack_id
    assert params["metadata[creditbook_account_id]"] == SHOP
    assert params["success_url"] == f"http://testserver/dashboard/accounts/{SHOP}?purchase=done"
    assert params["cancel_url"] == f"http://testserver/dashboard/accounts/{SHOP}?purchase=cancelled"

    again = buy(client, pack_id=SMALL.pack_id)  # one currency: no need to name it
    assert again.status_code == 303
    first, second = stripe.calls_to("POST", SESSIONS)
    assert second.params["line_items[0][price_data][currency]"] == "usd"
    assert second.params["customer"] == first.params["customer"]  # the customer is reused
    assert len(stripe.calls_to("POST", "/v1/customers")) == 1


def test_a_double_click_opens_one_checkout_session(
    client: TestClient, keys: Keys, stripe: FakeStripe
) -> None:
    sign_in(client, keys.write)
    first, second = buy(client, currency="usd"), buy(client, currency="usd")
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    assert len(stripe.calls_to("POST", SESSIONS)) == 1
    other = buy(client, currency="eur")  # another purchase: its own session
    assert other.headers["location"] != first.headers["location"]


def test_back_from_stripe_the_overview_says_what_happens_next(
    client: TestClient, keys: Keys
) -> None:
    sign_in(client, keys.write)
    done = client.get(f"/dashboard/accounts/{SHOP}?purchase=done")
    assert "Thanks — your credits arrive as soon as Stripe confirms the payment." in done.text
    cancelled = client.get(f"/dashboard/accounts/{SHOP}?purchase=cancelled")
    assert "Checkout was cancelled: nothing was charged." in cancelled.text
    other = client.get(f"/dashboard/accounts/{SHOP}?purchase=<b>x</b>")
    assert 'id="purchase-notice"' not in other.text and "<b>x</b>" not in other.text


def test_a_read_key_sees_the_packs_but_no_button(
    client: TestClient, keys: Keys, stripe: FakeStripe
) -> None:
    sign_in(client, keys.read)
    page = client.get(f"/dashboard/accounts/{SHOP}")
    assert "8.50 EUR or 9.00 USD per pack" in page.text
    assert "Buying credits needs a write key: you signed in with a read key." in page.text
    assert CHECKOUT not in page.text
    refused = buy(client, currency="usd")
    assert refused.status_code == 403
    assert "needs a write key" in refused.text
    assert stripe.calls_to("POST", SESSIONS) == []


def test_the_operator_sees_no_buy_button(
    client: TestClient, keys: Keys, stripe: FakeStripe
) -> None:
    sign_in(client, keys.operator)
    page = client.get(f"/dashboard/accounts/{SHOP}")
    assert page.status_code == 200
    assert 'id="buy-credits"' not in page.text and CHECKOUT not in page.text
    refused = buy(client, currency="usd")
    assert refused.status_code == 403
    assert "for the account's own people" in text(refused.text)
    assert stripe.calls_to("POST", SESSIONS) == []


def test_without_stripe_the_section_is_not_shown(
    database_url: str, clock: ManualClock, shop: Ledger, keys: Keys
) -> None:
    plain = open_shop(database_url, clock, None)  # the same database, no Stripe key
    try:
        with app_client(plain) as client:
            sign_in(client, keys.write)
            page = client.get(f"/dashboard/accounts/{SHOP}")
            assert page.status_code == 200
            assert 'id="buy-credits"' not in page.text
            assert "/purchases" not in page.text  # nothing to buy: no Purchases link
            refused = buy(client, currency="usd")
            assert refused.status_code == 403
            assert "does not sell credits" in refused.text
    finally:
        plain.close()


def test_the_checkout_form_needs_its_csrf_token_and_this_origin(
    client: TestClient, keys: Keys, stripe: FakeStripe
) -> None:
    sign_in(client, keys.write)
    form = {"pack_id": PACK.pack_id, "quantity": "1", "currency": "usd"}
    for token in (None, "forged"):
        data = form if token is None else {**form, "csrf_token": token}
        refused = client.post(CHECKOUT, data=data, follow_redirects=False)
        assert refused.status_code == 403
        assert "The form had expired" in refused.text
    page = client.get(f"/dashboard/accounts/{SHOP}")
    token = CSRF.search(page.text)
    assert token is not None
    foreign = client.post(
        CHECKOUT,
        data={**form, "csrf_token": token.group(1)},
        headers={"Origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert foreign.status_code == 403
    assert stripe.calls_to("POST", SESSIONS) == []


def test_another_accounts_checkout_is_not_found(
    client: TestClient, keys: Keys, stripe: FakeStripe
) -> None:
    sign_in(client, keys.other)
    page = client.get(f"/dashboard/accounts/{OTHER}")
    token = CSRF.search(page.text)
    assert token is not None
    form = {"csrf_token": token.group(1), "pack_id": PACK.pack_id, "currency": "usd"}
    assert client.post(CHECKOUT, data=form, follow_redirects=False).status_code == 404
    assert client.get(f"/dashboard/accounts/{SHOP}/purchases").status_code == 404
    assert stripe.calls_to("POST", SESSIONS) == []


def test_what_cannot_be_bought_is_said_on_the_page(client: TestClient, keys: Keys) -> None:
    sign_in(client, keys.write)
    cases = [
        ({"quantity": "0", "currency": "usd"}, 400, "whole number of packs from 1 to 100"),
        ({"quantity": "two", "currency": "usd"}, 400, "whole number of packs from 1 to 100"),
        ({"currency": "gbp"}, 400, "has no price in gbp"),
        ({"pack_id": RETIRED.pack_id, "currency": "usd"}, 409, "no longer sold"),
        ({"pack_id": "missing", "currency": "usd"}, 409, "no longer sold"),
    ]
    for fields, status, message in cases:
        response = buy(client, **fields)
        assert response.status_code == status, fields
        assert 'id="buy-error"' in response.text and message in response.text, fields
        assert 'id="buy-credits"' in response.text  # the overview, with its packs


def test_a_stripe_refusal_is_a_message_not_a_crash(
    database_url: str, clock: ManualClock, shop: Ledger, keys: Keys
) -> None:
    for refusing in serve(RefusingStripe()):
        ledger = open_shop(database_url, clock, refusing)
        try:
            with app_client(ledger) as client:
                sign_in(client, keys.write)
                response = buy(client, currency="usd")
                assert response.status_code == 502
                error = re.search(r'id="buy-error">(.*?)</p>', response.text, re.S)
                assert error is not None
                assert text(error.group(1)) == (
                    "Stripe refused the request: Not today. Nothing was charged; "
                    "please try again in a moment."
                )
        finally:
            ledger.close()


# -- purchases and their events -------------------------------------------------------------


def purchased(client: TestClient, shop: Ledger, stripe: FakeStripe) -> dict[str, Any]:
    """Two packs bought in USD and paid: the session as Stripe reports it."""
    response = buy(client, quantity="2", currency="usd")
    session = paid_session(stripe.objects[response.headers["location"].rsplit("/", 1)[1]])
    assert deliver(shop, "checkout.session.completed", session) == "fulfilled"
    return session


def test_the_purchases_page_shows_what_was_paid_refunded_and_disputed(
    client: TestClient, keys: Keys, shop: Ledger, stripe: FakeStripe
) -> None:
    sign_in(client, keys.write)
    assert "No purchases yet." in client.get(f"/dashboard/accounts/{SHOP}/purchases").text
    session = purchased(client, shop, stripe)
    [payment] = shop.payments.purchases(SHOP).data
    page = client.get(f"/dashboard/accounts/{SHOP}/purchases")
    assert page.status_code == 200
    row = text(page.text.split(f'data-payment="{payment.payment_id}"', 1)[1].split("</tr>")[0])
    assert "1,000 credits × 2 2,000 18.00 USD — — no dispute" in row
    for stripe_id in (session["id"], session["payment_intent"]):
        assert stripe_id in row
    assert f"Grant {payment.grant_id} Transaction {payment.transfer_id}" in row

    shop.charge(account_id=SHOP, amount=Credits.of(1500))
    charge = {"id": "ch_1", "payment_intent": session["payment_intent"], "amount": 1800}
    assert deliver(shop, "charge.refunded", {**charge, "amount_refunded": 900}) == "refunded"
    dispute = {
        "id": "dp_1",
        "payment_intent": session["payment_intent"],
        "amount": 900,
        "currency": "usd",
        "reason": "product_not_received",
    }
    assert deliver(shop, "charge.dispute.created", dispute) == "disputed"
    page = client.get(f"/dashboard/accounts/{SHOP}/purchases")
    row = text(page.text.split(f'data-payment="{payment.payment_id}"', 1)[1].split("</tr>")[0])
    # Half refunded covers 1,000 credits: 500 were unspent and are taken back.
    assert "2,000 18.00 USD 9.00 USD 500 Disputed dp_1" in row


def test_the_events_page_words_the_payment_events(
    client: TestClient, keys: Keys, shop: Ledger, stripe: FakeStripe
) -> None:
    sign_in(client, keys.write)
    session = purchased(client, shop, stripe)
    shop.charge(account_id=SHOP, amount=Credits.of(1500))
    charge = {"id": "ch_1", "payment_intent": session["payment_intent"], "amount": 1800}
    deliver(shop, "charge.refunded", {**charge, "amount_refunded": 900})
    dispute = {"id": "dp_1", "payment_intent": session["payment_intent"], "amount": 1800}
    deliver(shop, "charge.dispute.created", {**dispute, "reason": "fraudulent"})
    stripe.decline = True
    # Nothing left after the refund: below the threshold, so a recharge starts at once.
    shop.payments.set_auto_recharge(
        SHOP, AutoRecharge(SMALL.pack_id, Credits.of(100), currency="usd")
    )
    dispatcher = shop.webhook_dispatcher()
    try:
        assert dispatcher.drain(timeout_s=30)
    finally:
        dispatcher.stop()

    page = client.get(f"/dashboard/accounts/{SHOP}/events")
    assert page.status_code == 200
    body = text(page.text)
    for sentence in (
        "Credits bought credits Bought 2,000 credits (credits-1000 × 2) for 18.00 USD",
        "Payment refunded credits Payment refunded, 9.00 USD in all: "
        "500 credits taken back, 500 already spent",
        "Payment disputed credits Payment disputed: 18.00 USD (fraudulent)",
        "Auto-recharge failed credits Auto-recharge of credits-100 failed: "
        "Your card has insufficient funds. Paused until a new card is saved",
    ):
        assert sentence in body, (sentence, body)
    for kind in ("payment.succeeded", "auto_recharge.failed"):
        filtered = client.get(f"/dashboard/accounts/{SHOP}/events", params={"type": kind})
        assert filtered.status_code == 200
        assert set(re.findall(r'data-type="([^"]+)"', filtered.text)) == {kind}


def test_the_rarer_wordings() -> None:
    describe = event_figures.DESCRIPTIONS
    recharge = {"kind": "auto_recharge", "pack_id": "p", "quantity": 1, "credits": 1_000}
    assert describe["payment.succeeded"](
        {**recharge, "amount_paid": 500, "currency": "jpy"}, "UTC"
    ) == ("Auto-recharge bought 1 credit (p × 1) for 500 JPY")
    skipped = {
        "status": "skipped",
        "pack_id": "p",
        "reason": "monthly limit of 5 recharges reached",
    }
    assert describe["auto_recharge.failed"](skipped, "UTC") == (
        "Auto-recharge of p skipped: monthly limit of 5 recharges reached"
    )
    nothing_back = {"amount_refunded": 100, "currency": "usd"}
    assert describe["payment.refunded"](nothing_back, "UTC") == "Payment refunded, 1.00 USD in all"
