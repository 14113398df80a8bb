"""Selling credits from the command line, in both modes: packs in the pricing file,
`packs list`, `buy`, `auto-recharge show|set|off` and `payments list`.

Stripe is a local stand-in (`tests/stripe_fake.py`): local mode reaches it through the
`CREDITBOOK_STRIPE_*` settings, remote mode through a server whose ledger has them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.cli.conftest import PRICING_TOML, Mode, one_error_line, serving
from tests.stripe_fake import (
    API_KEY,
    WEBHOOK_SECRET,
    FakeStripe,
    event,
    paid_session,
    serve,
    signed,
)

from creditbook import Ledger
from creditbook.engine.payments.stripe_api import StripeSettings

PACKS_TOML = """
[packs.credits-1000]
name = "1,000 credits"
credits = 1000
prices = { USD = 900, eur = 850 }
expires_after_months = 12

[packs.credits-50]
credits = 50
prices = { usd = 100 }
"""
OK_URL = "https://example.com/billing?paid={CHECKOUT_SESSION_ID}"
BACK_URL = "https://example.com/billing"


@pytest.fixture
def stripe() -> Iterator[FakeStripe]:
    yield from serve(FakeStripe())


def stripe_settings(stripe: FakeStripe) -> StripeSettings:
    return StripeSettings(api_key=API_KEY, webhook_secret=WEBHOOK_SECRET, api_base=stripe.url)


@pytest.fixture(params=["local", "remote"])
def shop(
    request: pytest.FixtureRequest, database_url: str, stripe: FakeStripe, tmp_path: Path
) -> Iterator[Mode]:
    """A mode whose ledger reaches Stripe, with the pricing and packs applied and an
    account `acme` on the starter plan (100 credits)."""
    if request.param == "local":
        env = {
            "CREDITBOOK_STRIPE_API_KEY": API_KEY,
            "CREDITBOOK_STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "CREDITBOOK_STRIPE_API_BASE": stripe.url,
        }
        yield from _ready(Mode("local", ("--database-url", database_url), env, database_url))
        return
    ledger = Ledger.open(database_url, stripe=stripe_settings(stripe))
    operator = ledger.create_key(None, scope="operator").secret
    assert operator is not None
    try:
        with serving(ledger) as url:
            env = {"CREDITBOOK_API_KEY": operator}
            yield from _ready(Mode("remote", ("--base-url", url), env, database_url))
    finally:
        ledger.close()


def _ready(mode: Mode) -> Iterator[Mode]:
    pricing = Path("pricing.toml")
    pricing.write_text(PRICING_TOML + PACKS_TOML)
    mode.ok("apply", str(pricing))
    mode.ok("accounts", "create", "--plan", "starter", "--id", "acme", "--name", "Acme")
    yield mode


def buy(mode: Mode, *args: str) -> list[str]:
    """`creditbook buy acme credits-1000 …`: its stdout lines."""
    urls = ("--success-url", OK_URL, "--cancel-url", BACK_URL)
    return mode.ok("buy", "acme", "credits-1000", *urls, *args).stdout.splitlines()


def stripe_reports_paid(database_url: str, stripe: FakeStripe, session_id: str) -> None:
    """Stripe's signed `checkout.session.completed`, handled as the server handles it."""
    ledger = Ledger.open(database_url, stripe=stripe_settings(stripe))
    try:
        payload, signature = signed(
            event("checkout.session.completed", paid_session(stripe.objects[session_id]))
        )
        assert ledger.payments.handle_stripe(payload, signature).action == "fulfilled"
    finally:
        ledger.close()


# -- packs in the pricing file ----------------------------------------------------------------


def test_packs_are_applied_with_a_field_level_dry_run(mode: Mode, pricing_file: Path) -> None:
    pricing_file.write_text(PRICING_TOML + PACKS_TOML)
    dry = mode.json("apply", str(pricing_file), "--dry-run")
    added = [c for c in dry["changes"] if c["kind"] == "pack"]
    assert [(c["id"], c["status"]) for c in added] == [
        ("credits-1000", "added"),
        ("credits-50", "added"),
    ]
    assert {"field": "prices.usd", "before": None, "after": 900} in added[0]["fields"]
    assert mode.json("packs", "list")["data"] == []  # a dry run writes nothing
    assert mode.json("apply", str(pricing_file))["summary"]["added"] == 5
    # Declared as the ledger stores it (USD is usd, the name defaults to the id): unchanged.
    assert mode.json("apply", str(pricing_file))["summary"] == {
        "added": 0,
        "changed": 0,
        "unchanged": 5,
    }

    pricing_file.write_text(
        (PRICING_TOML + PACKS_TOML).replace("USD = 900", "USD = 800") + "active = false\n"
    )
    dry = mode.json("apply", str(pricing_file), "--dry-run")
    changed = {c["id"]: c["fields"] for c in dry["changes"] if c["status"] == "changed"}
    assert changed == {
        "credits-1000": [{"field": "prices.usd", "before": 900, "after": 800}],
        "credits-50": [{"field": "active", "before": True, "after": False}],
    }
    people = mode.ok("apply", str(pricing_file), "--dry-run").stdout
    assert "prices.usd: 900 → 800" in people and "nothing written" in people
    mode.ok("apply", str(pricing_file))
    packs = {p["pack_id"]: p for p in mode.json("packs", "list")["data"]}
    assert packs["credits-1000"]["prices"] == {"eur": 850, "usd": 800}
    assert packs["credits-50"]["active"] is False


def test_packs_list_for_people(mode: Mode, pricing_file: Path) -> None:
    empty = mode.ok("packs", "list").stdout
    assert "0 credit packs" in empty and "creditbook apply" in empty
    pricing_file.write_text(PRICING_TOML + PACKS_TOML)
    mode.ok("apply", str(pricing_file))
    lines = mode.ok("packs", "list").stdout.splitlines()
    big = next(line for line in lines if "credits-1000" in line)
    assert "1,000 credits" in big and "8.50 EUR, 9.00 USD" in big and "after 12 months" in big
    small = next(line for line in lines if "credits-50 " in line)
    assert "1.00 USD" in small and "never" in small and "(the plan's)" in small


def test_a_bad_pack_is_refused_whole(mode: Mode, pricing_file: Path) -> None:
    pricing_file.write_text(
        PRICING_TOML
        + '[packs.free]\ncredits = 0\nprices = { dollars = 5 }\n[packs."Bad Id"]\ncredits = 1\n'
    )
    result = mode.run("apply", str(pricing_file))
    assert result.exit_code == 2
    line = one_error_line(result)
    for problem in ("packs.free", "packs.Bad Id: not a valid id", "packs.Bad Id.prices"):
        assert problem in line, line
    assert mode.json("packs", "list")["data"] == []


# -- buy --------------------------------------------------------------------------------------


def test_buy_prints_the_checkout_url(shop: Mode, stripe: FakeStripe) -> None:
    lines = buy(shop, "--quantity", "2", "--currency", "usd")
    assert lines[-1].startswith("https://checkout.stripe.com/c/pay/cs_test_")
    summary = " ".join(lines[:-1])
    assert "acme: 2 × credits-1000 = 2000 credits for 18.00 USD" in summary
    assert "Pay at:" in summary
    session = shop.json(
        "buy", "acme", "credits-1000", "--success-url", OK_URL, "--cancel-url", BACK_URL,
        "--currency", "eur", "--idempotency-key", "order-17",
    )  # fmt: skip
    assert (session["amount_total"], session["currency"], session["credits"]) == (850, "eur", 1000)
    assert session["url"].endswith(session["id"])
    sessions = stripe.calls_to("POST", "/v1/checkout/sessions")
    assert sessions[-1].idempotency_key == "creditbook-checkout-acme-order-17"
    assert sessions[-1].params["success_url"] == OK_URL


@pytest.mark.parametrize(
    ("args", "status", "code"),
    [
        (("credits-1000", "--success-url", "nope"), 2, "validation_error"),
        (("credits-1000", "--quantity", "0"), 2, None),
        (("credits-1000",), 2, "validation_error"),  # priced in usd and eur: which?
        (("credits-1000", "--currency", "gbp"), 2, "validation_error"),
        (("missing", "--currency", "usd"), 3, "not_found"),
    ],
)
def test_buy_refuses_bad_input_before_stripe(
    shop: Mode, stripe: FakeStripe, args: tuple[str, ...], status: int, code: str | None
) -> None:
    urls = ("--success-url", OK_URL, "--cancel-url", BACK_URL)
    result = shop.run("buy", "acme", args[0], *urls, *args[1:])
    assert result.exit_code == status, (result.stdout, result.stderr)
    if code is not None:
        assert one_error_line(result).startswith(f"error: {code}: ")
    assert stripe.calls_to("POST", "/v1/checkout/sessions") == []


def test_buy_without_stripe_says_what_to_set(mode: Mode, acme: str, pricing_file: Path) -> None:
    pricing_file.write_text(PRICING_TOML + PACKS_TOML)
    mode.ok("apply", str(pricing_file))
    urls = ("--success-url", OK_URL, "--cancel-url", BACK_URL)
    result = mode.run("buy", acme, "credits-50", *urls)
    assert result.exit_code == 1
    line = one_error_line(result)
    assert line.startswith("error: payments_not_configured: ")
    assert "CREDITBOOK_STRIPE_API_KEY" in line
    assert ("the server at http://127.0.0.1:" in line) == (mode.name == "remote")
    assert result.stdout == ""


# -- auto-recharge ----------------------------------------------------------------------------


def test_auto_recharge_show_set_off(shop: Mode) -> None:
    assert shop.json("auto-recharge", "show", "acme")["settings"] is None
    off = shop.ok("auto-recharge", "show", "acme").stdout
    assert re.search(r"status\s+│ off ", off) and "auto-recharge set acme --pack" in off
    state = shop.json(
        "auto-recharge", "set", "acme", "--pack", "credits-1000", "--threshold", "20",
        "--max-per-month", "2", "--currency", "usd",
    )  # fmt: skip
    assert state["settings"] == {
        "pack_id": "credits-1000",
        "threshold": 20,
        "max_per_month": 2,
        "currency": "usd",
        "enabled": True,
    }
    assert state["pool"] == "credits" and state["paused"] is False
    people = shop.ok("auto-recharge", "show", "acme").stdout
    for pattern in (r"status\s+│ on ", r"pack\s+│ credits-1000 ", r"threshold\s+│ 20 "):
        assert re.search(pattern, people), people
    for bad, status in (
        (("--pack", "credits-1000", "--threshold", "lots"), 2),
        (("--pack", "credits-1000", "--threshold", "20", "--currency", "gbp"), 2),
        (("--pack", "credits-1000", "--threshold", "20"), 2),  # two prices: which currency?
        (("--pack", "missing", "--threshold", "20"), 3),
        (("--pack", "credits-1000", "--threshold", "20", "--max-per-month", "0"), 2),
    ):
        result = shop.run("auto-recharge", "set", "acme", *bad)
        assert result.exit_code == status, (bad, result.stderr)
    assert shop.json("auto-recharge", "show", "acme")["settings"] == state["settings"]
    assert shop.json("auto-recharge", "off", "acme")["settings"] is None
    assert "off" in shop.ok("auto-recharge", "off", "acme").stdout  # again: no error
    assert shop.run("auto-recharge", "show", "nobody").exit_code == 3


# -- payments ---------------------------------------------------------------------------------


def test_payments_list_what_stripe_reported_paid(shop: Mode, stripe: FakeStripe) -> None:
    assert shop.json("payments", "list", "acme")["data"] == []
    assert "0 purchases" in shop.ok("payments", "list", "acme").stdout
    for quantity in ("2", "1"):
        session = buy(shop, "--quantity", quantity, "--currency", "usd")[-1].rsplit("/", 1)[-1]
        stripe_reports_paid(shop.database_url, stripe, session)
    page = shop.json("payments", "list", "acme", "--limit", "1")
    assert page["has_more"] and len(page["data"]) == 1
    every = shop.json("payments", "list", "acme", "--all")["data"]
    assert sorted(p["credits"] for p in every) == [1000, 2000]
    assert {p["amount_paid"] for p in every} == {900, 1800}
    people = shop.ok("payments", "list", "acme").stdout
    assert "2 purchases" in people and "18.00 USD" in people and "2 × credits-1000" in people
    assert "more: --cursor" in shop.ok("payments", "list", "acme", "--limit", "1").stdout
    balance = shop.json("balance", "acme")
    assert balance["pools"]["credits"]["available"] == 100 + 3000
