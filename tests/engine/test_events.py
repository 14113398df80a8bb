"""Events as ledger facts: written by the transaction that causes them, numbered per account,
and balance alerts that fire exactly once per crossing however many writers race."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import delete, select

from creditbook import (
    ChargeRequest,
    Credits,
    FunctionRate,
    InsufficientCreditsError,
    Ledger,
    ManualClock,
    Plan,
    RateCard,
    ValidationError,
)
from creditbook.domain.alerts import AlertRule
from creditbook.domain.plans import RolloverPolicy
from creditbook.engine.events import outbox
from creditbook.store import schema
from creditbook.store.database import make_engine

CARD = RateCard(
    "maps",
    Credits.of(4),
    functions={"get_phone_numbers": FunctionRate("get_phone_numbers", Credits.of(6))},
)


def types(ledger: Ledger, account_id: str) -> list[str]:
    """The account's event types in sequence order."""
    page = ledger.events(account_id=account_id, limit=100)
    return [event.type for event in sorted(page.data, key=lambda e: e.sequence)]


def stored_events(ledger: Ledger) -> list[Any]:
    with ledger.engine.connect() as connection:
        return list(connection.execute(select(schema.events)).all())


@pytest.fixture
def account(ledger: Ledger) -> str:
    ledger.put_plan(Plan("plan", allowances={"credits": Credits.of(25)}))
    return ledger.open_account("plan", account_id="acme").account_id


def test_a_burst_of_200_charges_crossing_a_threshold_fires_one_low_and_one_depleted(
    database_url: str, clock: ManualClock
) -> None:
    """200 concurrent 1-credit charges take a balance of 25 across a 10-credit threshold."""
    ledger = Ledger(make_engine(database_url, pool_size=40), clock)
    try:
        ledger.put_plan(Plan("plan", allowances={"credits": Credits.of(25)}))
        account_id = ledger.open_account("plan", account_id="burst").account_id
        ledger.set_alerts(account_id, [AlertRule("credits", credits=Credits.of(10))])
        barrier = threading.Barrier(200)

        def charge(_: int) -> str:
            barrier.wait()
            try:
                ledger.charge(account_id=account_id, amount=Credits.of(1))
            except InsufficientCreditsError:
                return "refused"
            return "charged"

        with ThreadPoolExecutor(200) as pool:
            outcomes = Counter(pool.map(charge, range(200)))
        assert outcomes == {"charged": 25, "refused": 175}
        counted = Counter(types(ledger, account_id))
        assert counted == {"balance.low": 1, "balance.depleted": 1}
        low = next(e for e in ledger.events(account_id=account_id).data if e.type == "balance.low")
        assert low.body()["data"]["available"] == 9
        assert low.body()["data"]["threshold"] == 10
        assert ledger.verify().differences == []
    finally:
        ledger.close()


def test_events_are_numbered_per_account_in_commit_order(ledger: Ledger, account: str) -> None:
    ledger.set_alerts(account, [AlertRule("credits", credits=Credits.of(20))])
    ledger.charge(account_id=account, amount=Credits.of(6))
    ledger.grant(account_id=account, amount=Credits.of(5), source="bonus")
    ledger.charge(account_id=account, amount=Credits.of(24))
    assert types(ledger, account) == [
        "balance.low",
        "credits.granted",
        "balance.recovered",
        "balance.low",
        "balance.depleted",
    ]
    sequences = sorted(e.sequence for e in ledger.events(account_id=account).data)
    assert sequences == list(range(1, 6))
    with ledger.engine.connect() as connection:
        last = connection.execute(
            select(schema.accounts.c.last_event_seq).where(schema.accounts.c.account_id == account)
        ).scalar_one()
    assert last == 5


def test_a_rolled_back_write_leaves_no_event(
    ledger: Ledger, account: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The event row is inserted, then the transaction fails: nothing of it remains."""
    ledger.set_alerts(account, [AlertRule("credits", credits=Credits.of(20))])
    before = stored_events(ledger)
    real_save = outbox.queries.save_alerts

    def save_then_fail(*args: Any) -> None:
        real_save(*args)
        raise RuntimeError("the database went away after the events were written")

    monkeypatch.setattr(outbox.queries, "save_alerts", save_then_fail)
    with pytest.raises(RuntimeError):
        ledger.charge(account_id=account, amount=Credits.of(10))
    monkeypatch.undo()
    assert stored_events(ledger) == before
    assert ledger.balance(account).pools["credits"].available == Credits.of(25)
    ledger.charge(account_id=account, amount=Credits.of(10))
    assert types(ledger, account) == ["balance.low"]


def test_a_refused_charge_depletes_the_pool_once_until_it_recovers(
    ledger: Ledger, account: str
) -> None:
    ledger.charge(account_id=account, amount=Credits.of(20))
    for _ in range(3):
        with pytest.raises(InsufficientCreditsError):
            ledger.charge(account_id=account, amount=Credits.of(6))
    assert types(ledger, account) == ["balance.depleted"]
    depleted = ledger.events(account_id=account).data[0].body()["data"]
    assert depleted == {
        "pool": "credits",
        "available": 5,
        "reason": "charge_refused",
        "requested": 6,
    }
    ledger.grant(account_id=account, amount=Credits.of(10), source="top_up")
    assert types(ledger, account)[-1] == "balance.recovered"
    with pytest.raises(InsufficientCreditsError):
        ledger.charge(account_id=account, amount=Credits.of(100))
    assert types(ledger, account)[-1] == "balance.depleted"


def test_a_batch_records_the_refusals_of_its_items(ledger: Ledger, account: str) -> None:
    results = ledger.charge_batch(
        [
            ChargeRequest(account_id=account, amount=Credits.of(20)),
            ChargeRequest(account_id=account, amount=Credits.of(20)),
        ]
    )
    assert [r.error_code for r in results] == [None, "insufficient_credits"]
    assert types(ledger, account) == ["balance.depleted"]


def test_percent_thresholds_follow_the_plan_allowance_and_plans_carry_default_alerts(
    ledger: Ledger,
) -> None:
    ledger.put_plan(
        Plan(
            "pro",
            allowances={"credits": Credits.of(200)},
            alerts=(AlertRule("credits", percent=Decimal("25")),),
        )
    )
    account_id = ledger.open_account("pro", account_id="pro-1").account_id
    alerts = ledger.get_alerts(account_id)
    assert alerts.source == "plan"
    ledger.charge(account_id=account_id, amount=Credits.of(151))
    low = ledger.events(account_id=account_id).data[0].body()
    assert low["type"] == "balance.low"
    assert low["data"]["threshold"] == 50
    assert low["data"]["threshold_percent"] == "25"
    assert ledger.get_alerts(account_id).pools[0].low == [Credits.of(50)]


def test_setting_a_threshold_above_the_balance_fires_at_once_and_again_changes_nothing(
    ledger: Ledger, account: str
) -> None:
    rules = [AlertRule("credits", credits=Credits.of(30))]
    ledger.set_alerts(account, rules)
    ledger.set_alerts(account, rules)
    assert types(ledger, account) == ["balance.low"]
    ledger.set_alerts(account, None)  # back to the plan's (none): the low state goes
    assert ledger.get_alerts(account).pools[0].low == []


def test_alert_rules_are_checked(ledger: Ledger, account: str) -> None:
    with pytest.raises(ValidationError, match="no pool"):
        ledger.set_alerts(account, [AlertRule("contacts", credits=Credits.of(1))])
    with pytest.raises(ValidationError, match="exactly one"):
        AlertRule("credits")
    with pytest.raises(ValidationError, match="percent"):
        AlertRule("credits", percent=Decimal("120"))
    assert str(AlertRule("credits", percent=Decimal("20.0")).percent) == "20"
    assert str(AlertRule("credits", percent=Decimal("12.50")).percent) == "12.5"
    with pytest.raises(ValidationError, match="twice"):
        ledger.set_alerts(account, [AlertRule("credits", credits=Credits.of(1))] * 2)
    assert stored_events(ledger) == []


def test_grants_expiries_renewals_and_notices(ledger: Ledger, clock: ManualClock) -> None:
    ledger.put_plan(Plan("roll", allowances={"credits": Credits.of(25)}, rollover=RolloverPolicy()))
    account_id = ledger.open_account("roll", account_id="roll-1").account_id
    expires = clock.now() + timedelta(days=20)
    grant = ledger.grant(
        account_id=account_id, amount=Credits.of(8), source="bonus", expires_at=expires
    )
    assert types(ledger, account_id) == ["credits.granted"]
    clock.advance(days=14)  # within a week of the bonus's expiry
    ledger.touch(account_id)
    assert types(ledger, account_id)[-1] == "credits.expiring"
    clock.advance(days=20)  # past the expiry and the period's end
    ledger.touch(account_id)
    events = sorted(ledger.events(account_id=account_id).data, key=lambda e: e.sequence)
    by_type = {event.type: event.body()["data"] for event in events}
    assert by_type["credits.expiring"]["grant_id"] == grant.grant_id
    assert by_type["credits.expiring"]["remaining"] == 8
    assert by_type["credits.expired"]["amount"] == 8
    assert by_type["period.renewed"]["allowance"] == 25
    assert by_type["period.renewed"]["rollover"] == 25
    assert by_type["period.renewed"]["period_index"] == 1
    assert ledger.verify().differences == []


def test_runs_pause_and_finish(ledger: Ledger, account: str) -> None:
    ledger.put_rate_card(CARD)
    run = ledger.start_run(account_id=account, rate_card_id="maps")
    with pytest.raises(InsufficientCreditsError):
        ledger.report_results(run_id=run.run_id, account_id=account, rows_kept=10)
    ledger.report_results(run_id=run.run_id, account_id=account, rows_kept=2)
    ledger.finish_run(account_id=account, run_id=run.run_id)
    events = sorted(ledger.events(account_id=account).data, key=lambda e: e.sequence)
    assert [e.type for e in events] == ["run.paused", "balance.depleted", "run.finished"]
    assert events[0].body()["data"]["run_id"] == run.run_id
    assert events[0].body()["data"]["requested"] == 40
    assert events[2].body()["data"]["charged"] == 8


def test_the_event_log_pages_newest_first_and_filters(ledger: Ledger, account: str) -> None:
    for _ in range(5):
        ledger.grant(account_id=account, amount=Credits.of(1), source="bonus")
    first = ledger.events(limit=2)
    assert first.has_more and first.next_cursor is not None
    rest = ledger.events(limit=10, cursor=first.next_cursor)
    sequences = [e.sequence for e in first.data + rest.data]
    assert sequences == [5, 4, 3, 2, 1]
    assert ledger.events(types=["balance.low"]).data == []
    with pytest.raises(ValidationError):
        ledger.events(types=["balance.lowish"])
    with pytest.raises(ValidationError):
        ledger.events(cursor="not-a-cursor")
    event = ledger.get_event(first.data[0].event_id)
    assert event.body()["data"]["amount"] == 1


def test_verify_finds_a_lost_or_unnumbered_event(ledger: Ledger, account: str) -> None:
    ledger.grant(account_id=account, amount=Credits.of(1), source="bonus")
    ledger.grant(account_id=account, amount=Credits.of(1), source="bonus")
    assert ledger.verify().differences == []
    with ledger.engine.begin() as connection:
        connection.execute(delete(schema.events).where(schema.events.c.seq == 1))
    (difference,) = ledger.verify().differences
    assert difference == "acme events: 1 numbered up to 2, the account's last event number is 2"
