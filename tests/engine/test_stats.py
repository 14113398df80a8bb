"""Native stats: buckets, runs, forecasts; always from rollups."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from creditbook import Credits, Ledger, ManualClock, Plan, RateCard, ValidationError


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def account(ledger: Ledger, clock: ManualClock) -> str:
    ledger.put_plan(Plan("plan", allowances={"credits": Credits.of(1000)}, slots=5))
    ledger.put_rate_card(RateCard("rows", Credits.of(2)))
    clock.set(utc(2025, 3, 1))
    account_id = ledger.open_account("plan", timezone="America/New_York").account_id
    # Mar 3 (Mon), Mar 9 (Sun), Mar 10 (Mon), Apr 2: spends of 10, 20, 30, 40
    for when, amount in (
        (utc(2025, 3, 3, 15), 10),
        (utc(2025, 3, 10, 3), 20),
        (utc(2025, 3, 10, 15), 30),
        (utc(2025, 4, 2, 15), 40),
    ):
        clock.set(when)
        ledger.charge(account_id=account_id, amount=Credits.of(amount), module="m")
    return account_id


def test_buckets_by_day_iso_week_and_month_in_local_time(ledger: Ledger, account: str) -> None:
    start, end = date(2025, 3, 1), date(2025, 4, 30)
    # 03:00 UTC on Mar 10 is still Mar 9 in New York: the 20 lands on Sunday.
    days = ledger.stats(account, start, end).buckets
    assert [(b.start, b.amount) for b in days] == [
        (date(2025, 3, 3), Credits.of(10)),
        (date(2025, 3, 9), Credits.of(20)),
        (date(2025, 3, 10), Credits.of(30)),
        (date(2025, 4, 2), Credits.of(40)),
    ]
    weeks = ledger.stats(account, start, end, group_by="week").buckets
    assert [(b.start, b.amount) for b in weeks] == [
        (date(2025, 3, 3), Credits.of(30)),
        (date(2025, 3, 10), Credits.of(30)),
        (date(2025, 3, 31), Credits.of(40)),
    ]
    months = ledger.stats(account, start, end, group_by="month").buckets
    assert [(b.start, b.amount) for b in months] == [
        (date(2025, 3, 1), Credits.of(60)),
        (date(2025, 4, 1), Credits.of(40)),
    ]
    with pytest.raises(ValidationError):
        ledger.stats(account, start, end, group_by="year")


def test_runs_in_range_most_expensive_first(
    ledger: Ledger, account: str, clock: ManualClock
) -> None:
    clock.set(utc(2025, 4, 5, 15))
    small = ledger.start_run(account, "rows")
    big = ledger.start_run(account, "rows")
    ledger.report_results(account, small.run_id, rows_kept=1)
    ledger.report_results(account, big.run_id, rows_kept=10)
    stats = ledger.stats(account, date(2025, 4, 1), date(2025, 4, 30))
    assert [(r.run_id, r.amount) for r in stats.by_run] == [
        (big.run_id, Credits.of(20)),
        (small.run_id, Credits.of(2)),
    ]
    assert ledger.stats(account, date(2025, 3, 1), date(2025, 3, 31)).by_run == []


def test_forecast_at_trailing_burn(ledger: Ledger, account: str, clock: ManualClock) -> None:
    clock.set(utc(2025, 4, 3, 15))  # period Apr 1..May 1; spent 40 on Apr 2
    stats = ledger.stats(account, date(2025, 4, 1), date(2025, 4, 30))
    week, month = stats.forecast
    available = ledger.balance(account).pools["credits"].available
    assert available == Credits.of(960)
    assert (week.window_days, week.daily_burn) == (7, Decimal("5.714"))
    # 960 / (40/7) = 168 days from Apr 3
    assert week.runs_out_on == date(2025, 9, 18) and not week.before_reset
    # the 30 days to Apr 3 hold 20 (Mar 9) + 30 (Mar 10) + 40 (Apr 2) = 90
    assert month.window_days == 30 and month.daily_burn == Decimal("3")
    clock.set(utc(2025, 6, 20))
    idle = ledger.stats(account, date(2025, 6, 1), date(2025, 6, 30)).forecast
    assert [(f.daily_burn, f.runs_out_on) for f in idle] == [(0, None), (0, None)]
