"""Engine operations one by one: what each writes, and what each refuses."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from creditbook import (
    ChargeRequest,
    Credits,
    FilterRate,
    FunctionRate,
    GrantSource,
    IdempotencyConflictError,
    InsufficientCreditsError,
    Ledger,
    ManualClock,
    NoFreeSlotsError,
    NotFoundError,
    Plan,
    RateCard,
    StateError,
    TransactionType,
    ValidationError,
)
from creditbook.engine import idempotency
from creditbook.engine.operations.charges import charge_fields
from creditbook.store import schema

CARD = RateCard(
    "maps",
    Credits.of(4),
    functions={"get_phone_numbers": FunctionRate("get_phone_numbers", Credits.of(6))},
    filters={"geo_match": FilterRate("geo_match", "Geo match", Credits.of("0.5"))},
    module="scraper",
    service="maps",
)


@pytest.fixture
def account(ledger: Ledger) -> str:
    ledger.put_plan(Plan("plan", allowances={"credits": Credits.of(100)}, slots=3))
    ledger.put_rate_card(CARD)
    return ledger.open_account("plan", account_id="acme").account_id


def available(ledger: Ledger, account_id: str, pool: str = "credits") -> Credits:
    return ledger.balance(account_id).pools[pool].available


def row_counts(ledger: Ledger) -> dict[str, int]:
    with ledger.engine.connect() as connection:
        return {
            table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in schema.metadata.sorted_tables
        }


def test_spend_order_priority_then_soonest_expiry_then_oldest(
    ledger: Ledger, account: str, clock: ManualClock
) -> None:
    soon = clock.now() + timedelta(days=3)
    later = clock.now() + timedelta(days=9)
    top_up = ledger.grant(account, Credits.of(10), source="top_up")
    bonus_late = ledger.grant(account, Credits.of(5), source="bonus", expires_at=later)
    bonus_soon = ledger.grant(account, Credits.of(5), source="bonus", expires_at=soon)
    ledger.charge(account_id=account, amount=Credits.of(7))
    by_source = ledger.balance(account).pools["credits"].by_source
    # bonus expiring soonest (5), then the later bonus (2 of 5); allowance and top-up intact
    assert by_source == {
        "allowance": Credits.of(100),
        "bonus": Credits.of(3),
        "top_up": Credits.of(10),
    }
    assert (bonus_soon.priority, bonus_late.priority, top_up.priority) == (10, 10, 50)
    ledger.charge(account_id=account, amount=Credits.of(104))
    assert ledger.balance(account).pools["credits"].by_source == {"top_up": Credits.of(9)}
    first = ledger.grant(account, Credits.of(1), source="adjustment", priority=0)
    ledger.charge(account_id=account, amount=Credits.of(1))
    assert first.priority == 0
    assert ledger.balance(account).pools["credits"].by_source == {"top_up": Credits.of(9)}


def test_future_grant_is_not_spendable_until_effective_and_bonus_expires(
    ledger: Ledger, account: str, clock: ManualClock
) -> None:
    start = clock.now()
    ledger.grant(
        account,
        Credits.of(50),
        source="bonus",
        effective_at=start + timedelta(days=2),
        expires_at=start + timedelta(days=5),
    )
    assert available(ledger, account) == Credits.of(100)
    with pytest.raises(InsufficientCreditsError):
        ledger.charge(account_id=account, amount=Credits.of(120))
    clock.set(start + timedelta(days=2))
    assert available(ledger, account) == Credits.of(150)
    ledger.charge(account_id=account, amount=Credits.of(20))
    clock.set(start + timedelta(days=6))
    assert available(ledger, account) == Credits.of(100)
    expiry = ledger.transactions(account, types=[TransactionType.EXPIRY]).data[0]
    assert (expiry.amount, expiry.created_at) == (Credits.of(-30), start + timedelta(days=5))


def test_refused_charge_writes_nothing(ledger: Ledger, account: str) -> None:
    before = row_counts(ledger)
    with pytest.raises(InsufficientCreditsError) as refused:
        ledger.charge(account_id=account, amount=Credits.of("100.001"))
    assert refused.value.code == "insufficient_credits"
    for bad in (
        {"amount": Credits.of(0)},
        {"amount": Credits.of(-1)},
        {"amount": Credits.of(1), "user_id": "Not An Id!"},
        {"amount": Credits.of(1), "pool": "nope"},
        {"amount": Credits.of(1), "description": "x" * 501},
        {"rate_card_id": "maps", "function": "nope", "quantity": 1},
        {"rate_card_id": "maps", "function": "base", "quantity": 0},
        {},
    ):
        with pytest.raises(ValidationError):
            ledger.charge(account_id=account, **bad)
    with pytest.raises(NotFoundError):
        ledger.charge(account_id="ghost", amount=Credits.of(1))
    # Only the refusal for lack of credits records its event (the pool is depleted).
    assert row_counts(ledger) == {**before, "events": before["events"] + 1}
    assert [event.type for event in ledger.events().data] == ["balance.depleted"]
    assert available(ledger, account) == Credits.of(100)


def test_partial_charge_takes_what_is_available(ledger: Ledger, account: str) -> None:
    charge = ledger.charge(account_id=account, amount=Credits.of(130), partial=True)
    assert (charge.requested, charge.amount) == (Credits.of(130), Credits.of(100))
    assert available(ledger, account) == Credits.of(0)
    with pytest.raises(InsufficientCreditsError):
        ledger.charge(account_id=account, amount=Credits.of(1), partial=True)


def test_overdraft_allows_going_below_zero_and_is_settled_by_new_credits(
    ledger: Ledger, clock: ManualClock
) -> None:
    ledger.put_plan(Plan("od", allowances={"credits": Credits.of(10)}, overdraft=Credits.of(5)))
    account = ledger.open_account("od").account_id
    ledger.charge(account_id=account, amount=Credits.of(14))
    assert available(ledger, account) == Credits.of(-4)
    with pytest.raises(InsufficientCreditsError):
        ledger.charge(account_id=account, amount=Credits.of(2))
    ledger.charge(account_id=account, amount=Credits.of(1))
    assert available(ledger, account) == Credits.of(-5)
    ledger.grant(account, Credits.of(8), source="top_up")
    assert available(ledger, account) == Credits.of(3)
    clock.advance(days=31)
    assert available(ledger, account) == Credits.of(13)  # the top-up stays, allowance anew
    assert ledger.verify().ok


def test_batch_charges_commit_together_with_per_item_results(ledger: Ledger, account: str) -> None:
    ledger.open_account("plan", account_id="other")
    results = ledger.charge_batch(
        [
            ChargeRequest(account, amount=Credits.of(30)),
            ChargeRequest("other", amount=Credits.of(500)),
            ChargeRequest("ghost", amount=Credits.of(1)),
            ChargeRequest(
                account,
                rate_card_id="maps",
                function="get_phone_numbers",
                quantity=5,
                idempotency_key="b1",
            ),
            ChargeRequest("other", amount=Credits.of(0)),
        ]
    )
    assert [r.ok for r in results] == [True, False, False, True, False]
    assert [r.error_code for r in results] == [
        None,
        "insufficient_credits",
        "not_found",
        None,
        "validation_error",
    ]
    assert available(ledger, account) == Credits.of(40)
    assert available(ledger, "other") == Credits.of(100)
    again = ledger.charge_batch(
        [
            ChargeRequest(
                account,
                rate_card_id="maps",
                function="get_phone_numbers",
                quantity=5,
                idempotency_key="b1",
            )
        ]
    )
    assert again[0].charge is not None and again[0].charge.replayed
    assert again[0].charge.charge_id == results[3].charge.charge_id  # type: ignore[union-attr]
    assert available(ledger, account) == Credits.of(40)
    with pytest.raises(ValidationError):
        ledger.charge_batch([])
    assert ledger.verify().ok


def test_refunds_are_linked_and_bounded(ledger: Ledger, account: str) -> None:
    ledger.grant(account, Credits.of(10), source="bonus")
    charge = ledger.charge(account_id=account, amount=Credits.of(30))
    first = ledger.refund(account, charge.charge_id, Credits.of(5))
    # last drawn first: the 20 from the allowance are returned before the bonus
    assert ledger.balance(account).pools["credits"].by_source == {"allowance": Credits.of(85)}
    rest = ledger.refund(account, charge.charge_id)
    assert (first.amount, rest.amount) == (Credits.of(5), Credits.of(25))
    assert ledger.balance(account).pools["credits"].by_source == {
        "allowance": Credits.of(100),
        "bonus": Credits.of(10),
    }
    with pytest.raises(ValidationError):
        ledger.refund(account, charge.charge_id, Credits.of(1))
    with pytest.raises(NotFoundError):
        ledger.refund(account, "txn_missing")
    refund_line = ledger.transactions(account, types=["REFUND"]).data[0]
    assert refund_line.linked_transaction_id == charge.charge_id
    assert ledger.verify().ok


def test_refund_of_credits_whose_grant_expired_expires_them_again(
    ledger: Ledger, account: str, clock: ManualClock
) -> None:
    charge = ledger.charge(account_id=account, amount=Credits.of(60))
    clock.advance(days=40)
    refund = ledger.refund(account, charge.charge_id)
    assert (refund.amount, refund.returned) == (Credits.of(60), Credits.of(0))
    assert available(ledger, account) == Credits.of(100)
    assert ledger.verify().ok


def test_hold_capture_release_and_timeout(ledger: Ledger, account: str, clock: ManualClock) -> None:
    hold = ledger.hold(account, Credits.of(40), timeout_s=600)
    balance = ledger.balance(account).pools["credits"]
    assert (balance.available, balance.held) == (Credits.of(60), Credits.of(40))
    with pytest.raises(InsufficientCreditsError):
        ledger.capture(account, hold.hold_id, Credits.of(41))
    ledger.capture(account, hold.hold_id, Credits.of(15))
    released = ledger.release(account, hold.hold_id)
    assert (released.status, released.remaining) == ("released", Credits.of(0))
    assert available(ledger, account) == Credits.of(85)
    with pytest.raises(StateError):
        ledger.release(account, hold.hold_id)

    timed = ledger.hold(account, Credits.of(50), timeout_s=60)
    clock.advance(seconds=61)
    assert ledger.get_hold(account, timed.hold_id).status == "expired"
    assert available(ledger, account) == Credits.of(85)
    assert ledger.verify().ok


def test_run_slots_results_filters_and_settlement(ledger: Ledger, account: str) -> None:
    run = ledger.start_run(
        account,
        "maps",
        slots=2,
        hold=Credits.of(30),
        active_filters=["geo_match"],
        resource_id="scraper-1",
        resource_name="Maps scraper",
    )
    with pytest.raises(NoFreeSlotsError):
        ledger.start_run(account, "maps", slots=2)
    assert ledger.balance(account).used_slots == 2
    ledger.report_results(
        account,
        run.run_id,
        rows_kept=4,
        rows_discarded={"geo_match": 9},
        functions={"get_phone_numbers": (4, 1)},
    )
    ledger.report_results(account, run.run_id, rows_kept=2, functions={"get_phone_numbers": (2, 2)})
    breakdown = ledger.run_breakdown(account, run.run_id)
    # 6 kept rows × 4 + 3 phone numbers × 6 + geo filter 6 kept × 0.5; discards cost nothing
    assert [(b.function, b.credits, b.attempts) for b in breakdown.breakdown] == [
        ("base", Credits.of(24), 6),
        ("get_phone_numbers", Credits.of(18), 6),
    ]
    assert [(f.name, f.display, f.rate, f.credits) for f in breakdown.filter_breakdown] == [
        ("geo_match", "Geo match", Credits.of("0.5"), Credits.of(3))
    ]
    assert breakdown.total_credits == Credits.of(45)
    finished = ledger.finish_run(account, run.run_id)
    assert (finished.status, finished.rows_discarded, finished.charged) == (
        "finished",
        {"geo_match": 9},
        Credits.of(45),
    )
    assert ledger.balance(account).used_slots == 0
    assert ledger.balance(account).pools["credits"].held == Credits.of(0)
    assert available(ledger, account) == Credits.of(55)
    with pytest.raises(StateError):
        ledger.report_results(account, run.run_id, rows_kept=1)
    assert ledger.verify().ok


def test_a_run_that_cannot_pay_is_refused_whole_and_paused(ledger: Ledger, account: str) -> None:
    run = ledger.start_run(account, "maps")
    with pytest.raises(InsufficientCreditsError):
        ledger.report_results(
            account, run.run_id, rows_kept=20, functions={"get_phone_numbers": (20, 10)}
        )
    paused = ledger.get_run(account, run.run_id)
    assert (paused.status, paused.charged, paused.rows_kept) == ("paused", Credits.of(0), 0)
    assert available(ledger, account) == Credits.of(100)
    ledger.grant(account, Credits.of(100), source="top_up")
    resumed = ledger.report_results(
        account, run.run_id, rows_kept=20, functions={"get_phone_numbers": (20, 10)}
    )
    assert (resumed.status, resumed.charged) == ("running", Credits.of(140))
    assert ledger.verify().ok


def test_idempotency_keys_replay_conflict_and_are_scoped_per_account(
    ledger: Ledger, account: str
) -> None:
    ledger.open_account("plan", account_id="other")
    first = ledger.charge(account_id=account, amount=Credits.of(5), idempotency_key="k")
    replay = ledger.charge(account_id=account, amount=Credits.of(5), idempotency_key="k")
    assert (replay.charge_id, replay.replayed, first.replayed) == (first.charge_id, True, False)
    before = row_counts(ledger)
    with pytest.raises(IdempotencyConflictError) as conflict:
        ledger.charge(account_id=account, amount=Credits.of(6), idempotency_key="k")
    assert conflict.value.code == "idempotency_key_conflict"
    assert row_counts(ledger) == before
    other = ledger.charge(account_id="other", amount=Credits.of(5), idempotency_key="k")
    assert other.charge_id != first.charge_id and not other.replayed
    assert available(ledger, account) == Credits.of(95)
    opened = ledger.open_account("plan", idempotency_key="open-1", name="x")
    assert (
        ledger.open_account("plan", idempotency_key="open-1", name="x").account_id
        == opened.account_id
    )
    with pytest.raises(IdempotencyConflictError):
        ledger.open_account("plan", idempotency_key="open-1", name="y")


@pytest.mark.parametrize(
    ("request_", "request_hash"),
    [
        (
            ChargeRequest(
                account_id="acct-1",
                amount=Credits(2500),
                quantity=3,
                pool="rows",
                partial=True,
                module="m",
                service="s",
                user_id="u",
                resource_id="r",
                resource_name="R",
                run_id="run-1",
                description="d",
                idempotency_key="k",
            ),
            "dbe9aa7feb708220c9a9f887b8ae59fcbf22a9feff2f08aa8be46e85b8f7b6d1",
        ),
        (
            ChargeRequest(
                account_id="acct-1",
                rate_card_id="card",
                function="enrich",
                quantity=7,
                idempotency_key="k2",
            ),
            "840ac416e308ef421deb346623b96851839e17a42e6f773b7707186241ee631c",
        ),
    ],
    ids=["raw amount, every field", "priced"],
)
def test_a_charge_request_hashes_as_stored_answers_were_hashed(
    request_: ChargeRequest, request_hash: str
) -> None:
    """The hash a stored answer was kept under must not change from one release to the
    next, or every replay after an upgrade would be refused as a conflict. (The expected
    values were computed by the code that stored answers before this test; the key itself
    is not hashed.)"""
    assert idempotency.hash_request("charge", charge_fields(request_)) == request_hash
    other_key = replace(request_, idempotency_key="another")
    assert idempotency.hash_request("charge", charge_fields(other_key)) == request_hash


def test_transactions_pagination_and_filters(
    ledger: Ledger, account: str, clock: ManualClock
) -> None:
    for index in range(7):
        clock.advance(minutes=1)
        ledger.charge(account_id=account, amount=Credits.of(index + 1))
    page = ledger.transactions(account, limit=3)
    assert page.total == 8 and page.has_more
    assert [t.amount for t in page.data] == [Credits.of(-7), Credits.of(-6), Credits.of(-5)]
    seen = list(page.data)
    while page.has_more:
        page = ledger.transactions(account, limit=3, cursor=page.next_cursor)
        assert page.total is None  # counted once, on the first page
        seen += page.data
    assert len(seen) == 8 and len({t.transaction_id for t in seen}) == 8
    assert seen[-1].type is TransactionType.MONTHLY_RESET
    by_offset = ledger.transactions(account, limit=2, offset=6)
    assert [t.transaction_id for t in by_offset.data] == [t.transaction_id for t in seen[6:]]
    assert not by_offset.has_more and by_offset.total == 8
    deductions = ledger.transactions(account, types=["DEDUCTION"], limit=100)
    assert deductions.total == 7
    window = ledger.transactions(
        account,
        since=datetime(2025, 1, 1, 0, 3, tzinfo=UTC),
        until=datetime(2025, 1, 1, 0, 5, tzinfo=UTC),
    )
    assert [t.amount for t in window.data] == [Credits.of(-5), Credits.of(-4), Credits.of(-3)]
    for bad in (
        {"limit": 0},
        {"limit": 101},
        {"cursor": "garbage"},
        {"types": ["NOPE"]},
        {"offset": -1},
    ):
        with pytest.raises(ValidationError):
            ledger.transactions(account, **bad)  # type: ignore[arg-type]


def test_runs_page_by_a_stable_cursor(ledger: Ledger, account: str, clock: ManualClock) -> None:
    started = []
    for index in range(7):
        if index % 2:  # pairs share a start time: the cursor breaks ties by run id
            clock.advance(minutes=1)
        run = ledger.start_run(account, "maps")
        ledger.finish_run(account, run.run_id)
        started.append(run)
    newest_first = sorted(started, key=lambda r: (-r.started_at.timestamp(), r.run_id))
    page = ledger.runs(account, limit=3)
    assert page.has_more and [r.run_id for r in page.data] == [r.run_id for r in newest_first[:3]]
    clock.advance(minutes=1)
    ledger.start_run(account, "maps")  # started between pages: later pages do not shift
    seen = list(page.data)
    while page.has_more:
        assert page.next_cursor is not None
        page = ledger.runs(account, limit=3, cursor=page.next_cursor)
        seen += page.data
    assert [r.run_id for r in seen] == [r.run_id for r in newest_first]
    assert page.next_cursor is None
    assert [r.run_id for r in ledger.list_runs(account, limit=2)] == [
        r.run_id for r in ledger.runs(account, limit=2).data
    ]
    for bad in ({"limit": 0}, {"limit": 101}, {"cursor": "garbage"}, {"cursor": "c2VxOjE"}):
        with pytest.raises(ValidationError):
            ledger.runs(account, **bad)  # type: ignore[arg-type]
    with pytest.raises(NotFoundError):
        ledger.runs("nobody")


def test_entries_are_read_in_key_order_in_batches(ledger: Ledger, account: str) -> None:
    ledger.put_plan(Plan("other", allowances={"credits": Credits.of(5)}))
    other = ledger.open_account("other", account_id="beta").account_id
    for index in range(4):
        ledger.charge(account_id=account, amount=Credits.of(index + 1))
    ledger.charge(account_id=other, amount=Credits.of(1))
    everything = list(ledger.iter_entries(batch=3))
    keys = [(e.account_id, e.seq, e.line) for e in everything]
    assert keys == sorted(keys) and len(set(keys)) == len(keys) == ledger.count_entries()
    assert sum(e.amount.millicredits for e in everything) == 0  # double entry
    mine = list(ledger.iter_entries(account, batch=2))
    assert {e.account_id for e in mine} == {account}
    assert (
        len(mine)
        == ledger.count_entries(account)
        == ledger.count_entries() - len(list(ledger.iter_entries(other)))
    )
    assert {e.type for e in mine} >= {"DEDUCTION", "MONTHLY_RESET"}
    with pytest.raises(NotFoundError):
        ledger.count_entries("nobody")
    with pytest.raises(NotFoundError):
        list(ledger.iter_entries("nobody"))
    with pytest.raises(ValidationError):
        list(ledger.iter_entries(batch=0))


def test_verify_reports_a_tampered_balance(ledger: Ledger, account: str) -> None:
    ledger.charge(account_id=account, amount=Credits.of(5))
    assert ledger.verify().ok
    with ledger.engine.begin() as connection:
        connection.execute(
            update(schema.grants)
            .where(schema.grants.c.source == "allowance")
            .values(remaining=schema.grants.c.remaining + 1)
        )
        connection.execute(update(schema.rollups).values(amount=schema.rollups.c.amount + 2))
    report = ledger.verify(account)
    assert not report.ok
    assert any(
        "grant" in line and "stored 95001, replayed 95000" in line for line in report.differences
    )
    assert any(line.startswith("rollup") for line in report.differences)


def test_change_plan_starts_a_new_period_and_keeps_purchases(
    ledger: Ledger, account: str, clock: ManualClock
) -> None:
    ledger.put_plan(Plan("bigger", allowances={"credits": Credits.of(1000)}, slots=10))
    ledger.grant(account, Credits.of(10), source=GrantSource.TOP_UP)
    ledger.charge(account_id=account, amount=Credits.of(30))
    clock.advance(days=10)
    ledger.change_plan(account, "bigger")
    balance = ledger.balance(account)
    assert (balance.plan_id, balance.total_slots) == ("bigger", 10)
    assert balance.pools["credits"].by_source == {
        "allowance": Credits.of(1000),
        "top_up": Credits.of(10),
    }
    assert balance.period_start_at == clock.now()
    with pytest.raises(NotFoundError):
        ledger.change_plan(account, "missing")
    assert ledger.verify().ok


def test_estimate_quotes_and_says_if_affordable(ledger: Ledger, account: str) -> None:
    quote, affordable = ledger.estimate(
        account,
        "maps",
        rows=20,
        functions={"get_phone_numbers": 20},
        success_rates_percent={"get_phone_numbers": 30},
    )
    assert quote.total == Credits.of(80 + 6 * 6)
    assert affordable == {"credits": False}
    quote, affordable = ledger.estimate(account, "maps", rows=10)
    assert (quote.total, affordable) == (Credits.of(40), {"credits": True})


def test_current_balance_from_stored_balances_equals_the_replayed_one(
    ledger: Ledger, account: str, clock: ManualClock
) -> None:
    ledger.grant(
        account, Credits.of(12), source="bonus", expires_at=clock.now() + timedelta(days=50)
    )
    ledger.hold(account, Credits.of(30))
    ledger.charge(account_id=account, amount=Credits.of("7.5"))
    clock.advance(days=33)
    ledger.charge(account_id=account, amount=Credits.of(4))
    now = clock.now()
    stored = ledger.balance(account)
    replayed = ledger.balance(account, at=now)
    assert stored.pools == replayed.pools
    # the hold timed out and gave the bonus back; the new period's charge took 4 of it
    assert stored.pools["credits"].by_source["bonus"] == Credits.of(8)


def overdraft_floor(ledger: Ledger, account: str) -> tuple[int, int]:
    """The overdraft grant's (remaining, min_remaining), in millicredits."""
    grants = schema.grants.c
    with ledger.engine.connect() as connection:
        found = connection.execute(
            select(grants.remaining, grants.min_remaining).where(
                grants.account_id == account, grants.source == "overdraft"
            )
        ).one()
    return found.remaining, found.min_remaining


def test_the_overdraft_grant_floor_follows_the_plan_limit(ledger: Ledger) -> None:
    ledger.put_plan(Plan("od", allowances={"credits": Credits.of(10)}, overdraft=Credits.of(5)))
    ledger.put_plan(Plan("flat", allowances={"credits": Credits.of(10)}))
    account = ledger.open_account("od").account_id
    assert overdraft_floor(ledger, account) == (0, -5_000)
    ledger.charge(account_id=account, amount=Credits.of(14))
    assert overdraft_floor(ledger, account) == (-4_000, -5_000)
    # A lower limit keeps the debt already taken as the floor; a higher one is the floor.
    ledger.put_plan(Plan("od", allowances={"credits": Credits.of(10)}, overdraft=Credits.of(2)))
    assert overdraft_floor(ledger, account) == (-4_000, -4_000)
    with pytest.raises(InsufficientCreditsError):
        ledger.charge(account_id=account, amount=Credits.of("0.001"))
    ledger.put_plan(Plan("od", allowances={"credits": Credits.of(10)}, overdraft=Credits.of(20)))
    assert overdraft_floor(ledger, account) == (-4_000, -20_000)
    # A plan change: the new period's allowance settles the debt first, then the new limit.
    ledger.change_plan(account, "flat")
    assert overdraft_floor(ledger, account) == (0, 0)
    ledger.change_plan(account, "od")
    assert overdraft_floor(ledger, account) == (0, -20_000)
    assert ledger.verify().ok


def test_the_database_refuses_an_overdraft_beyond_the_floor(ledger: Ledger) -> None:
    ledger.put_plan(Plan("od", allowances={"credits": Credits.of(10)}, overdraft=Credits.of(5)))
    account = ledger.open_account("od").account_id
    grants = schema.grants.c
    with pytest.raises(IntegrityError, match="remaining_floor"), ledger.engine.begin() as db:
        db.execute(
            update(schema.grants)
            .where(grants.account_id == account, grants.source == "overdraft")
            .values(remaining=-5_001)
        )
    assert overdraft_floor(ledger, account) == (0, -5_000)
