"""Every resource of the sync SDK against the app, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import httpx
import pytest
from tests.client.conftest import BASE_URL, MakeClient

from creditbook.client import Client, InternalServerError, NotFoundError, Pager
from creditbook.client.models import (
    AccountOut,
    BalanceOut,
    ChargeOut,
    KeyOut,
    RunCreditsOut,
    StatsOut,
    TransactionOut,
)


def test_health(client: Client) -> None:
    health = client.health()
    assert health.status == "ok"
    assert health.database in {"sqlite", "postgresql"}


def test_plans_and_rate_cards(client: Client) -> None:
    plan = client.plans.put(
        "daily",
        name="Daily",
        interval="daily",
        allowances={"credits": Decimal("10.5")},
        rollover={"cap_percent": 50, "expires_after_periods": None},
        prices={"EUR": 9},
        display_currency="EUR",
    )
    assert (plan.plan_id, plan.interval, plan.allowances) == ("daily", "daily", {"credits": 10.5})
    assert plan.rollover is not None and plan.rollover.expires_after_periods is None
    assert [p.plan_id for p in client.plans.list()] == ["daily", "pro"]

    card = client.rate_cards.put(
        "leads",
        credits_per_row="0.5",
        base_label="Leads",
        filters={"no_phone": {"display": "Without phone", "credits_per_row": 1}},
        module="lasso",
    )
    assert card.credits_per_row == Decimal("0.5") and card.filters["no_phone"].display
    cards = client.rate_cards.list()
    assert isinstance(cards, Pager)
    assert [c.rate_card_id for c in cards] == ["leads", "maps"]
    assert not cards.page.has_more and cards.page.next_cursor is None


def test_accounts_and_keys(client: Client, make_client: MakeClient) -> None:
    anchor = datetime(2024, 12, 15, tzinfo=UTC)
    account = client.accounts.create(
        plan_id="pro",
        account_id="acme",
        name="Acme",
        timezone="Europe/Paris",
        billing_anchor_at=anchor,
        metadata={"crm": "42"},
    )
    assert isinstance(account, AccountOut)
    assert (account.billing_anchor_at, account.metadata) == (anchor, {"crm": "42"})
    assert client.accounts.get("acme") == account

    updated = client.accounts.update("acme", name="Acme Inc.", has_unpaid_bill=True)
    assert (updated.name, updated.has_unpaid_bill, updated.metadata) == (
        "Acme Inc.",
        True,
        {"crm": "42"},
    )

    key = client.keys.create("acme", scope="write", user_id="u1", name="backend")
    assert isinstance(key, KeyOut) and key.secret is not None
    assert (key.account_id, key.scope, key.user_id) == ("acme", "write", "u1")
    own = make_client(key=key.secret)
    assert own.accounts.get("acme").name == "Acme Inc."

    revoked = client.keys.revoke(key.key_id)
    assert revoked.revoked_at is not None and revoked.secret is None


def test_grants_charges_refunds_estimates(client: Client) -> None:
    client.accounts.create(plan_id="pro", account_id="acme")
    grant = client.grants.create(
        "acme",
        amount=25,
        source="bonus",
        expires_at=datetime(2025, 6, 1, tzinfo=UTC),
        description="welcome",
    )
    assert (grant.amount, grant.remaining, grant.source) == (25, 25, "bonus")

    raw = client.charges.create("acme", amount=Decimal("2.5"), module="api", user_id="u1")
    assert isinstance(raw, ChargeOut) and raw.amount == Decimal("2.5")
    priced = client.charges.create(
        "acme", rate_card_id="maps", function="get_phone_numbers", quantity=3
    )
    assert priced.amount == 18

    batch = client.charges.batch(
        [
            {"account_id": "acme", "amount": 1},
            {"account_id": "acme", "amount": 10_000},  # more than the account has
            {"account_id": "acme", "amount": 1_000, "partial": True},
        ]
    )
    assert [item.ok for item in batch.data] == [True, False, True]
    assert batch.data[1].error is not None
    assert batch.data[1].error.code == "insufficient_credits"
    partial = batch.data[2].charge
    assert partial is not None and partial.amount < partial.requested

    refund = client.charges.refund(raw.charge_id, amount=1, description="goodwill")
    assert (refund.charge_id, refund.amount) == (raw.charge_id, 1)

    client.grants.create("acme", amount=100, source="top_up")  # the partial charge took all
    quote = client.charges.estimate(
        "acme",
        rate_card_id="maps",
        rows=10,
        functions={"get_phone_numbers": 10},
        success_rates_percent={"get_phone_numbers": 50},
    )
    assert quote.total == 10 * 4 + 5 * 6 and quote.affordable


def test_runs(client: Client) -> None:
    """The lobstr page's example: 20 rows at 4, phones at 6 for 6 rows → 116."""
    client.accounts.create(plan_id="pro", account_id="acme")
    client.grants.create("acme", amount=100, source="top_up")
    run = client.runs.start(account_id="acme", rate_card_id="maps", hold=120, slots=1)
    assert run.status == "running" and run.hold_id is not None
    client.runs.report_results(
        run.run_id,
        rows_kept=20,
        functions={"get_phone_numbers": {"attempts": 20, "successes": 6}},
    )
    finished = client.runs.finish(run.run_id)
    assert finished.credits == 116 and finished.finished_at is not None
    assert client.runs.get(run.run_id) == finished

    breakdown = client.runs.credits(run.run_id)
    assert isinstance(breakdown, RunCreditsOut)
    assert breakdown.total_credits == 116
    assert [(b.function, b.credits) for b in breakdown.breakdown] == [
        ("base", 80),
        ("get_phone_numbers", 36),
    ]
    assert [r.run_id for r in client.runs.list("acme")] == [run.run_id]


def test_credits_reports(client: Client) -> None:
    client.accounts.create(plan_id="pro", account_id="acme")
    client.charges.create("acme", amount=3, module="lasso", user_id="u1")
    balance = client.credits.balance("acme")
    assert isinstance(balance, BalanceOut)
    assert balance.pools["credits"].available == 97
    before = client.credits.balance("acme", at=datetime(2024, 1, 1, tzinfo=UTC))
    assert before.account_id == "acme"

    history = list(client.credits.transactions("acme"))
    assert all(isinstance(t, TransactionOut) for t in history)
    assert [(t.type, t.amount) for t in history] == [("DEDUCTION", -3), ("MONTHLY_RESET", 100)]
    only = list(client.credits.transactions("acme", type="DEDUCTION"))
    assert [t.type for t in only] == ["DEDUCTION"]
    several = list(client.credits.transactions("acme", type=["DEDUCTION", "MONTHLY_RESET"]))
    assert len(several) == 2

    today = balance.at.date()
    stats = client.credits.stats(from_=today, to=today, account_id="acme")
    assert isinstance(stats, StatsOut)
    assert (stats.total, [(m.key, m.credits) for m in stats.by_module]) == (3, [("lasso", 3)])
    # The catalogue page's calling style: one mapping with "from" and "to".
    seed_style = client.credits.stats(
        {"from": today.isoformat(), "to": today.isoformat()}, account_id="acme"
    )
    assert seed_style == stats
    monthly = client.credits.stats(
        from_=date(2024, 1, 1), to=today, account_id="acme", group_by="month"
    )
    assert monthly.group_by == "month"


def test_stats_defaults_to_the_last_30_days_as_the_cli(client: Client) -> None:
    client.accounts.create(plan_id="pro", account_id="acme", timezone="Pacific/Kiritimati")
    client.charges.create("acme", amount=3)
    today = datetime.now(ZoneInfo("Pacific/Kiritimati")).date()  # the account's today
    default = client.credits.stats(account_id="acme")
    assert (default.start, default.end) == (today - timedelta(days=29), today)
    ended = client.credits.stats({"to": "2025-03-31"}, account_id="acme")
    assert (ended.start, ended.end) == (date(2025, 3, 2), date(2025, 3, 31))
    started = client.credits.stats(from_=date(2025, 1, 1), account_id="acme")
    assert (started.start, started.end) == (date(2025, 1, 1), today)
    charged_on = client.credits.balance("acme").at.date()
    assert client.credits.stats(to=charged_on, account_id="acme").total == 3


@pytest.mark.parametrize(
    ("call", "where"),
    [
        (lambda c: c.charges.create("acme", amount=2.5), "amount: a float (2.5)"),
        (lambda c: c.grants.create("acme", amount=0.1), "amount: a float (0.1)"),
        (
            lambda c: c.plans.put("p", name="P", allowances={"credits": 10.5}),
            "allowances.credits: a float (10.5)",
        ),
    ],
)
def test_a_float_amount_is_refused_before_any_request(
    client: Client, call: Callable[[Client], object], where: str
) -> None:
    client.accounts.create(plan_id="pro", account_id="acme")
    with pytest.raises(TypeError, match=re.escape(where)):
        call(client)
    assert client.credits.balance("acme").pools["credits"].available == 100


def test_ledger_verify(client: Client) -> None:
    client.accounts.create(plan_id="pro", account_id="acme")
    client.charges.create("acme", amount=1)
    report = client.ledger.verify()
    assert report.ok and report.differences == [] and report.accounts >= 1
    assert client.ledger.verify(account_id="acme").ok


def test_an_account_key_reads_its_own_account(client: Client, make_client: MakeClient) -> None:
    """Account-scoped calls default to the client's `account_id`, else the key's own account;
    an operator key has none, so its calls must name one."""
    client.accounts.create(plan_id="pro", account_id="acme")
    client.accounts.create(plan_id="pro", account_id="other")
    secret = client.keys.create("acme", scope="write").secret
    assert secret is not None

    own = make_client(key=secret, account_id="acme")
    own.charges.create(amount=2)
    assert own.credits.balance().pools["credits"].available == 98
    assert [t.amount for t in own.credits.transactions()] == [-2, 100]
    assert own.accounts.get().account_id == "acme"
    run = own.runs.start(rate_card_id="maps")
    assert run.account_id == "acme"
    assert [r.run_id for r in own.runs.list()] == [run.run_id]
    # Another account answers exactly like a missing one.
    with pytest.raises(NotFoundError):
        own.credits.balance("other")

    unset = make_client(key=secret)
    current = unset.keys.current()
    assert (current.account_id, current.scope, current.secret) == ("acme", "write", None)
    assert unset.credits.balance().account_id == "acme"
    assert [t.amount for t in unset.credits.transactions()] == [-2, 100]
    with pytest.raises(ValueError, match="operator key"):
        client.credits.balance()
    assert client.keys.current().account_id is None
    # Starting a run needs no id: the server takes an account key's own account.
    assert unset.runs.start(rate_card_id="maps").account_id == "acme"


def test_configuration_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDITBOOK_API_KEY", "cb_from_env")
    monkeypatch.setenv("CREDITBOOK_BASE_URL", "http://creditbook.internal:9000/")
    monkeypatch.setenv("CREDITBOOK_ACCOUNT_ID", "acme")
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"status": "ok", "database": "sqlite"})

    with Client(transport=httpx.MockTransport(answer), headers={"X-Team": "billing"}) as client:
        assert (client.base_url, client.account_id, client.max_retries) == (
            "http://creditbook.internal:9000",
            "acme",
            2,
        )
        client.health()
    request = seen[0]
    assert str(request.url) == "http://creditbook.internal:9000/healthz"
    assert request.headers["Authorization"] == "Bearer cb_from_env"
    assert request.headers["X-Team"] == "billing"
    assert request.headers["User-Agent"].startswith("creditbook-python/")


def test_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDITBOOK_API_KEY", "cb_from_env")
    monkeypatch.delenv("CREDITBOOK_BASE_URL", raising=False)
    monkeypatch.delenv("CREDITBOOK_ACCOUNT_ID", raising=False)
    with Client(api_key="cb_argument") as client:
        assert client.base_url == "http://127.0.0.1:8000"
        assert client.account_id is None
        assert client._config.api_key == "cb_argument"
    with pytest.raises(ValueError, match="max_retries"):
        Client(max_retries=-1)


def test_ids_are_escaped_in_paths(client: Client) -> None:
    """An id with a slash stays one path segment: it cannot reach another route."""
    with pytest.raises(NotFoundError) as raised:
        client.accounts.get("acme/balance")
    assert raised.value.code == "not_found"


def test_page_size_is_checked_before_any_request(client: Client) -> None:
    for bad in (0, 101):
        with pytest.raises(ValueError, match="limit"):
            client.accounts.list(limit=bad)


def test_bodies_send_exact_numbers_and_utc_times() -> None:
    bodies: list[bytes] = []

    def answer(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content)
        return httpx.Response(500)

    with (
        Client(
            api_key="k", base_url=BASE_URL, transport=httpx.MockTransport(answer), max_retries=0
        ) as client,
        pytest.raises(InternalServerError),
    ):
        client.grants.create(
            "acme",
            amount=Decimal("0.1"),
            expires_at=datetime(2025, 1, 1, 12, 30),  # naive: taken as UTC
        )
    assert bodies == [b'{"amount":0.1,"source":"bonus","expires_at":"2025-01-01T12:30:00Z"}']
