"""The vendor pages' own numbers, reproduced by the engine, one story per test."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from creditbook import (
    ChargeRequest,
    Colors,
    Credits,
    FunctionRate,
    GrantSource,
    Ledger,
    ManualClock,
    Plan,
    RateCard,
    TransactionType,
)
from creditbook.domain.stats import cost_per_credit, ratio

LOBSTR_CARD = RateCard(
    "google_maps_leads",
    Credits.of(4),
    base_label="Export Listings (No Phone)",
    base_colors=Colors("#EAFBF3", "#0F9F5F"),
    functions={
        "get_phone_numbers": FunctionRate(
            "get_phone_numbers", Credits.of(6), colors=Colors("#EEF2F7", "#62748A")
        )
    },
)


def test_lobstr_run_of_20_rows_with_6_phone_numbers_costs_116(ledger: Ledger) -> None:
    ledger.put_plan(Plan("professional", allowances={"credits": Credits.of(10000)}, slots=20))
    ledger.put_rate_card(LOBSTR_CARD)
    account = ledger.open_account("professional")
    run = ledger.start_run(account.account_id, "google_maps_leads")
    assert len(run.run_id) == 32 and int(run.run_id, 16) >= 0

    ledger.report_results(
        account.account_id, run.run_id, rows_kept=20, functions={"get_phone_numbers": (20, 6)}
    )
    breakdown = ledger.run_breakdown(account.account_id, run.run_id)

    assert breakdown.total_credits == Credits.of(116)
    assert breakdown.total_results == 20
    assert [(b.function, b.credits, b.attempts) for b in breakdown.breakdown] == [
        ("base", Credits.of(80), 20),
        ("get_phone_numbers", Credits.of(36), 20),
    ]
    assert breakdown.rates == {"credits_per_row": Credits.of(4), "get_phone_numbers": Credits.of(6)}
    assert breakdown.function_colors == {
        "Export Listings (No Phone)": {"bg_color": "#EAFBF3", "txt_color": "#0F9F5F"},
        "get_phone_numbers": {"bg_color": "#EEF2F7", "txt_color": "#62748A"},
    }
    assert breakdown.base_function_label == "Export Listings (No Phone)"
    assert breakdown.filter_breakdown == []
    assert ledger.balance(account.account_id).pools["credits"].available == Credits.of(9884)
    assert ledger.verify().ok


def test_localleads_month_bonus_first_and_carried_over_the_reset(
    ledger: Ledger, clock: ManualClock
) -> None:
    ledger.put_plan(Plan("starter", allowances={"credits": Credits.of(100)}))
    clock.set(datetime(2026, 5, 1, tzinfo=UTC))
    account_id = ledger.open_account("starter").account_id
    ledger.grant(account_id, Credits.of(25), source=GrantSource.BONUS, description="Coupon")

    clock.set(datetime(2026, 5, 3, tzinfo=UTC))
    ledger.charge(account_id=account_id, amount=Credits.of(10))
    pool = ledger.balance(account_id).pools["credits"]
    assert pool.by_source == {"allowance": Credits.of(100), "bonus": Credits.of(15)}

    clock.set(datetime(2026, 5, 5, 10, 1, tzinfo=UTC))
    ledger.charge(
        account_id=account_id,
        amount=Credits.of(33),
        description="Lead search: Dentists in Austin, TX (97 results)",
    )
    pool = ledger.balance(account_id).pools["credits"]
    # monthlyCredits 100 + bonusCredits 25 - usedCredits 43 = availableCredits 82
    assert (pool.allowance, pool.consumed, pool.available) == (
        Credits.of(100),
        Credits.of(43),
        Credits.of(82),
    )
    assert pool.by_source == {"allowance": Credits.of(82)}

    ledger.grant(account_id, Credits.of(7), source=GrantSource.BONUS)
    clock.set(datetime(2026, 6, 1, 0, 0, 1, tzinfo=UTC))
    balance = ledger.balance(account_id)
    pool = balance.pools["credits"]
    assert balance.period_start_at == datetime(2026, 6, 1, tzinfo=UTC)
    assert pool.by_source == {"allowance": Credits.of(100), "bonus": Credits.of(7)}
    assert pool.consumed == Credits.of(0)
    history = ledger.transactions(account_id, limit=3).data
    assert [(t.type, t.amount) for t in history] == [
        (TransactionType.MONTHLY_RESET, Credits.of(100)),
        (TransactionType.EXPIRY, Credits.of(-82)),
        (TransactionType.BONUS, Credits.of(7)),
    ]
    assert history[0].created_at == datetime(2026, 6, 1, tzinfo=UTC)
    assert ledger.verify().ok


def test_clodura_separate_pools_and_a_unified_pool(ledger: Ledger) -> None:
    ledger.put_plan(
        Plan(
            "prospect",
            name="Prospect",
            allowances={"contact_views": Credits.of(1000), "direct_dials": Credits.of(200)},
        )
    )
    ledger.put_plan(Plan("max", name="Max", allowances={"credits": Credits.of(500)}))
    card = RateCard(
        "clodura",
        Credits.of(0),
        functions={
            "reveal_email": FunctionRate("reveal_email", Credits.of(1), pool="contact_views"),
            "reveal_phone": FunctionRate("reveal_phone", Credits.of(1), pool="direct_dials"),
        },
    )
    ledger.put_rate_card(card)
    separate = ledger.open_account("prospect").account_id
    ledger.charge(
        account_id=separate, rate_card_id="clodura", function="reveal_email", quantity=142
    )
    ledger.charge(account_id=separate, rate_card_id="clodura", function="reveal_phone", quantity=38)
    pools = ledger.balance(separate).pools
    assert (pools["contact_views"].consumed, pools["contact_views"].allowance) == (
        Credits.of(142),
        Credits.of(1000),
    )
    assert (pools["direct_dials"].consumed, pools["direct_dials"].allowance) == (
        Credits.of(38),
        Credits.of(200),
    )
    assert pools["contact_views"].available == Credits.of(858)

    unified_card = RateCard(
        "clodura_unified",
        Credits.of(0),
        functions={
            "reveal_email": FunctionRate("reveal_email", Credits.of(1)),
            "reveal_phone": FunctionRate("reveal_phone", Credits.of(5)),
        },
    )
    ledger.put_rate_card(unified_card)
    unified = ledger.open_account("max").account_id
    for function, quantity in (("reveal_email", 142), ("reveal_phone", 38)):
        ledger.charge(
            ChargeRequest(
                unified, rate_card_id="clodura_unified", function=function, quantity=quantity
            )
        )
    balance = ledger.balance(unified)
    assert list(balance.pools) == ["credits"]
    assert balance.pools["credits"].available == Credits.of(500 - 142 - 5 * 38)
    assert ledger.verify().ok


def test_stats_period_4200_against_3800_is_plus_10_5_percent(
    ledger: Ledger, clock: ManualClock
) -> None:
    ledger.put_plan(
        Plan(
            "business",
            allowances={"credits": Credits.of(50000)},
            prices={"EUR": Decimal(1000), "CZK": Decimal(25000)},
            display_currency="EUR",
        )
    )
    clock.set(datetime(2024, 10, 1, tzinfo=UTC))
    account_id = ledger.open_account("business").account_id
    # 3,800 in the 90 days before 2025-01-01, 4,200 in Q1 2025.
    for when, amount, module in (
        (datetime(2024, 10, 5, 9, tzinfo=UTC), 1800, "lasso"),
        (datetime(2024, 12, 31, 23, tzinfo=UTC), 2000, "lasso"),
        (datetime(2025, 1, 1, 8, tzinfo=UTC), 120, "lasso"),
        (datetime(2025, 2, 10, 8, tzinfo=UTC), 2880, "lasso"),
        (datetime(2025, 3, 31, 22, tzinfo=UTC), 1200, "search"),
    ):
        clock.set(when)
        ledger.charge(
            account_id=account_id,
            amount=Credits.of(amount),
            module=module,
            quantity=amount // 10 if module == "lasso" else 0,
            user_id="5f0e",
            resource_id="9b81" if module == "lasso" else "",
            resource_name="Summer catalog" if module == "lasso" else None,
        )
    stats = ledger.stats(account_id, date(2025, 1, 1), date(2025, 3, 31))
    assert stats.total == Credits.of(4200)
    assert stats.previous_total == Credits.of(3800)
    assert stats.change_percent == Decimal("10.5")
    assert stats.daily[0].date == date(2025, 1, 1)
    assert stats.daily[0].by_module == {"lasso": Credits.of(120)}
    assert [(t.key, t.amount) for t in stats.by_module] == [
        ("lasso", Credits.of(3000)),
        ("search", Credits.of(1200)),
    ]
    lasso = next(t for t in stats.by_module if t.key == "lasso")
    assert lasso.units == 300
    table = stats.by_resource[0]
    assert (table.resource_id, table.name, table.amount) == (
        "9b81",
        "Summer catalog",
        Credits.of(3000),
    )
    # The stats page's figures: 3000 credits over 450 products, 1000 EUR for 50000 credits.
    assert ratio(Credits.of(3000), 450) == Decimal("6.67")
    assert cost_per_credit(Decimal(1000), Credits.of(50000)) == Decimal("0.02")
    assert ledger.verify().ok
