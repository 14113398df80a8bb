"""What the pages are built from: the arrangement of the ledger's figures (figures.py) and
the engine's daily spend per function that the usage chart stacks."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from tests.dashboard.conftest import Seeded
from tests.dashboard.seed import ACME, GAMMA, LASSO, MAPS, NOW

from creditbook import Credits, FunctionRate, Ledger, ManualClock, Plan
from creditbook.dashboard import figures, history_figures, outlook
from creditbook.dashboard.figures import FunctionStyle, RunLine
from creditbook.domain.errors import ValidationError
from creditbook.domain.rates import BASE_FUNCTION, RateCard
from creditbook.engine.results import PoolBalance, TransactionPage

TODAY = date(2026, 5, 20)
PERIOD_START = date(2026, 5, 1)


def test_daily_spend_per_function_adds_up(ledger: Ledger) -> None:
    stats = ledger.stats(ACME, date(2026, 5, 1), TODAY)
    for day in stats.daily:
        attributed = sum(day.by_function.values(), Credits(0))
        raw = Credits.of("12.5") if day.date.day % 5 == 0 else Credits(0)
        assert day.amount - attributed == raw, day.date  # support charges carry no function
        assert sum(day.by_module.values(), Credits(0)) == day.amount - raw
    for total in stats.by_function:
        assert total.amount == sum(
            (day.by_function.get(total.key, Credits(0)) for day in stats.daily), Credits(0)
        )
    last = stats.daily[-1].by_function
    # 20 May: a daily run of 30 rows (24 phones, 15 emails, geo filter), the 30-row phone
    # run, and 40 catalogue products at 1.
    assert last == {
        "base": Credits.of(120 + 120 + 40),
        "filter:geo_match": Credits.of(15),
        "get_phone_numbers": Credits.of(144 + 180),
        "reveal_email": Credits.of(30),
    }


@pytest.mark.parametrize(
    ("key", "start", "end"),
    [
        ("7d", date(2026, 5, 14), TODAY),
        ("30d", date(2026, 4, 21), TODAY),
        ("period", PERIOD_START, TODAY),
        ("bogus", date(2026, 4, 21), TODAY),  # the default: 30 days
    ],
)
def test_usage_ranges(key: str, start: date, end: date) -> None:
    chosen = figures.usage_range(key, None, None, TODAY, PERIOD_START)
    assert (chosen.start, chosen.end) == (start, end)


def test_custom_ranges_are_checked() -> None:
    chosen = figures.usage_range("custom", date(2026, 5, 2), date(2026, 5, 4), TODAY, TODAY)
    assert chosen.days == 3
    with pytest.raises(ValidationError):
        figures.usage_range("custom", date(2026, 5, 4), date(2026, 5, 2), TODAY, TODAY)
    with pytest.raises(ValidationError):
        figures.usage_range("custom", None, date(2026, 5, 2), TODAY, TODAY)
    with pytest.raises(ValidationError):
        figures.usage_range("custom", date(2020, 1, 1), TODAY, TODAY, TODAY)


def test_daily_chart_fills_days_without_spend(ledger: Ledger) -> None:
    chosen = figures.usage_range("custom", date(2026, 4, 28), date(2026, 5, 2), TODAY, TODAY)
    usage = figures.usage(ledger, ACME, chosen, figures.account_styles(ledger, ACME))
    assert usage.chart["labels"] == ["28 Apr", "29 Apr", "30 Apr", "1 May", "2 May"]
    for dataset in usage.chart["datasets"]:
        assert dataset["data"][:3] == [0.0, 0.0, 0.0]
    assert sum(row.percent for row in usage.by_function) == pytest.approx(Decimal(100))


def line(key: str, credits: int, total: int, kind: str = "function") -> RunLine:
    style = FunctionStyle(key, key, "#FFFFFF", "#000000")
    percent = figures.share_percent(Credits.of(credits), Credits.of(total))
    return RunLine(kind, key, key, Credits.of(1), 1, Credits.of(credits), percent, style)


def test_a_function_at_half_of_a_run_or_more_is_called_out() -> None:
    total = Credits.of(100)
    half = [line("base", 50, 100), line("phones", 50, 100)]
    dominant = figures.dominant_line(half, total)
    assert dominant is not None and dominant.percent == Decimal(50)
    under = [line("base", 49, 100), line("phones", 30, 100), line("geo", 21, 100, "filter")]
    assert figures.dominant_line(under, total) is None
    filter_heavy = [line("base", 40, 100), line("geo", 60, 100, "filter")]
    assert figures.dominant_line(filter_heavy, total) == filter_heavy[1]
    # A run with one priced line has nothing to compare: no callout.
    assert figures.dominant_line([line("base", 100, 100)], total) is None
    assert figures.dominant_line([], Credits(0)) is None


def test_function_styles_follow_the_rate_cards() -> None:
    styles = figures.function_styles([MAPS], [])
    assert styles[BASE_FUNCTION].label == "Export Listings"
    assert (styles["get_phone_numbers"].bg_color, styles["get_phone_numbers"].txt_color) == (
        "#EFF6FF",
        "#1D4ED8",
    )
    assert styles["filter:geo_match"].label == "Geo match (filter)"
    # Two cards with different base labels: stats add their base rows up, so neither fits.
    both = figures.function_styles([MAPS, LASSO], ["lasso"])
    assert both[BASE_FUNCTION].label == "Base rows"
    assert both[BASE_FUNCTION].txt_color == LASSO.base_colors.txt_color  # the account's card
    # Functions left in the default grey get distinct colours.
    plain = RateCard(
        "plain",
        Credits.of(1),
        functions={name: FunctionRate(name, Credits.of(1)) for name in ("one", "two")},
    )
    colors = {s.txt_color for s in figures.function_styles([plain], []).values()}
    assert len(colors) == 3


def test_a_function_has_the_same_colour_on_the_usage_and_run_pages(fresh: Seeded) -> None:
    """Default-grey functions get their palette colour on the run page too, not grey."""
    plain = RateCard(
        "plain",
        Credits.of(1),
        functions={name: FunctionRate(name, Credits.of(1)) for name in ("one", "two", "three")},
    )
    ledger = Ledger.open(fresh.url, clock=ManualClock(NOW))
    try:
        ledger.put_rate_card(plain)
        run = ledger.start_run(GAMMA, "plain", hold=Credits.of(50))
        functions = {name: (4, 4) for name in plain.functions}
        ledger.report_results(GAMMA, run.run_id, rows_kept=4, functions=functions)
        ledger.finish_run(GAMMA, run.run_id)
        usage_styles = figures.account_styles(ledger, GAMMA)
        view = figures.run_view(ledger, GAMMA, run.run_id)
    finally:
        ledger.close()
    shown = {line.key: (line.style.bg_color, line.style.txt_color) for line in view.functions}
    assert set(shown) == {BASE_FUNCTION, "one", "two", "three"}
    for key, colors in shown.items():
        assert colors == (usage_styles[key].bg_color, usage_styles[key].txt_color), key
    assert len({txt for _, txt in shown.values()}) == len(shown)  # no two alike
    assert view.chart["datasets"][0]["backgroundColor"] == [
        line.style.txt_color for line in view.functions
    ]


def test_a_runs_base_rows_keep_its_own_cards_colours(fresh: Seeded) -> None:
    """The usage page's base line is every card's base rows (in the latest run's card's
    colours); a run's base rows are its own card's, under that card's label."""
    ledger = Ledger.open(fresh.url, clock=ManualClock(NOW))
    try:
        lasso_run = ledger.start_run(ACME, "lasso", hold=Credits.of(10))
        ledger.report_results(ACME, lasso_run.run_id, rows_kept=3)
        usage_styles = figures.account_styles(ledger, ACME)
        maps_run = figures.run_view(ledger, ACME, fresh.world.dominant_run_id)
        lasso_view = figures.run_view(ledger, ACME, lasso_run.run_id)
    finally:
        ledger.close()
    assert usage_styles[BASE_FUNCTION].txt_color == LASSO.base_colors.txt_color
    colors = {line.key: line.style for line in maps_run.functions}
    assert colors[BASE_FUNCTION].txt_color == MAPS.base_colors.txt_color
    assert colors[BASE_FUNCTION].label == MAPS.base_label
    assert colors["get_phone_numbers"].txt_color == usage_styles["get_phone_numbers"].txt_color
    (base,) = lasso_view.functions
    assert (base.label, base.style.txt_color) == (LASSO.base_label, LASSO.base_colors.txt_color)


def test_low_balance_flag(ledger: Ledger) -> None:
    assert not figures.overview(ledger, ACME).low
    assert figures.overview(ledger, "beta").low  # 35 of 500 contact views left
    assert not figures.overview(ledger, "gamma").low


SMALL = Plan("small", name="Small", allowances={"credits": Credits.of(1000)})


def new_account_after(fresh: Seeded, bonus: int, charge: int) -> figures.Overview:
    """A `small` account opened now, given `bonus` and charged `charge` once."""
    ledger = Ledger.open(fresh.url, clock=ManualClock(NOW))
    try:
        ledger.put_plan(SMALL)
        ledger.open_account("small", account_id="newco", name="New Co")
        if bonus:
            ledger.grant("newco", Credits.of(bonus), source="bonus", description="Welcome")
        ledger.charge(account_id="newco", amount=Credits.of(charge), description="First")
        return figures.overview(ledger, "newco")
    finally:
        ledger.close()


def test_a_new_account_after_one_charge_is_not_low(fresh: Seeded) -> None:
    view = new_account_after(fresh, bonus=20, charge=10)
    (card,) = view.cards
    assert (card.available, card.allowance) == (Credits.of(1010), Credits.of(1000))
    assert not view.low
    assert not view.outlook.short and view.outlook.runs_out_on is None


def test_an_account_that_runs_out_before_the_reset_is_low(fresh: Seeded) -> None:
    # 150 in its first day is 150 a day (not 150 over 7 days): 850 last 5 more days,
    # long before the reset a month on.
    view = new_account_after(fresh, bonus=0, charge=150)
    assert view.low
    assert view.outlook.short
    assert view.outlook.runs_out_on == date(2026, 5, 25)


def pool(available: int, allowance: int = 0, consumed: int = 0) -> PoolBalance:
    return PoolBalance(
        pool="credits",
        available=Credits.of(available),
        held=Credits(0),
        allowance=Credits.of(allowance),
        consumed=Credits.of(consumed),
        by_source={},
        rollover_expires_at=None,
        overdraft_limit=Credits(0),
    )


def test_a_pool_whose_credits_do_not_come_back_uses_its_forecast_alone() -> None:
    reset = date(2026, 6, 1)
    # With an allowance, credits come back at the reset; without one, the forecast must
    # stay clear of the pace window.
    assert outlook.credits_return_on(pool(100, allowance=1000), reset, TODAY) == reset
    assert outlook.credits_return_on(pool(100), reset, TODAY) == date(2026, 5, 27)
    # 30 spent over 3 days is 10 a day: 100 last 10 days; nothing spent never runs out.
    assert outlook.pool_runs_out_on(Credits.of(100), Credits.of(30), 3, TODAY) == date(2026, 5, 30)
    assert outlook.pool_runs_out_on(Credits.of(100), Credits(0), 3, TODAY) is None


def test_an_unused_empty_pool_is_not_low() -> None:
    # No allowance and nothing spent this period: empty is its normal state.
    assert not figures.is_pool_low(pool(0))
    # Emptied by spend this period, or owing credits: low.
    assert figures.is_pool_low(pool(0, consumed=20))
    assert figures.is_pool_low(pool(-5))
    assert not figures.is_pool_low(pool(30, consumed=20))
    # With an allowance: under 10 % of it left.
    assert figures.is_pool_low(pool(0, allowance=100))
    assert figures.is_pool_low(pool(9, allowance=100, consumed=91))
    assert not figures.is_pool_low(pool(10, allowance=100, consumed=90))


def test_the_csv_export_reads_every_match_page_by_page(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(history_figures, "CSV_PAGE_SIZE", 7)
    reads: list[int] = []
    read = ledger.transactions

    def counted(*args: Any, **kwargs: Any) -> TransactionPage:
        reads.append(kwargs["limit"])
        return read(*args, **kwargs)

    monkeypatch.setattr(ledger, "transactions", counted)
    account = ledger.get_account(ACME)
    rows = history_figures.all_transactions(
        ledger, account, history_figures.HistoryFilter(None, None, None)
    )
    next(rows)
    assert reads == [7]  # streamed: one page read before the first row goes out
    everything = [row.transaction_id for row in rows]
    expected = [t.transaction_id for t in read(ACME, limit=100).data]
    total = read(ACME, limit=1).total
    assert len(everything) + 1 == total > 7 * 3
    assert everything[: len(expected) - 1] == expected[1:]
    assert len(reads) == -(-total // 7)


def test_history_windows_are_local_days() -> None:
    chosen = history_figures.HistoryFilter("DEDUCTION", date(2026, 5, 19), date(2026, 5, 19), 3)
    since, until = chosen.window("Europe/Paris")
    assert since is not None and until is not None
    assert since.isoformat() == "2026-05-19T00:00:00+02:00"
    assert until.isoformat() == "2026-05-19T23:59:59.999999+02:00"
    assert chosen.params() == {
        "type": "DEDUCTION",
        "from": "2026-05-19",
        "to": "2026-05-19",
        "page": "3",
    }
    assert "page" not in chosen.params(page=1)
