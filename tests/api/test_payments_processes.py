"""Payments with two real `creditbook serve` processes on one database, on both databases:

- the same `checkout.session.completed` delivered 20 times at once, spread over the two
  processes, grants once;
- a burst of charges from both processes crossing the auto-recharge threshold asks Stripe
  for one PaymentIntent (both processes run a dispatcher; one at a time holds its lock).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import MappingProxyType

import httpx
import pytest
from tests.cli.test_serve_logs import serve, stop
from tests.stripe_fake import API_KEY, WEBHOOK_SECRET, FakeStripe, event, paid_session, signed
from tests.stripe_fake import serve as serve_stripe

from creditbook import Credits, Ledger, Plan
from creditbook.domain.payments import AutoRecharge, CreditPack
from creditbook.engine.payments.checkout import CheckoutRequest
from creditbook.engine.payments.stripe_api import StripeSettings

pytestmark = pytest.mark.slow
PACK = CreditPack("credits-1000", Credits.of(1000), MappingProxyType({"usd": 900}))
WEBHOOK = "/v1/integrations/stripe/webhook"


@pytest.fixture
def stripe() -> Iterator[FakeStripe]:
    yield from serve_stripe(FakeStripe())


def stripe_env(stripe: FakeStripe) -> dict[str, str]:
    return {
        "CREDITBOOK_STRIPE_API_KEY": API_KEY,
        "CREDITBOOK_STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "CREDITBOOK_STRIPE_API_BASE": stripe.url,
        "CREDITBOOK_RATE_LIMIT_PER_S": "100000",
        "CREDITBOOK_RATE_LIMIT_BURST": "100000",
    }


def open_shop(database_url: str, stripe: FakeStripe) -> tuple[dict[str, object], str]:
    """An account that bought a pack once (so it has a Stripe customer and card), and an
    operator key. Returns the paid session and the key."""
    settings = StripeSettings(api_key=API_KEY, webhook_secret=WEBHOOK_SECRET, api_base=stripe.url)
    ledger = Ledger.open(database_url, stripe=settings)
    try:
        ledger.put_plan(Plan("free", allowances={"credits": Credits.of(0)}))
        ledger.open_account("free", account_id="acme")
        ledger.payments.put_pack(PACK)
        session = ledger.payments.checkout(
            CheckoutRequest("acme", PACK.pack_id, "https://e.com/ok", "https://e.com/back")
        )
        operator = ledger.create_key(None, scope="operator").secret
        assert operator is not None
        return paid_session(stripe.objects[session.session_id]), operator
    finally:
        ledger.close()


def test_twenty_concurrent_deliveries_to_two_processes_grant_once(
    database_url: str, stripe: FakeStripe, tmp_path: Path
) -> None:
    session, operator = open_shop(database_url, stripe)
    servers = [
        serve(tmp_path, database_url, "--no-webhooks", env_extra=stripe_env(stripe))
        for _ in range(2)
    ]
    try:
        payload, signature = signed(event("checkout.session.completed", session))

        def deliver(index: int) -> str:
            base = servers[index % 2][1]
            answer = httpx.post(
                base + WEBHOOK, content=payload, headers={"Stripe-Signature": signature}, timeout=30
            )
            assert answer.status_code == 200, answer.text
            return str(answer.json()["action"])

        with ThreadPoolExecutor(20) as pool:
            actions = sorted(pool.map(deliver, range(20)))
        headers = {"Authorization": f"Bearer {operator}"}
        base = servers[0][1]
        balance = httpx.get(f"{base}/v1/accounts/acme/balance", headers=headers).json()
        purchases = httpx.get(f"{base}/v1/accounts/acme/payments", headers=headers).json()["data"]
        verified = httpx.post(f"{base}/v1/ledger/verify", headers=headers, json={}).json()
    finally:
        for process, _, _ in servers:
            stop(process)
    assert actions == ["duplicate"] * 19 + ["fulfilled"]
    assert balance["pools"]["credits"]["available"] == 1000
    assert len(purchases) == 1
    assert verified["differences"] == []


def test_a_burst_over_two_processes_crossing_the_threshold_asks_for_one_payment(
    database_url: str, stripe: FakeStripe, tmp_path: Path
) -> None:
    session, operator = open_shop(database_url, stripe)
    settings = StripeSettings(api_key=API_KEY, webhook_secret=WEBHOOK_SECRET, api_base=stripe.url)
    ledger = Ledger.open(database_url, stripe=settings)
    try:
        payload, signature = signed(event("checkout.session.completed", session))
        assert ledger.payments.handle_stripe(payload, signature).action == "fulfilled"
        ledger.payments.set_auto_recharge("acme", AutoRecharge(PACK.pack_id, Credits.of(500)))
    finally:
        ledger.close()
    # Payments stay `processing`: no credits arrive during the burst, so it crosses once.
    stripe.intent_status = "processing"
    options = ("--webhooks-poll-interval", "0.1")
    servers = [
        serve(tmp_path, database_url, *options, env_extra=stripe_env(stripe)) for _ in range(2)
    ]
    try:
        headers = {"Authorization": f"Bearer {operator}"}

        def charge(index: int) -> int:
            base = servers[index % 2][1]
            answer = httpx.post(
                f"{base}/v1/accounts/acme/charges",
                json={"amount": 20},
                headers=headers,
                timeout=30,
            )
            assert answer.status_code == 201, answer.text
            return answer.status_code

        with ThreadPoolExecutor(16) as pool:
            statuses = list(pool.map(charge, range(40)))
        deadline = time.monotonic() + 30
        while not stripe.calls_to("POST", "/v1/payment_intents") and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(2)  # time for a second request, were there to be one
        events = httpx.get(
            f"{servers[0][1]}/v1/events", params={"type": "balance.low"}, headers=headers
        ).json()["data"]
    finally:
        for process, _, _ in servers:
            stop(process)
    assert statuses == [201] * 40
    intents = stripe.calls_to("POST", "/v1/payment_intents")
    assert len(intents) == 1
    [low] = events
    assert intents[0].idempotency_key == f"creditbook-recharge-{low['id']}"
    assert intents[0].params["off_session"] == "true"
