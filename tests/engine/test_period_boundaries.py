"""Period boundaries at engine level: each applied once, at the instant it was due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from creditbook import (
    Credits,
    GrantSource,
    Interval,
    Ledger,
    ManualClock,
    Plan,
    RolloverPolicy,
    TransactionType,
)
from creditbook.engine.results import Transaction

RESETS = [TransactionType.MONTHLY_RESET, TransactionType.DAILY_RESET]


def history(
    ledger: Ledger, account_id: str, types: list[TransactionType] | None = None
) -> list[Transaction]:
    """The whole history, oldest first."""
    lines: list[Transaction] = []
    cursor = None
    while True:
        page = ledger.transactions(account_id, limit=100, cursor=cursor, types=types)
        lines.extend(page.data)
        if not page.has_more:
            return lines[::-1]
        cursor = page.next_cursor


def reset_times(ledger: Ledger, account_id: str) -> list[datetime]:
    return [t.created_at for t in history(ledger, account_id, RESETS)]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_anchor_on_the_31st_renews_on_the_last_day_of_short_months(
    ledger: Ledger, clock: ManualClock
) -> None:
    ledger.put_plan(Plan("monthly", allowances={"credits": Credits.of(100)}))
    clock.set(utc(2025, 1, 31, 10))
    account_id = ledger.open_account("monthly").account_id
    clock.set(utc(2025, 5, 1))
    assert reset_times(ledger, account_id) == [
        utc(2025, 1, 31, 10),
        utc(2025, 2, 28, 10),
        utc(2025, 3, 31, 10),
        utc(2025, 4, 30, 10),
    ]
    balance = ledger.balance(account_id)
    assert (balance.period_start_at, balance.period_end_at) == (
        utc(2025, 4, 30, 10),
        utc(2025, 5, 31, 10),
    )


def test_leap_year_february_has_29_days(ledger: Ledger, clock: ManualClock) -> None:
    ledger.put_plan(Plan("monthly", allowances={"credits": Credits.of(100)}))
    clock.set(utc(2028, 1, 31))
    account_id = ledger.open_account("monthly").account_id
    clock.set(utc(2028, 3, 31))
    assert reset_times(ledger, account_id) == [utc(2028, 1, 31), utc(2028, 2, 29), utc(2028, 3, 31)]


def test_daily_periods_across_a_dst_change_start_at_local_midnight(
    ledger: Ledger, clock: ManualClock
) -> None:
    ledger.put_plan(Plan("daily", interval=Interval.DAILY, allowances={"credits": Credits.of(10)}))
    clock.set(utc(2025, 3, 29, 12))
    account_id = ledger.open_account("daily", timezone="Europe/Prague").account_id
    clock.set(utc(2025, 3, 31, 12))
    ledger.charge(account_id=account_id, amount=Credits.of(3))
    # Prague leaves CET (+1) for CEST (+2) on 2025-03-30: that day lasts 23 hours.
    assert reset_times(ledger, account_id) == [
        utc(2025, 3, 28, 23),
        utc(2025, 3, 29, 23),
        utc(2025, 3, 30, 22),
    ]
    balance = ledger.balance(account_id)
    assert balance.period_end_at - balance.period_start_at == timedelta(hours=24)
    assert balance.pools["credits"].available == Credits.of(7)
    expiries = history(ledger, account_id, [TransactionType.EXPIRY])
    assert [(t.created_at, t.amount) for t in expiries] == [
        (utc(2025, 3, 29, 23), Credits.of(-10)),
        (utc(2025, 3, 30, 22), Credits.of(-10)),
    ]


def test_rollover_is_capped_and_expires_after_its_periods(
    ledger: Ledger, clock: ManualClock
) -> None:
    policy = RolloverPolicy(cap=Credits.of(30), expires_after_periods=2)
    ledger.put_plan(Plan("roll", allowances={"credits": Credits.of(100)}, rollover=policy))
    clock.set(utc(2025, 1, 1))
    account_id = ledger.open_account("roll").account_id
    ledger.charge(account_id=account_id, amount=Credits.of(50))

    clock.set(utc(2025, 2, 10))
    pool = ledger.balance(account_id).pools["credits"]
    # 50 unused; the cap lets 30 roll over, valid for this period and the next.
    assert pool.by_source == {"allowance": Credits.of(100), "rollover": Credits.of(30)}
    assert pool.rollover_expires_at == utc(2025, 4, 1)
    ledger.charge(account_id=account_id, amount=Credits.of(10))  # rollover goes first
    assert ledger.balance(account_id).pools["credits"].by_source == {
        "allowance": Credits.of(100),
        "rollover": Credits.of(20),
    }

    clock.set(utc(2025, 3, 10))
    pool = ledger.balance(account_id).pools["credits"]
    # February's allowance was untouched: 30 of it rolls over too.
    assert pool.by_source == {"allowance": Credits.of(100), "rollover": Credits.of(50)}

    clock.set(utc(2025, 4, 10))
    pool = ledger.balance(account_id).pools["credits"]
    # January's rollover (20 left) expired on Apr 1. The one that arrived on Mar 1 is good
    # until May 1; March's unused 100 rolled another 30.
    assert pool.by_source == {"allowance": Credits.of(100), "rollover": Credits.of(60)}
    assert pool.rollover_expires_at == utc(2025, 5, 1)
    expiries = history(ledger, account_id, [TransactionType.EXPIRY])
    assert [(t.created_at, t.amount) for t in expiries] == [
        (utc(2025, 2, 1), Credits.of(-50)),
        (utc(2025, 3, 1), Credits.of(-100)),
        (utc(2025, 4, 1), Credits.of(-20)),
        (utc(2025, 4, 1), Credits.of(-100)),
    ]
    assert ledger.verify().ok


def test_rollover_percent_cap(ledger: Ledger, clock: ManualClock) -> None:
    policy = RolloverPolicy(cap_percent=Decimal("12.5"))
    ledger.put_plan(Plan("pct", allowances={"credits": Credits.of(100)}, rollover=policy))
    account_id = ledger.open_account("pct").account_id
    clock.advance(days=31)
    assert ledger.balance(account_id).pools["credits"].by_source["rollover"] == Credits.of("12.5")


@pytest.mark.parametrize("interval", [Interval.MONTHLY, Interval.DAILY])
def test_skipped_periods_are_each_applied_once_lazily_or_by_the_sweeper(
    ledger: Ledger, clock: ManualClock, interval: Interval
) -> None:
    policy = RolloverPolicy(cap=Credits.of(5))
    ledger.put_plan(
        Plan("plan", interval=interval, allowances={"credits": Credits.of(10)}, rollover=policy)
    )
    lazy = ledger.open_account("plan", account_id="lazy").account_id
    swept = ledger.open_account("plan", account_id="swept").account_id
    for account_id in (lazy, swept):
        ledger.grant(
            account_id,
            Credits.of(3),
            source=GrantSource.BONUS,
            expires_at=clock.now() + timedelta(days=2),
        )
    periods = 5
    clock.set(utc(2025, 6, 4) if interval is Interval.MONTHLY else utc(2025, 1, 6, 12))

    ledger.balance(lazy)  # the lazy one catches up on its next touch
    assert ledger.tick() == 1  # the sweeper catches up the other one
    assert ledger.tick() == 0  # nothing left to do
    ledger.balance(swept)  # a touch after the sweeper finds nothing due either

    def shape(account_id: str) -> list[tuple[TransactionType, Credits, datetime]]:
        return [(t.type, t.amount, t.created_at) for t in history(ledger, account_id)]

    assert shape(lazy) == shape(swept)
    assert len(reset_times(ledger, lazy)) == periods + 1  # the opening grant, then 5
    assert ledger.balance(lazy).pools["credits"].available == Credits.of(15)
    assert ledger.verify().ok


def test_lazy_touch_and_sweeper_give_identical_histories(
    ledger: Ledger, clock: ManualClock
) -> None:
    policy = RolloverPolicy(cap_percent=Decimal(50), expires_after_periods=1)
    ledger.put_plan(Plan("plan", allowances={"credits": Credits.of(40)}, rollover=policy))
    lazy = ledger.open_account("plan", account_id="lazy").account_id
    swept = ledger.open_account("plan", account_id="swept").account_id
    for month in range(1, 4):
        for account_id in (lazy, swept):
            ledger.charge(account_id=account_id, amount=Credits.of(7 * month))
        clock.set(utc(2025, month + 1, 15))
        ledger.balance(lazy)  # caught up by a touch
        assert ledger.tick() == 1  # the other by the sweeper
    clock.set(utc(2025, 8, 2))
    ledger.balance(lazy)
    assert ledger.tick() == 1
    lazy_lines = [(t.type, t.amount, t.created_at) for t in history(ledger, lazy)]
    swept_lines = [(t.type, t.amount, t.created_at) for t in history(ledger, swept)]
    assert lazy_lines == swept_lines
    assert ledger.balance(lazy).pools == ledger.balance(swept).pools


def test_balance_at_a_past_instant(ledger: Ledger, clock: ManualClock) -> None:
    ledger.put_plan(Plan("monthly", allowances={"credits": Credits.of(100)}))
    account_id = ledger.open_account("monthly").account_id
    clock.set(utc(2025, 1, 10))
    ledger.charge(account_id=account_id, amount=Credits.of(30))
    clock.set(utc(2025, 1, 20))
    ledger.charge(account_id=account_id, amount=Credits.of(20))
    clock.set(utc(2025, 2, 5))
    ledger.charge(account_id=account_id, amount=Credits.of(1))

    def available(at: datetime) -> Credits:
        return ledger.balance(account_id, at=at).pools["credits"].available

    assert available(utc(2025, 1, 5)) == Credits.of(100)
    assert available(utc(2025, 1, 15)) == Credits.of(70)
    assert available(utc(2025, 1, 31, 23, 59)) == Credits.of(50)
    assert available(utc(2025, 2, 1)) == Credits.of(100)
    assert available(utc(2025, 2, 6)) == Credits.of(99)
    assert ledger.balance(account_id, at=utc(2025, 1, 15)).pools["credits"].consumed == Credits.of(
        30
    )
