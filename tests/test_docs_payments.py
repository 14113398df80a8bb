"""docs/payments.md stays true: its curl blocks are replayed against the app (with a local
Stripe stand-in, and the page's payment notified in between, signed as Stripe signs), its
server block configures Stripe, its library example runs, and its Stripe CLI line forwards
to the app's route every notification creditbook acts on."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from tests.cli.test_serve_logs import serve, stop
from tests.stripe_fake import API_KEY, WEBHOOK_SECRET, FakeStripe, event, paid_session, signed
from tests.stripe_fake import serve as serve_stripe
from tests.test_docs_compat import Page, read_page, replay

from creditbook import Ledger, ManualClock
from creditbook.api.app import create_app
from creditbook.api.routes_payments import router
from creditbook.engine.payments.fulfilment import HANDLERS
from creditbook.engine.payments.stripe_api import StripeSettings
from creditbook.settings import Settings
from creditbook.store.database import make_engine

ROOT = Path(__file__).resolve().parents[1]
PAGE = "payments.md"
TEXT = (ROOT / "docs" / PAGE).read_text()


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", TEXT, flags=re.DOTALL)


@pytest.fixture
def stripe() -> Iterator[FakeStripe]:
    yield from serve_stripe(FakeStripe())


def test_the_curl_examples_answer_as_documented(
    database_url: str, clock: ManualClock, stripe: FakeStripe
) -> None:
    page = read_page(PAGE)
    clock.set(page.recorded_at)
    stripe.now = page.recorded_at.timestamp
    settings = StripeSettings(api_key=API_KEY, webhook_secret=WEBHOOK_SECRET, api_base=stripe.url)
    ledger = Ledger(make_engine(database_url), clock, stripe=settings)
    operator = ledger.create_key(None, scope="operator").secret
    assert operator is not None
    limits = Settings(rate_limit_per_s=10_000, rate_limit_burst=10_000)
    try:
        with TestClient(create_app(ledger, settings=limits)) as client:
            (listing,) = [
                i
                for i, example in enumerate(page.examples)
                if example.commands[0].curl and example.commands[0].curl.path.endswith("/payments")
            ]
            compared = replay(
                client, Page(PAGE, page.recorded_at, page.examples[:listing]), operator
            )
            # The customer pays: Stripe notifies the page's Checkout Session as paid.
            session = paid_session(stripe.objects["cs_test_0002"], "pi_test_0003")
            payload, signature = signed(event("checkout.session.completed", session))
            notified = client.post(
                "/v1/integrations/stripe/webhook",
                content=payload,
                headers={"Stripe-Signature": signature},
            )
            assert notified.json()["action"] == "fulfilled"
            rest = Page(PAGE, page.recorded_at, page.examples[listing:])
            compared += replay(client, rest, operator)
    finally:
        ledger.close()
    assert compared == 4


def test_the_server_block_configures_stripe(tmp_path: Path, stripe: FakeStripe) -> None:
    """The page's exports, then its `creditbook serve` (on a free port instead of 8000)."""
    lines = [line for line in blocks("sh")[0].splitlines() if line]
    exports = dict(line.removeprefix("export ").split("=", 1) for line in lines[:-1])
    assert set(exports) == {"CREDITBOOK_STRIPE_API_KEY", "CREDITBOOK_STRIPE_WEBHOOK_SECRET"}
    assert lines[-1] == "creditbook serve --port 8000"
    url = f"sqlite:///{tmp_path / 'creditbook.db'}"
    process, base, _ = serve(tmp_path, url, "--no-webhooks", env_extra=exports)
    try:
        secret = exports["CREDITBOOK_STRIPE_WEBHOOK_SECRET"]
        payload, signature = signed(event("invoice.paid", {"id": "in_1"}), secret=secret)
        good = httpx.post(
            f"{base}/v1/integrations/stripe/webhook",
            content=payload,
            headers={"Stripe-Signature": signature},
        )
        _, wrong = signed(event("invoice.paid", {"id": "in_1"}), secret=WEBHOOK_SECRET)
        bad = httpx.post(
            f"{base}/v1/integrations/stripe/webhook",
            content=payload,
            headers={"Stripe-Signature": wrong},
        )
    finally:
        stop(process)
    assert good.status_code == 200 and good.json()["action"] == "ignored"
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_signature"


def test_the_library_example_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stripe: FakeStripe
) -> None:
    """As written; only Stripe's address is the local stand-in's."""
    # By its dotted path: the stripe package imports this module only when first used.
    monkeypatch.setattr("stripe._stripe_client.DEFAULT_API_BASE", stripe.url)
    monkeypatch.chdir(tmp_path)
    (example,) = [block for block in blocks("python") if "Ledger.open" in block]
    namespace: dict[str, Any] = {"__name__": "payments_doc"}
    exec(compile(example, PAGE, "exec"), namespace)
    (session_call,) = stripe.calls_to("POST", "/v1/checkout/sessions")
    assert session_call.params["metadata[creditbook_account_id]"] == "acme"
    session = paid_session(stripe.objects["cs_test_0002"])
    body, signature = signed(
        event("checkout.session.completed", session), "whsec_your_endpoint_secret"
    )
    assert namespace["stripe_webhook"](body, signature) == "fulfilled"
    assert namespace["stripe_webhook"](body, signature) == "duplicate"
    namespace["ledger"].close()


def test_the_stripe_cli_line_forwards_every_handled_notification_to_the_route() -> None:
    (line,) = [b for b in blocks("sh") if b.startswith("stripe listen")]
    tokens = shlex.split(line)
    options = dict(zip(tokens[2::2], tokens[3::2], strict=True))
    assert options["--forward-to"] == "127.0.0.1:8000/v1/integrations/stripe/webhook"
    assert set(options["--events"].split(",")) == set(HANDLERS)
    assert "/v1/integrations/stripe/webhook" in {route.path for route in router.routes}
    first_cells = re.findall(r"^\| (`[^|]+)\|", TEXT, flags=re.MULTILINE)
    documented = {name for cell in first_cells for name in re.findall(r"`([a-z_.]+)`", cell)}
    assert documented == set(HANDLERS)
