"""Selling credits through Stripe, on both databases: packs, Checkout, fulfilment once per
Stripe object, refunds of the unspent part, disputes, and auto-recharge.

Outbound calls go to a local Stripe stand-in (`tests/stripe_fake.py`); notifications are
signed as Stripe signs them and verified by the `stripe` package.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import pytest
from sqlalchemy import select
from tests.stripe_fake import (
    API_KEY,
    WEBHOOK_SECRET,
    FakeStripe,
    event,
    paid_session,
    serve,
    signed,
)

from creditbook import Credits, Ledger, ManualClock, Plan, ValidationError
from creditbook.domain.errors import (
    NotFoundError,
    PaymentProviderError,
    PaymentsNotConfiguredError,
    PurchaseNotFulfilledError,
    SignatureError,
    StateError,
)
from creditbook.domain.payments import AutoRecharge, CreditPack
from creditbook.engine.payments.checkout import CheckoutRequest
from creditbook.engine.payments.stripe_api import StripeSettings
from creditbook.store import schema
from creditbook.store.database import make_engine
from creditbook.store.queries import payments as recharge_queries

PACK = CreditPack(
    "credits-1000",
    Credits.of(1000),
    MappingProxyType({"usd": 900, "eur": 850}),
    name="1,000 credits",
    expires_after_months=12,
)
OK_URL = "https://example.com/billing?paid={CHECKOUT_SESSION_ID}"
BACK_URL = "https://example.com/billing"


@pytest.fixture
def stripe() -> Iterator[FakeStripe]:
    yield from serve(FakeStripe())


@pytest.fixture
def shop(database_url: str, clock: ManualClock, stripe: FakeStripe) -> Iterator[Ledger]:
    settings = StripeSettings(api_key=API_KEY, webhook_secret=WEBHOOK_SECRET, api_base=stripe.url)
    ledger = Ledger(make_engine(database_url, pool_size=30), clock, stripe=settings)
    ledger.put_plan(Plan("free", allowances={"credits": Credits.of(0)}))
    ledger.open_account("free", account_id="acme", name="Acme Ltd")
    ledger.payments.put_pack(PACK)
    try:
        yield ledger
    finally:
        ledger.close()


def deliver(ledger: Ledger, kind: str, obj: dict[str, Any]) -> Any:
    payload, signature = signed(event(kind, obj))
    return ledger.payments.handle_stripe(payload, signature)


def checkout(ledger: Ledger, stripe: FakeStripe, **fields: Any) -> dict[str, Any]:
    fields.setdefault("account_id", "acme")
    session = ledger.payments.checkout(
        CheckoutRequest(pack_id=PACK.pack_id, success_url=OK_URL, cancel_url=BACK_URL, **fields)
    )
    return stripe.objects[session.session_id]


def available(ledger: Ledger, account_id: str = "acme") -> Decimal:
    return ledger.balance(account_id).pools["credits"].available.to_decimal()


def event_types(ledger: Ledger, account_id: str = "acme") -> list[str]:
    page = ledger.events(account_id=account_id, limit=100)
    return [e.type for e in sorted(page.data, key=lambda e: e.sequence)]


# -- packs ------------------------------------------------------------------------------------


def test_packs_are_stored_listed_and_replaced(shop: Ledger) -> None:
    assert shop.payments.get_pack("credits-1000") == PACK
    cheaper = CreditPack("credits-1000", Credits.of(1000), MappingProxyType({"USD": 800}))
    shop.payments.put_pack(cheaper)
    assert [p.prices["usd"] for p in shop.payments.list_packs()] == [800]
    with pytest.raises(NotFoundError):
        shop.payments.get_pack("missing")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"credits": Credits.of(0)}, "positive"),
        ({"prices": MappingProxyType({})}, "at least one currency"),
        ({"prices": MappingProxyType({"usd": 0})}, "1..99,999,999"),
        ({"prices": MappingProxyType({"dollars": 5})}, "ISO 4217"),
        ({"prices": MappingProxyType({"usd": 5, "USD": 6})}, "priced twice"),
        ({"expires_after_months": 0}, "1..120"),
    ],
)
def test_a_bad_pack_is_refused(fields: dict[str, Any], message: str) -> None:
    values: dict[str, Any] = {
        "pack_id": "p",
        "credits": Credits.of(1),
        "prices": MappingProxyType({"usd": 100}),
        **fields,
    }
    with pytest.raises(ValidationError, match=message):
        CreditPack(**values)


# -- checkout ---------------------------------------------------------------------------------


def test_checkout_creates_a_payment_mode_session_and_reuses_the_customer(
    shop: Ledger, stripe: FakeStripe
) -> None:
    first = shop.payments.checkout(
        CheckoutRequest("acme", PACK.pack_id, OK_URL, BACK_URL, quantity=2, currency="eur")
    )
    second = shop.payments.checkout(
        CheckoutRequest("acme", PACK.pack_id, OK_URL, BACK_URL, currency="usd")
    )
    customers = stripe.calls_to("POST", "/v1/customers")
    assert len(customers) == 1
    assert customers[0].params["metadata[creditbook_account_id]"] == "acme"
    assert customers[0].params["name"] == "Acme Ltd"
    assert customers[0].idempotency_key == "creditbook-customer-acme"
    assert first.customer_id == second.customer_id == stripe.objects[first.customer_id]["id"]
    sessions = stripe.calls_to("POST", "/v1/checkout/sessions")
    assert len(sessions) == 2
    params = sessions[0].params
    assert params["mode"] == "payment"
    assert params["customer"] == first.customer_id
    assert params["line_items[0][quantity]"] == "2"
    assert params["line_items[0][price_data][currency]"] == "eur"
    assert params["line_items[0][price_data][unit_amount]"] == "850"
    assert params["line_items[0][price_data][product_data][name]"] == "1,000 credits"
    assert params["metadata[creditbook_account_id]"] == "acme"
    assert params["metadata[creditbook_credits]"] == str(2000 * 1000)
    assert params["payment_intent_data[setup_future_usage]"] == "off_session"
    assert params["success_url"] == OK_URL and params["cancel_url"] == BACK_URL
    assert sessions[0].authorization == f"Bearer {API_KEY}"
    assert first.url.startswith("https://checkout.stripe.com/")
    assert (first.amount_total, first.currency, first.credits) == (1700, "eur", Credits.of(2000))
    assert second.amount_total == 900


def test_the_same_idempotency_key_answers_the_same_session(
    shop: Ledger, stripe: FakeStripe
) -> None:
    request = CheckoutRequest(
        "acme", PACK.pack_id, OK_URL, BACK_URL, currency="usd", idempotency_key="buy-1"
    )
    assert shop.payments.checkout(request).session_id == shop.payments.checkout(request).session_id
    keys = {c.idempotency_key for c in stripe.calls_to("POST", "/v1/checkout/sessions")}
    assert keys == {"creditbook-checkout-acme-buy-1"}


def test_checkout_refuses_what_it_cannot_sell(shop: Ledger, stripe: FakeStripe) -> None:
    with pytest.raises(ValidationError, match="name a currency"):
        shop.payments.checkout(CheckoutRequest("acme", PACK.pack_id, OK_URL, BACK_URL))
    with pytest.raises(ValidationError, match="no price in gbp"):
        shop.payments.checkout(
            CheckoutRequest("acme", PACK.pack_id, OK_URL, BACK_URL, currency="gbp")
        )
    with pytest.raises(NotFoundError):
        shop.payments.checkout(
            CheckoutRequest("nobody", PACK.pack_id, OK_URL, BACK_URL, currency="usd")
        )
    shop.payments.put_pack(
        CreditPack("old", Credits.of(5), MappingProxyType({"usd": 100}), active=False)
    )
    with pytest.raises(StateError, match="no longer sold"):
        shop.payments.checkout(CheckoutRequest("acme", "old", OK_URL, BACK_URL))
    assert stripe.calls == []


def test_without_a_stripe_key_checkout_answers_not_configured(
    database_url: str, clock: ManualClock
) -> None:
    ledger = Ledger(make_engine(database_url), clock)
    try:
        with pytest.raises(PaymentsNotConfiguredError, match="CREDITBOOK_STRIPE_API_KEY"):
            ledger.payments.checkout(CheckoutRequest("acme", "p", OK_URL, BACK_URL))
        with pytest.raises(PaymentsNotConfiguredError, match="CREDITBOOK_STRIPE_WEBHOOK_SECRET"):
            ledger.payments.handle_stripe(b"{}", "t=1,v1=00")
    finally:
        ledger.close()


def test_a_stripe_refusal_is_a_provider_error(shop: Ledger, stripe: FakeStripe) -> None:
    shop.payments.gateway.settings = StripeSettings(api_key=API_KEY, api_base="http://127.0.0.1:9")
    shop.payments.gateway._client = None
    with pytest.raises(PaymentProviderError, match="Stripe"):
        shop.payments.checkout(
            CheckoutRequest("acme", PACK.pack_id, OK_URL, BACK_URL, currency="usd")
        )


# -- fulfilment -------------------------------------------------------------------------------


def test_a_paid_session_grants_its_credits_once_whatever_the_repeats(
    shop: Ledger, stripe: FakeStripe, clock: ManualClock
) -> None:
    session = paid_session(checkout(shop, stripe, quantity=2, currency="usd"))
    outcomes = [deliver(shop, "checkout.session.completed", session) for _ in range(3)]
    outcomes.append(deliver(shop, "checkout.session.async_payment_succeeded", session))
    assert [o.action for o in outcomes] == ["fulfilled", "duplicate", "duplicate", "duplicate"]
    assert available(shop) == 2000
    [payment] = shop.payments.purchases("acme").data
    assert (payment.credits, payment.amount_paid, payment.currency) == (
        Credits.of(2000),
        1800,
        "usd",
    )
    assert payment.checkout_session_id == session["id"]
    assert payment.payment_intent_id == session["payment_intent"]
    with shop.engine.connect() as connection:
        grant = connection.execute(
            select(schema.grants).where(schema.grants.c.grant_id == payment.grant_id)
        ).one()
    assert (grant.source, grant.amount) == ("top_up", 2_000_000)
    assert grant.expires_at is not None and grant.expires_at.year == clock.now().year + 1
    history = shop.transactions("acme").data
    assert any(session["id"] in item.description for item in history)
    assert event_types(shop)[-2:] == ["credits.granted", "payment.succeeded"]
    assert shop.verify().ok


def test_an_unpaid_session_waits_for_its_async_payment(shop: Ledger, stripe: FakeStripe) -> None:
    session = checkout(shop, stripe, currency="usd")
    waiting = {
        **session,
        "status": "complete",
        "payment_status": "unpaid",
        "payment_intent": "pi_x",
    }
    assert deliver(shop, "checkout.session.completed", waiting).action == "ignored"
    assert available(shop) == 0
    succeeded = {**waiting, "payment_status": "paid"}
    assert (
        deliver(shop, "checkout.session.async_payment_succeeded", succeeded).action == "fulfilled"
    )
    assert available(shop) == 1000


def test_twenty_concurrent_deliveries_grant_once(shop: Ledger, stripe: FakeStripe) -> None:
    session = paid_session(checkout(shop, stripe, currency="usd"))
    with ThreadPoolExecutor(20) as pool:
        actions = list(
            pool.map(
                lambda _: deliver(shop, "checkout.session.completed", session).action, range(20)
            )
        )
    assert sorted(actions) == ["duplicate"] * 19 + ["fulfilled"]
    assert available(shop) == 1000
    assert shop.verify().ok


def test_bad_or_stale_signatures_change_nothing(shop: Ledger, stripe: FakeStripe) -> None:
    session = paid_session(checkout(shop, stripe, currency="usd"))
    body = event("checkout.session.completed", session)
    payload, _ = signed(body)
    _, wrong = signed(body, secret="whsec_other")
    _, stale = signed(body, at=int(time.time()) - 3600)
    tampered, good = signed(body)
    for bad_payload, header in [
        (payload, wrong),
        (payload, stale),
        (payload, None),
        (payload, "garbage"),
    ]:
        with pytest.raises(SignatureError):
            shop.payments.handle_stripe(bad_payload, header)
    with pytest.raises(SignatureError):
        shop.payments.handle_stripe(tampered.replace(b"paid", b"PAID"), good)
    assert available(shop) == 0 and shop.payments.purchases("acme").data == []


def test_notifications_about_other_objects_are_acknowledged_and_ignored(shop: Ledger) -> None:
    assert deliver(shop, "invoice.paid", {"id": "in_1"}).action == "ignored"
    foreign = {"id": "cs_other", "payment_status": "paid", "metadata": {}}
    assert deliver(shop, "checkout.session.completed", foreign).action == "ignored"
    assert (
        deliver(shop, "charge.refunded", {"id": "ch_1", "payment_intent": "pi_unknown"}).action
        == "ignored"
    )


# -- refunds and disputes ---------------------------------------------------------------------


def bought(shop: Ledger, stripe: FakeStripe) -> dict[str, Any]:
    session = paid_session(checkout(shop, stripe, currency="usd"))
    assert deliver(shop, "checkout.session.completed", session).action == "fulfilled"
    return session


def test_a_refund_after_partial_spending_takes_back_exactly_the_unspent_part(
    shop: Ledger, stripe: FakeStripe
) -> None:
    session = bought(shop, stripe)
    shop.charge(account_id="acme", amount=Credits.of(700))
    charge = {
        "id": "ch_1",
        "object": "charge",
        "payment_intent": session["payment_intent"],
        "amount": 900,
        "currency": "usd",
    }
    half = deliver(shop, "charge.refunded", {**charge, "amount_refunded": 450, "refunded": False})
    assert half.action == "refunded"
    # Half the payment covers 500 credits: the 300 unspent are taken back, 200 were spent.
    assert available(shop) == 0
    assert (
        deliver(shop, "charge.refunded", {**charge, "amount_refunded": 450}).action == "duplicate"
    )
    full = deliver(shop, "charge.refunded", {**charge, "amount_refunded": 900, "refunded": True})
    assert full.action == "refunded" and available(shop) == 0
    [payment] = shop.payments.purchases("acme").data
    assert payment.amount_refunded == 900
    assert payment.credits_refunded == Credits.of(1000)
    assert payment.credits_taken_back == Credits.of(300)
    refunds = [
        e for e in shop.events(account_id="acme", limit=100).data if e.type == "payment.refunded"
    ]
    data = sorted((e.body()["data"] for e in refunds), key=lambda d: d["amount_refunded"])
    assert [(d["credits_taken_back"], d["credits_not_recovered"]) for d in data] == [
        (300, 200),
        (0, 500),
    ]
    assert shop.verify().ok


def test_a_full_refund_of_unspent_credits_takes_them_all_back(
    shop: Ledger, stripe: FakeStripe
) -> None:
    session = bought(shop, stripe)
    charge = {
        "id": "ch_2",
        "payment_intent": session["payment_intent"],
        "amount": 900,
        "amount_refunded": 900,
    }
    deliver(shop, "charge.refunded", charge)
    assert available(shop) == 0
    assert shop.payments.purchases("acme").data[0].credits_taken_back == Credits.of(1000)
    assert shop.verify().ok


def test_a_dispute_is_recorded_once(shop: Ledger, stripe: FakeStripe) -> None:
    session = bought(shop, stripe)
    dispute = {
        "id": "dp_1",
        "object": "dispute",
        "payment_intent": session["payment_intent"],
        "amount": 900,
        "currency": "usd",
        "reason": "fraudulent",
    }
    assert deliver(shop, "charge.dispute.created", dispute).action == "disputed"
    assert deliver(shop, "charge.dispute.created", dispute).action == "duplicate"
    assert event_types(shop).count("payment.disputed") == 1
    assert shop.payments.purchases("acme").data[0].dispute_id == "dp_1"
    assert available(shop) == 1000


# -- auto-recharge ----------------------------------------------------------------------------


def recharge_settings(shop: Ledger, **fields: Any) -> None:
    fields.setdefault("max_per_month", 3)
    shop.payments.set_auto_recharge(
        "acme", AutoRecharge(PACK.pack_id, Credits.of(100), currency="usd", **fields)
    )


def run_dispatcher(shop: Ledger) -> None:
    dispatcher = shop.webhook_dispatcher()
    try:
        assert dispatcher.drain(timeout_s=30)
    finally:
        dispatcher.stop()


def test_crossing_the_threshold_buys_the_pack_once_on_the_saved_card(
    shop: Ledger, stripe: FakeStripe
) -> None:
    bought(shop, stripe)
    recharge_settings(shop)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: shop.charge(account_id="acme", amount=Credits.of(100)), range(10)))
    run_dispatcher(shop)
    run_dispatcher(shop)  # a second dispatcher round finds nothing more to do
    intents = stripe.calls_to("POST", "/v1/payment_intents")
    assert len(intents) == 1
    params = intents[0].params
    assert (params["amount"], params["currency"], params["off_session"], params["confirm"]) == (
        "900",
        "usd",
        "true",
        "true",
    )
    assert params["payment_method"] == "pm_card_visa"
    assert params["customer"] == shop.payments.get_auto_recharge("acme").customer_id
    [low] = [e for e in shop.events(account_id="acme", limit=100).data if e.type == "balance.low"]
    assert intents[0].idempotency_key == f"creditbook-recharge-{low.event_id}"
    assert available(shop) == 1000
    state = shop.payments.get_auto_recharge("acme")
    assert [r.status for r in state.recent] == ["succeeded"]
    # Stripe's own notification of the payment, later, grants nothing more.
    intent = stripe.objects[state.recent[0].payment_intent_id]
    assert deliver(shop, "payment_intent.succeeded", intent).action == "duplicate"
    assert available(shop) == 1000
    assert len(shop.payments.purchases("acme").data) == 2
    assert shop.verify().ok


def test_a_recharge_is_granted_on_payment_intent_succeeded(
    shop: Ledger, stripe: FakeStripe
) -> None:
    stripe.intent_status = "processing"
    bought(shop, stripe)
    recharge_settings(shop)
    shop.charge(account_id="acme", amount=Credits.of(950))
    run_dispatcher(shop)
    assert available(shop) == 50
    [recharge] = shop.payments.get_auto_recharge("acme").recent
    assert recharge.status == "requested"
    intent = {**stripe.objects[recharge.payment_intent_id], "status": "succeeded"}
    assert deliver(shop, "payment_intent.succeeded", intent).action == "fulfilled"
    assert available(shop) == 1050
    assert shop.payments.get_auto_recharge("acme").recent[0].status == "succeeded"


def test_a_declined_card_records_the_failure_and_pauses_until_the_card_changes(
    shop: Ledger, stripe: FakeStripe
) -> None:
    bought(shop, stripe)
    recharge_settings(shop)
    stripe.decline = True
    shop.charge(account_id="acme", amount=Credits.of(950))
    run_dispatcher(shop)
    state = shop.payments.get_auto_recharge("acme")
    assert state.paused_at is not None and "insufficient funds" in (state.paused_reason or "")
    assert [r.status for r in state.recent] == ["failed"]
    # Stripe's notification of the same failure records nothing more.
    failed = {
        "id": state.recent[0].payment_intent_id,
        "metadata": {
            "creditbook_kind": "auto_recharge",
            "creditbook_account_id": "acme",
            "creditbook_recharge_id": state.recent[0].recharge_id,
        },
        "last_payment_error": {"message": "declined"},
    }
    deliver(shop, "payment_intent.payment_failed", failed)
    assert event_types(shop).count("auto_recharge.failed") == 1
    # Paused: the next crossing is skipped, and no payment is asked for.
    shop.grant(account_id="acme", amount=Credits.of(500), source="bonus")
    shop.charge(account_id="acme", amount=Credits.of(500))
    run_dispatcher(shop)
    assert len(stripe.calls_to("POST", "/v1/payment_intents")) == 1
    # A new card resumes it.
    stripe.decline = False
    attached = {"id": "pm_new", "object": "payment_method", "customer": state.customer_id}
    assert deliver(shop, "payment_method.attached", attached).action == "payment_method_updated"
    resumed = shop.payments.get_auto_recharge("acme")
    assert resumed.paused_at is None and resumed.payment_method_id == "pm_new"


def test_the_monthly_limit_skips_further_recharges(
    shop: Ledger, stripe: FakeStripe, clock: ManualClock
) -> None:
    bought(shop, stripe)
    recharge_settings(shop, max_per_month=1)
    for _ in range(2):
        clock.advance(minutes=1)
        shop.charge(account_id="acme", amount=Credits.of(1000))
        run_dispatcher(shop)
    state = shop.payments.get_auto_recharge("acme")
    assert [r.status for r in state.recent] == ["skipped", "succeeded"]
    assert "monthly limit of 1" in state.recent[0].reason
    assert len(stripe.calls_to("POST", "/v1/payment_intents")) == 1


def test_setting_a_threshold_above_the_balance_recharges_at_once(
    shop: Ledger, stripe: FakeStripe
) -> None:
    bought(shop, stripe)
    shop.charge(account_id="acme", amount=Credits.of(950))
    recharge_settings(shop)
    run_dispatcher(shop)
    assert available(shop) == 1050
    shop.payments.set_auto_recharge("acme", None)
    assert shop.payments.get_auto_recharge("acme").settings is None


def test_auto_recharge_refuses_an_unknown_pack_or_currency(shop: Ledger) -> None:
    with pytest.raises(NotFoundError):
        shop.payments.set_auto_recharge("acme", AutoRecharge("missing", Credits.of(1)))
    with pytest.raises(ValidationError, match="name a currency"):
        shop.payments.set_auto_recharge("acme", AutoRecharge(PACK.pack_id, Credits.of(1)))
    assert shop.payments.get_auto_recharge("acme").settings is None


def test_revenue_reports_what_purchases_paid_net_of_refunds(
    shop: Ledger, stripe: FakeStripe, clock: ManualClock
) -> None:
    session = bought(shop, stripe)
    bought(shop, stripe)
    deliver(
        shop,
        "charge.refunded",
        {
            "id": "ch",
            "payment_intent": session["payment_intent"],
            "amount": 900,
            "amount_refunded": 900,
        },
    )
    day = clock.now().date()
    [usd] = shop.payments.revenue("acme", day, day)
    assert (usd.purchases, usd.amount_paid, usd.amount_refunded, usd.net_amount) == (
        2,
        1800,
        900,
        900,
    )
    assert usd.credits_bought == Credits.of(2000) and usd.credits_refunded == Credits.of(1000)
    assert usd.cost_per_credit == Decimal("0.9000")
    assert json.dumps(str(usd.cost_per_credit))


def test_a_dispatcher_stopped_after_stripe_answered_asks_again_for_the_same_payment(
    shop: Ledger, stripe: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The recharge is recorded after Stripe answered: a dispatcher that dies in between
    leaves it due, and the next one asks again with the same idempotency key (Stripe answers
    the same PaymentIntent), so the account is charged and credited once."""
    bought(shop, stripe)
    recharge_settings(shop)
    shop.charge(account_id="acme", amount=Credits.of(950))
    stripe.intent_status = "processing"
    real = recharge_queries.update_recharge

    def dies_once(*args: Any, **values: Any) -> None:
        monkeypatch.setattr(recharge_queries, "update_recharge", real)
        raise RuntimeError("the dispatcher died here")

    monkeypatch.setattr(recharge_queries, "update_recharge", dies_once)
    run_dispatcher(shop)  # dies after Stripe answered: the recharge stays due
    run_dispatcher(shop)  # the next dispatcher asks again
    intents = stripe.calls_to("POST", "/v1/payment_intents")
    assert len(intents) == 2 and len({c.idempotency_key for c in intents}) == 1
    [recharge] = shop.payments.get_auto_recharge("acme").recent
    assert recharge.status == "requested"
    intent = {**stripe.objects[recharge.payment_intent_id], "status": "succeeded"}
    assert deliver(shop, "payment_intent.succeeded", intent).action == "fulfilled"
    assert deliver(shop, "payment_intent.succeeded", intent).action == "duplicate"
    assert available(shop) == 1050


def test_verify_reports_a_purchase_whose_grant_does_not_match(
    shop: Ledger, stripe: FakeStripe
) -> None:
    bought(shop, stripe)
    assert shop.verify().ok
    with shop.engine.begin() as connection:
        connection.execute(schema.payments.update().values(credits=999_000))
    [difference] = shop.verify().differences
    assert "bought 999000 millicredits, granted 1000000" in difference


def test_a_refund_before_its_purchase_is_refused_until_the_purchase_is_recorded(
    shop: Ledger, stripe: FakeStripe
) -> None:
    """Stripe does not promise an order: a refund of a creditbook payment that arrives before
    the payment's own notification answers 409 (Stripe retries it) instead of being lost."""
    session = paid_session(checkout(shop, stripe, currency="usd"), "pi_test_late")
    stripe.objects["pi_test_late"] = {
        "id": "pi_test_late",
        "object": "payment_intent",
        "metadata": session["metadata"],
    }
    charge = {"id": "ch_9", "payment_intent": "pi_test_late", "amount": 900, "amount_refunded": 900}
    with pytest.raises(PurchaseNotFulfilledError, match="not fulfilled yet"):
        deliver(shop, "charge.refunded", charge)
    dispute = {"id": "dp_9", "payment_intent": "pi_test_late", "amount": 900}
    with pytest.raises(PurchaseNotFulfilledError):
        deliver(shop, "charge.dispute.created", dispute)
    assert shop.payments.purchases("acme").data == []
    assert deliver(shop, "checkout.session.completed", session).action == "fulfilled"
    assert deliver(shop, "charge.refunded", charge).action == "refunded"
    assert available(shop) == 0
    # Another product's payment: Stripe's PaymentIntent carries no creditbook metadata.
    stripe.objects["pi_other"] = {"id": "pi_other", "object": "payment_intent", "metadata": {}}
    other = {**charge, "payment_intent": "pi_other"}
    assert deliver(shop, "charge.refunded", other).action == "ignored"
    assert shop.verify().ok
