"""docs/sdk.md stays true: its Python examples run, in order, against a live server."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.client.conftest import LiveServer
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
from creditbook.client import Client
from creditbook.engine.payments.stripe_api import StripeSettings
from creditbook.store.database import make_engine

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "sdk.md"
README = ROOT / "README.md"


def examples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.DOTALL)


@pytest.fixture
def stripe() -> Iterator[FakeStripe]:
    yield from serve(FakeStripe())


@pytest.fixture
def ledger(database_url: str, clock: ManualClock, stripe: FakeStripe) -> Iterator[Ledger]:
    """The server's ledger sells credits through the Stripe stand-in (overrides
    tests/conftest.py's)."""
    settings = StripeSettings(api_key=API_KEY, webhook_secret=WEBHOOK_SECRET, api_base=stripe.url)
    ledger = Ledger(make_engine(database_url), clock, stripe=settings)
    try:
        yield ledger
    finally:
        ledger.close()


def stripe_reports_paid(base_url: str, stripe: FakeStripe, session_id: str) -> None:
    """What Stripe does once the customer paid: a signed `checkout.session.completed`."""
    payload, signature = signed(
        event("checkout.session.completed", paid_session(stripe.objects[session_id]))
    )
    answer = httpx.post(
        f"{base_url}/v1/integrations/stripe/webhook",
        content=payload,
        headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
    )
    assert answer.json()["action"] == "fulfilled", answer.text


def test_the_examples_run(
    live_server: LiveServer,
    operator_key: str,
    stripe: FakeStripe,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CREDITBOOK_API_KEY", operator_key)
    monkeypatch.setenv("CREDITBOOK_BASE_URL", live_server.base_url)
    monkeypatch.delenv("CREDITBOOK_ACCOUNT_ID", raising=False)
    blocks = examples()
    assert len(blocks) >= 8
    namespace: dict[str, Any] = {"__name__": "sdk_docs"}
    try:
        for number, block in enumerate(blocks, 1):
            if "client.payments.list(" in block:
                # Between the two payment examples the customer pays at Stripe.
                stripe_reports_paid(live_server.base_url, stripe, namespace["session"].id)
            exec(compile(block, f"docs/sdk.md (example {number})", "exec"), namespace)
    finally:
        client = namespace.get("client")
        if client is not None:
            client.close()
    assert namespace["finished"].credits == 116
    assert namespace["ids"] == ["acme"]
    assert [item.ok for item in namespace["batch"].data] == [True, False]
    assert (namespace["session"].amount_total, namespace["payment"].amount_paid) == (900, 900)
    assert namespace["payment"].credits == 1000


def test_the_readme_example_runs(
    live_server: LiveServer,
    operator_key: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """README's SDK example, with an account's write key: it finds its account by itself."""
    setup = Client(api_key=operator_key, base_url=live_server.base_url)
    setup.plans.put("pro", allowances={"credits": 10})
    setup.accounts.create(plan_id="pro", account_id="acme")
    secret = setup.keys.create("acme", scope="write").secret
    setup.close()
    assert secret is not None
    monkeypatch.setenv("CREDITBOOK_API_KEY", secret)
    monkeypatch.setenv("CREDITBOOK_BASE_URL", live_server.base_url)
    monkeypatch.delenv("CREDITBOOK_ACCOUNT_ID", raising=False)
    (example,) = re.findall(
        r"```python\n(from creditbook\.client .*?)```", README.read_text(), flags=re.DOTALL
    )
    exec(compile(example, "README.md (SDK example)", "exec"), {"__name__": "readme_sdk"})
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "8"  # 10 credits less the 2 charged
    assert len(printed) == 3  # the charge and the period's allowance, newest first
    assert "DEDUCTION" in printed[1] and "-2" in printed[1]
