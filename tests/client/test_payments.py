"""The SDK's payment resources against the app, on SQLite and PostgreSQL, with a local
Stripe stand-in: credit packs, Checkout, Stripe's notification, purchases, auto-recharge."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.client.conftest import MakeClient, Sleeps, make_async_client, run
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
from creditbook.client import (
    Client,
    InternalServerError,
    NotFoundError,
    Pager,
    PermissionDeniedError,
    UnprocessableEntityError,
)
from creditbook.client.models import CheckoutOut, CreditPackOut, PaymentOut
from creditbook.engine.payments.stripe_api import StripeGateway, StripeSettings
from creditbook.store.database import make_engine

OK_URL = "https://example.com/billing?paid={CHECKOUT_SESSION_ID}"
BACK_URL = "https://example.com/billing"
PACK: dict[str, Any] = {
    "credits": 1000,
    "prices": {"usd": 900, "eur": 850},
    "name": "1,000 credits",
    "expires_after_months": 12,
}


@pytest.fixture
def stripe() -> Iterator[FakeStripe]:
    yield from serve(FakeStripe())


@pytest.fixture
def ledger(database_url: str, clock: ManualClock, stripe: FakeStripe) -> Iterator[Ledger]:
    """The app's ledger, with Stripe at the stand-in (overrides tests/conftest.py's)."""
    settings = StripeSettings(api_key=API_KEY, webhook_secret=WEBHOOK_SECRET, api_base=stripe.url)
    ledger = Ledger(make_engine(database_url), clock, stripe=settings)
    try:
        yield ledger
    finally:
        ledger.close()


@pytest.fixture
def shop(client: Client) -> Client:
    """The operator's client with the pack `credits-1000` and an account `acme`."""
    client.credit_packs.put("credits-1000", **PACK)
    client.accounts.create(plan_id="pro", account_id="acme", name="Acme Ltd")
    return client


def buy(client: Client, quantity: int = 1, **options: Any) -> CheckoutOut:
    return client.checkout_sessions.create(
        "acme",
        "credits-1000",
        success_url=OK_URL,
        cancel_url=BACK_URL,
        quantity=quantity,
        currency="usd",
        **options,
    )


def stripe_reports_paid(
    test_client: TestClient, stripe: FakeStripe, session: CheckoutOut
) -> dict[str, Any]:
    """Stripe's `checkout.session.completed` for a paid session, signed, to the server."""
    payload, signature = signed(
        event("checkout.session.completed", paid_session(stripe.objects[session.id]))
    )
    answer = test_client.post(
        "/v1/integrations/stripe/webhook",
        content=payload,
        headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
    )
    assert answer.status_code == 200, answer.text
    receipt: dict[str, Any] = answer.json()
    return receipt


def test_credit_packs_are_put_listed_and_read(shop: Client, make_client: MakeClient) -> None:
    pack = shop.credit_packs.get("credits-1000")
    assert isinstance(pack, CreditPackOut)
    assert (pack.credits, pack.prices, pack.expires_after_months, pack.active) == (
        Decimal(1000),
        {"usd": 900, "eur": 850},
        12,
        True,
    )
    retired = shop.credit_packs.put("old", credits="2.5", prices={"USD": 100}, active=False)
    assert (retired.credits, retired.prices, retired.name) == (Decimal("2.5"), {"usd": 100}, "old")
    packs = shop.credit_packs.list()
    assert isinstance(packs, Pager)
    assert [p.pack_id for p in packs] == ["credits-1000", "old"]

    reader = make_client(key=shop.keys.create("acme", scope="read").secret)
    assert [p.pack_id for p in reader.credit_packs.list()] == ["credits-1000"]
    with pytest.raises(NotFoundError):
        reader.credit_packs.get("old")


def test_a_bad_pack_is_refused_and_nothing_changes(shop: Client) -> None:
    with pytest.raises(UnprocessableEntityError) as raised:
        shop.credit_packs.put("credits-1000", credits=1000, prices={"dollars": 5})
    assert raised.value.code == "validation_error"
    with pytest.raises(TypeError, match="credits"):
        shop.credit_packs.put("credits-1000", credits=2.5, prices={"usd": 1})  # type: ignore[arg-type]
    assert shop.credit_packs.get("credits-1000").prices == {"usd": 900, "eur": 850}


def test_checkout_creates_a_session_once_per_idempotency_key(
    shop: Client, stripe: FakeStripe
) -> None:
    session = buy(shop, quantity=2, idempotency_key="order-17")
    assert session.url.startswith("https://checkout.stripe.com/")
    assert (session.account_id, session.pack_id, session.quantity) == ("acme", "credits-1000", 2)
    assert (session.credits, session.currency, session.amount_total) == (Decimal(2000), "usd", 1800)
    assert buy(shop, quantity=2, idempotency_key="order-17").id == session.id
    keys = {call.idempotency_key for call in stripe.calls_to("POST", "/v1/checkout/sessions")}
    assert keys == {"creditbook-checkout-acme-order-17"}


def test_an_account_key_buys_for_its_own_account(
    shop: Client, make_client: MakeClient, stripe: FakeStripe
) -> None:
    secret = shop.keys.create("acme", scope="write").secret
    own = make_client(key=secret)
    session = own.checkout_sessions.create(
        None, "credits-1000", success_url=OK_URL, cancel_url=BACK_URL, currency="eur"
    )
    assert (session.account_id, session.amount_total) == ("acme", 850)
    reader = make_client(key=shop.keys.create("acme", scope="read").secret)
    with pytest.raises(PermissionDeniedError) as refused:
        reader.checkout_sessions.create(
            "acme", "credits-1000", success_url=OK_URL, cancel_url=BACK_URL, currency="eur"
        )
    assert refused.value.code == "forbidden"


def test_checkout_refuses_bad_input_before_stripe(shop: Client, stripe: FakeStripe) -> None:
    with pytest.raises(UnprocessableEntityError):
        shop.checkout_sessions.create(
            "acme", "credits-1000", success_url="not a url", cancel_url=BACK_URL
        )
    with pytest.raises(UnprocessableEntityError, match="currency"):
        shop.checkout_sessions.create(
            "acme", "credits-1000", success_url=OK_URL, cancel_url=BACK_URL
        )
    with pytest.raises(NotFoundError):
        shop.checkout_sessions.create("acme", "missing", success_url=OK_URL, cancel_url=BACK_URL)
    assert stripe.calls_to("POST", "/v1/checkout/sessions") == []


def test_without_stripe_checkout_fails_at_once_with_its_code(
    shop: Client, ledger: Ledger, sleeps: Sleeps
) -> None:
    ledger.payments.gateway = StripeGateway(StripeSettings())
    with pytest.raises(InternalServerError) as raised:
        buy(shop)
    error = raised.value
    assert (error.status_code, error.code) == (503, "payments_not_configured")
    assert "CREDITBOOK_STRIPE_API_KEY" in error.message
    assert sleeps.delays == []  # a missing setting is not retried


def test_payments_list_what_stripe_reported_paid(
    shop: Client, stripe: FakeStripe, test_client: TestClient, clock: ManualClock
) -> None:
    assert list(shop.payments.list("acme")) == []
    first = buy(shop, quantity=2)
    receipt = stripe_reports_paid(test_client, stripe, first)
    assert receipt["action"] == "fulfilled"
    assert stripe_reports_paid(test_client, stripe, first)["action"] == "duplicate"
    clock.advance(minutes=5)
    second = buy(shop)
    stripe_reports_paid(test_client, stripe, second)

    payments = list(shop.payments.list("acme", limit=1))
    assert all(isinstance(p, PaymentOut) for p in payments)
    assert [p.checkout_session_id for p in payments] == [second.id, first.id]  # newest first
    assert [(p.credits, p.amount_paid, p.currency) for p in payments] == [
        (Decimal(1000), 900, "usd"),
        (Decimal(2000), 1800, "usd"),
    ]
    assert payments[1].payment_id == receipt["payment_id"]
    page = shop.payments.list("acme", limit=1).page
    assert page.has_more and page.next_cursor
    assert shop.credits.balance("acme").pools["credits"].available == 100 + 3000
    with pytest.raises(ValueError, match="limit"):
        shop.payments.list("acme", limit=101)


def test_auto_recharge_is_set_read_and_removed(shop: Client) -> None:
    assert shop.auto_recharge.get("acme").settings is None
    state = shop.auto_recharge.set(
        "acme", pack_id="credits-1000", threshold=50, max_per_month=3, currency="usd"
    )
    assert state.settings is not None
    assert (state.settings.pack_id, state.settings.threshold, state.settings.max_per_month) == (
        "credits-1000",
        Decimal(50),
        3,
    )
    assert (state.pool, state.paused, state.recent) == ("credits", False, [])
    assert shop.auto_recharge.get("acme") == state
    with pytest.raises(UnprocessableEntityError):
        shop.auto_recharge.set("acme", pack_id="credits-1000", threshold=50, currency="gbp")
    with pytest.raises(NotFoundError):
        shop.auto_recharge.set("acme", pack_id="missing", threshold=50)
    assert shop.auto_recharge.get("acme") == state  # refusals changed nothing
    removed = shop.auto_recharge.remove("acme")
    assert removed.settings is None
    assert shop.auto_recharge.remove("acme").settings is None  # removing none is no error


def test_the_async_client_sells_credits_too(
    app: FastAPI, operator_key: str, sleeps: Sleeps, stripe: FakeStripe
) -> None:
    async def scenario() -> None:
        async with make_async_client(app, operator_key, sleeps) as client:
            await client.plans.put("free", allowances={"credits": 0})
            await client.accounts.create(plan_id="free", account_id="acme")
            pack = await client.credit_packs.put("credits-1000", **PACK)
            assert pack.credits == 1000
            assert [p.pack_id async for p in client.credit_packs.list()] == ["credits-1000"]
            assert (await client.credit_packs.get("credits-1000")).name == "1,000 credits"
            session = await client.checkout_sessions.create(
                "acme", "credits-1000", success_url=OK_URL, cancel_url=BACK_URL, currency="eur"
            )
            assert session.amount_total == 850
            state = await client.auto_recharge.set(
                "acme", pack_id="credits-1000", threshold=10, currency="eur"
            )
            assert state.settings is not None and state.settings.currency == "eur"
            assert (await client.auto_recharge.get("acme")).settings == state.settings
            assert (await client.auto_recharge.remove("acme")).settings is None
            assert [p async for p in client.payments.list("acme")] == []

    run(scenario())
