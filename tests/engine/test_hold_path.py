"""Holds, captures, releases and run results on the driver: each transfer in one statement
on PostgreSQL, the grants and what a hold holds read once a transaction and kept current,
and every statement but the outbox's run on the driver."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from _driver import POOL, driver_statements, first_column, open_accounts, pool_available
from sqlalchemy import event

from creditbook import (
    Credits,
    FilterRate,
    FunctionRate,
    Ledger,
    ManualClock,
    RateCard,
    TransactionType,
)
from creditbook.domain.alerts import AlertRule
from creditbook.engine.account.lines import Line
from creditbook.store.queries import hot


def test_postgresql_writes_a_transfer_in_one_statement(
    pg_ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL a transfer posted outside a charge's deferred writes (here a hold's and
    its capture's) goes in one statement: its row, its lines, and what they add to grants
    and holds. No executemany (psycopg runs one in pipeline mode, which costs more than a
    statement), and a single row (an account written back) in one execution."""
    open_accounts(pg_ledger, "hot-lines", allowance=100)
    many: list[str] = []
    real = psycopg.Cursor.executemany
    monkeypatch.setattr(
        psycopg.Cursor,
        "executemany",
        lambda cursor, sql, *rest, **named: many.append(sql) or real(cursor, sql, *rest, **named),
    )
    ran = driver_statements(monkeypatch)
    hold = pg_ledger.hold(account_id="hot-lines", amount=Credits.of(3))
    pg_ledger.capture(account_id="hot-lines", hold_id=hold.hold_id, amount=Credits.of(1))
    assert many == []
    written = [sql for sql in ran if "INSERT INTO transfers" in sql]
    assert len(written) == 2
    assert all("INSERT INTO entries" in sql and "UPDATE holds" in sql for sql in written)
    assert "UPDATE grants" in written[0]  # the hold draws on the allowance
    alone = ("INSERT INTO entries", "UPDATE grants SET remaining", "UPDATE holds SET remaining")
    assert [sql for sql in ran if sql.startswith(alone)] == []
    assert set(ran) & set(hot._UPDATE_ACCOUNT.values())  # the hold's expiry, written back
    assert pool_available(pg_ledger, "hot-lines") == Credits.of(97)  # 1 captured, 2 still held
    assert pg_ledger.verify("hot-lines").ok


def test_a_transfer_of_many_lines_is_written_whole(ledger: Ledger) -> None:
    """A hold drawn on nine grants has eighteen lines (each grant's, and the hold's for each
    grant): more parameters than psycopg converts from its cache in one statement (SQLite
    writes them by executemany; PostgreSQL binds what the lines share once), and all of
    them are written."""
    open_accounts(ledger, "hot-wide", allowance=0)
    for _ in range(9):
        ledger.grant(account_id="hot-wide", amount=Credits.of(1))
    hold = ledger.hold(account_id="hot-wide", amount=Credits.of(9))
    assert hold.amount == Credits.of(9)
    lines = first_column(
        ledger,
        "SELECT count(*) FROM entries WHERE account_id = :a AND seq ="
        " (SELECT max(seq) FROM transfers WHERE account_id = :a)",
        a="hot-wide",
    )
    assert lines == [18]
    assert pool_available(ledger, "hot-wide") == Credits.of(0)
    # Nine lines add to the one hold: each is counted, not only one of them.
    assert ledger.get_hold("hot-wide", hold.hold_id).remaining == Credits.of(9)
    ledger.release(account_id="hot-wide", hold_id=hold.hold_id)
    assert pool_available(ledger, "hot-wide") == Credits.of(9)
    assert ledger.verify().ok


def test_a_hold_draws_on_the_grants_its_lock_read(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hold's lock reads the account's open grants, as a charge's does: no statement reads
    them again before the hold is written."""
    open_accounts(ledger, "hot-hold")
    ledger.hold(account_id="hot-hold", amount=Credits.of(1))
    ran = driver_statements(monkeypatch)
    ledger.hold(account_id="hot-hold", amount=Credits.of(2))
    written = next(index for index, sql in enumerate(ran) if "INSERT INTO transfers" in sql)
    assert [sql for sql in ran[:written] if sql.startswith("SELECT g.grant_id")] == []
    assert pool_available(ledger, "hot-hold") == Credits.of(97)


def test_a_keyed_write_finds_its_stored_answer_with_the_lock(
    pg_ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL the lock of a keyed write (here a hold) reads the answer stored under
    its key: a replay runs no statement of its own to look it up."""
    open_accounts(pg_ledger, "hot-hold-key")
    first = pg_ledger.hold(account_id="hot-hold-key", amount=Credits.of(2), idempotency_key="h1")
    ran = driver_statements(monkeypatch)

    def record(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        ran.append(statement)

    event.listen(pg_ledger.engine, "before_cursor_execute", record)
    try:
        again = pg_ledger.hold(
            account_id="hot-hold-key", amount=Credits.of(2), idempotency_key="h1"
        )
    finally:
        event.remove(pg_ledger.engine, "before_cursor_execute", record)
    assert again.replayed and again.hold_id == first.hold_id
    [lock] = [sql for sql in ran if sql.startswith("WITH l AS")]
    assert "FROM idempotency" in lock
    assert [sql for sql in ran if "idempotency" in sql and sql != lock] == []
    assert pool_available(pg_ledger, "hot-hold-key") == Credits.of(98)


def _sqlalchemy_statements(ledger: Ledger) -> list[str]:
    """The statements run through SQLAlchemy on the ledger's engine from now on (in the
    list returned, until the test ends)."""
    ran: list[str] = []

    def record(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        ran.append(statement)

    event.listen(ledger.engine, "before_cursor_execute", record)
    return ran


def test_captures_releases_and_run_results_run_on_the_driver(ledger: Ledger) -> None:
    """A hold, its capture and its release, and a run's results and its finish, run every
    statement on the driver: none goes through SQLAlchemy but the outbox's, which writes
    the event of the run's finish."""
    open_accounts(ledger, "hot-driver")
    dedupe = FilterRate("dup", "Duplicates", Credits.of(0))
    ledger.put_rate_card(RateCard("maps", Credits.of(1), filters={"dup": dedupe}))
    run = ledger.start_run(account_id="hot-driver", rate_card_id="maps", hold=Credits.of(10))
    ran = _sqlalchemy_statements(ledger)
    captured = ledger.hold(account_id="hot-driver", amount=Credits.of(5))
    ledger.capture(
        account_id="hot-driver", hold_id=captured.hold_id, amount=Credits.of(2), release_rest=True
    )
    released = ledger.hold(account_id="hot-driver", amount=Credits.of(3))
    ledger.release(account_id="hot-driver", hold_id=released.hold_id)
    ledger.report_results(
        account_id="hot-driver", run_id=run.run_id, rows_kept=3, rows_discarded={"dup": 1}
    )
    assert ran == []
    finished = ledger.finish_run(account_id="hot-driver", run_id=run.run_id)
    assert [sql.split(" (")[0].split(" SET")[0] for sql in ran] == [
        "INSERT INTO events",
        "UPDATE accounts",
    ]
    assert (finished.status, finished.rows_kept, finished.rows_discarded) == (
        "finished",
        3,
        {"dup": 1},
    )
    assert (finished.charged, pool_available(ledger, "hot-driver")) == (
        Credits.of(3),
        Credits.of(95),
    )
    assert ledger.get_hold("hot-driver", captured.hold_id).status == "captured"
    assert ledger.get_hold("hot-driver", run.hold_id).remaining == Credits.of(0)
    assert ledger.get_run("hot-driver", run.run_id) == finished
    assert ledger.verify().ok


def test_a_release_answers_the_hold_as_stored(ledger: Ledger) -> None:
    """A release answers the hold from the row it read before releasing it: what it answers
    is what the ledger then shows."""
    open_accounts(ledger, "hot-release")
    hold = ledger.hold(account_id="hot-release", amount=Credits.of(4), timeout_s=600)
    ledger.capture(account_id="hot-release", hold_id=hold.hold_id, amount=Credits.of(1))
    released = ledger.release(account_id="hot-release", hold_id=hold.hold_id)
    assert released == ledger.get_hold("hot-release", hold.hold_id)
    assert (released.status, released.amount, released.remaining) == (
        "released",
        Credits.of(4),
        Credits.of(0),
    )
    assert pool_available(ledger, "hot-release") == Credits.of(99)


def test_a_release_expires_what_came_from_a_grant_that_closed(
    ledger: Ledger, clock: ManualClock
) -> None:
    """What a hold took from a grant that has since expired expires on release, in its own
    EXPIRY transaction; the rest goes back to its grants in a RELEASE."""
    open_accounts(ledger, "hot-closed")
    expires_at = clock.now() + timedelta(minutes=1)
    ledger.grant(account_id="hot-closed", amount=Credits.of(3), expires_at=expires_at)
    hold = ledger.hold(account_id="hot-closed", amount=Credits.of(5), timeout_s=3600)
    clock.advance(minutes=2)
    ledger.release(account_id="hot-closed", hold_id=hold.hold_id)
    history = ledger.transactions("hot-closed", types=[TransactionType.EXPIRY]).data
    assert [(t.description, t.amount) for t in history] == [
        (f"Held credits expired (hold {hold.hold_id} released)", Credits.of(-3))
    ]
    assert pool_available(ledger, "hot-closed") == Credits.of(100)
    assert ledger.verify().ok


def test_holds_captures_and_releases_read_the_grants_once(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hold, a capture and a release draw on and give back to the grants their lock read,
    kept current by each transfer: no statement reads the grants again, and the alerts
    weigh what each write left (low at 25, recovered at 95, low again at 15)."""
    open_accounts(ledger, "hot-alerts")
    ledger.set_alerts("hot-alerts", [AlertRule(POOL, credits=Credits.of(30))])
    ran = driver_statements(monkeypatch)
    hold = ledger.hold(account_id="hot-alerts", amount=Credits.of(75))
    ledger.capture(
        account_id="hot-alerts", hold_id=hold.hold_id, amount=Credits.of(5), release_rest=True
    )
    again = ledger.hold(account_id="hot-alerts", amount=Credits.of(80))
    assert [sql for sql in ran if sql.startswith("SELECT g.grant_id")] == []
    events = sorted(ledger.events(account_id="hot-alerts").data, key=lambda e: e.sequence)
    assert [(e.type, e.body()["data"]["available"]) for e in events] == [
        ("balance.low", 25),
        ("balance.recovered", 95),
        ("balance.low", 15),
    ]
    ledger.release(account_id="hot-alerts", hold_id=again.hold_id)
    assert [sql for sql in ran if sql.startswith("SELECT g.grant_id")] == []
    assert pool_available(ledger, "hot-alerts") == Credits.of(95)
    assert ledger.verify().ok


def _remaining(grants: Sequence[Any]) -> list[Credits]:
    """What the grants (but the overdraft grant) have left."""
    return [g.remaining for g in grants if g.source.value != "overdraft"]


def test_a_transfer_to_a_grant_the_lock_did_not_read_drops_what_it_read(
    ledger: Ledger, clock: ManualClock
) -> None:
    """The grants a lock read stay current only through transfers to those grants: one that
    credits a grant not yet in effect (which the lock did not read) drops them, and the next
    read goes to the database."""
    open_accounts(ledger, "hot-later")
    later = ledger.grant(
        account_id="hot-later",
        amount=Credits.of(5),
        effective_at=clock.now() + timedelta(days=1),
    )
    with ledger.engine.begin() as connection:
        tx = ledger._context.lock(connection, "hot-later", clock.now(), grants=True)
        [allowance] = [g for g in tx.open_grants(POOL) if g.source.value == "allowance"]
        tx.post(
            TransactionType.ADJUSTMENT,
            POOL,
            [Line("grant", -1_000, grant_id=allowance.grant_id), Line("issued", 1_000)],
            description="kept current",
        )
        assert tx.prefetched is not None
        assert _remaining(tx.open_grants(POOL)) == [Credits.of(99)]
        tx.post(
            TransactionType.ADJUSTMENT,
            POOL,
            [Line("grant", -1_000, grant_id=later.grant_id), Line("issued", 1_000)],
            description="dropped",
        )
        assert tx.prefetched is None
        assert _remaining(tx.open_grants(POOL)) == [Credits.of(99)]
        connection.rollback()


def test_a_batch_of_results_reads_what_its_hold_holds_once(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Results check the whole batch against the run's hold, then bill it line by line:
    what the hold holds is read once and kept current by each line's transfer. The hold
    pays the first 8 credits, the grants the last 2."""
    open_accounts(ledger, "hot-results")
    ledger.put_rate_card(
        RateCard("maps", Credits.of(1), functions={"phone": FunctionRate("phone", Credits.of(2))})
    )
    run = ledger.start_run(account_id="hot-results", rate_card_id="maps", hold=Credits.of(8))
    ran = driver_statements(monkeypatch)
    billed = ledger.report_results(
        account_id="hot-results", run_id=run.run_id, rows_kept=4, functions={"phone": (3, 3)}
    )
    assert len([sql for sql in ran if sql.startswith("SELECT e.grant_id")]) == 1
    assert billed.charged == Credits.of(10)
    assert ledger.get_hold("hot-results", run.hold_id).remaining == Credits.of(0)
    assert pool_available(ledger, "hot-results") == Credits.of(90)
    assert ledger.verify().ok
