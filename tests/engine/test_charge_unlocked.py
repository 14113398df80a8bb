"""A charge alone on PostgreSQL: read without a lock, then written in one statement that
applies only if the account row is still the version read (each statement its own
transaction). When anything changed the account in between, nothing is written and the
charge takes the lock instead."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from creditbook import Credits, InsufficientCreditsError, Ledger, ManualClock, Plan
from creditbook.domain.alerts import AlertRule
from creditbook.domain.grants import TransactionType
from creditbook.store.database import make_engine
from creditbook.store.queries import hot

POOL = "credits"


@pytest.fixture
def other_process(pg_ledger: Ledger, postgres_database_url: str) -> Iterator[Ledger]:
    """Another ledger on the same database, with connections of its own (as another
    process would have)."""
    other = Ledger(make_engine(postgres_database_url), pg_ledger.clock)
    yield other
    other.close()


def _open(ledger: Ledger, account_id: str, allowance: int = 100) -> None:
    ledger.put_plan(Plan("unlocked", allowances={POOL: Credits.of(allowance)}))
    ledger.open_account("unlocked", account_id=account_id)


def _available(ledger: Ledger, account_id: str) -> Credits:
    return ledger.balance(account_id).pools[POOL].available


def _record_statements(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool]]:
    """Each statement the hot path runs from now on, and whether it ran in autocommit."""
    ran: list[tuple[str, bool]] = []
    real = hot._run

    def recording(connection: Any, sql: str, *rest: Any) -> Any:
        ran.append((sql, hot._driver(connection).autocommit))
        return real(connection, sql, *rest)

    monkeypatch.setattr(hot, "_run", recording)
    return ran


def _after_the_read(monkeypatch: pytest.MonkeyPatch, meanwhile: Callable[[Any], None]) -> None:
    """Run `meanwhile` (with the charging connection) right after the next unlocked read."""
    real = hot.peek
    done: list[bool] = []

    def peek(connection: Any, *args: Any, **kwargs: Any) -> hot.Locked | None:
        found = real(connection, *args, **kwargs)
        if not done:
            done.append(True)
            meanwhile(connection)
        return found

    monkeypatch.setattr(hot, "peek", peek)


def test_a_charge_alone_is_two_statements_each_committed_alone(
    pg_ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No lock, no BEGIN and no COMMIT: the read and the guarded write, both in autocommit,
    and the connection is back in transaction mode afterwards."""
    _open(pg_ledger, "alone")
    pg_ledger.charge(account_id="alone", amount=Credits.of(1))  # warms the plan cache
    ran = _record_statements(monkeypatch)
    used: list[Any] = []
    real_peek = hot.peek
    monkeypatch.setattr(
        hot,
        "peek",
        lambda connection, *rest: (
            used.append(hot._driver(connection)) or real_peek(connection, *rest)
        ),
    )
    charged = pg_ledger.charge(account_id="alone", amount=Credits.of(2))
    assert [(sql.split(" (")[0], alone) for sql, alone in ran] == [
        ("WITH l AS", True),
        ("WITH a AS", True),
    ]
    assert "FOR UPDATE" not in ran[0][0] and "UPDATE accounts" not in ran[0][0]
    assert charged.amount == Credits.of(2)
    assert _available(pg_ledger, "alone") == Credits.of(97)
    [driver] = used  # the connection the charge ran on, kept by the group writer
    assert not driver.autocommit
    assert not pg_ledger.verify("alone").differences


def test_a_refusal_is_answered_from_the_read_alone(
    pg_ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    _open(pg_ledger, "refused", allowance=1)
    ran = _record_statements(monkeypatch)
    with pytest.raises(InsufficientCreditsError):
        pg_ledger.charge(account_id="refused", amount=Credits.of(2))
    assert ran[0][0].startswith("WITH l AS (SELECT")
    assert not any(sql.startswith("WITH a AS") for sql, _ in ran)  # no charge written
    assert _available(pg_ledger, "refused") == Credits.of(1)


@pytest.mark.parametrize("change", ["a charge", "a new name"])
def test_an_account_changed_after_the_read_is_charged_under_the_lock(
    pg_ledger: Ledger,
    other_process: Ledger,
    monkeypatch: pytest.MonkeyPatch,
    change: str,
) -> None:
    """Another process commits on the account between the read and the write: the guarded
    write writes nothing, and the charge runs again under the lock, once. A change that
    takes no transfer number (a rename) is caught too: the guard is the row version."""
    account = f"changed-{change.replace(' ', '-')}"
    _open(pg_ledger, account)

    def meanwhile(_: Any) -> None:
        if change == "a charge":
            other_process.charge(account_id=account, amount=Credits.of(5))
        else:
            other_process.update_account(account, name="renamed")

    _after_the_read(monkeypatch, meanwhile)
    locks: list[int] = []
    real_lock = hot.lock
    monkeypatch.setattr(
        hot, "lock", lambda *args, **kwargs: locks.append(1) or real_lock(*args, **kwargs)
    )
    charged = pg_ledger.charge(account_id=account, amount=Credits.of(3))
    assert charged.amount == Credits.of(3)
    assert locks == [1]  # the charge took the lock after its guarded write found a change
    expected = 100 - 3 - (5 if change == "a charge" else 0)
    assert _available(pg_ledger, account) == Credits.of(expected)
    history = pg_ledger.transactions(account)
    charges = [item for item in history.data if item.type == TransactionType.DEDUCTION]
    assert len(charges) == (2 if change == "a charge" else 1)
    assert not pg_ledger.verify(account).differences


def test_a_guarded_write_whose_connection_dropped_is_not_run_again(
    pg_ledger: Ledger, postgres_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The guarded write commits by itself: when its connection drops, whether it committed
    is unknown, so the error reaches the caller rather than a second try (a caller with an
    idempotency key retries safely). A drop before the read is retried as before
    (`test_a_dropped_connection_is_retried_once` in test_hot_path.py)."""
    _open(pg_ledger, "dropped")
    admin = make_engine(postgres_database_url)

    def drop(connection: Any) -> None:
        pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        with admin.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            other.commit()

    _after_the_read(monkeypatch, drop)
    reads: list[int] = []
    real_peek = hot.peek
    monkeypatch.setattr(
        hot, "peek", lambda *args, **kwargs: reads.append(1) or real_peek(*args, **kwargs)
    )
    try:
        with pytest.raises(DBAPIError) as failed:
            pg_ledger.charge(account_id="dropped", amount=Credits.of(4))
        assert failed.value.connection_invalidated
        assert hot.outcome_unknown(failed.value)
        assert reads == [1]  # not run again
        assert _available(pg_ledger, "dropped") == Credits.of(100)  # it never reached the server
        assert pg_ledger.charge(account_id="dropped", amount=Credits.of(4)).amount == Credits.of(4)
        assert _available(pg_ledger, "dropped") == Credits.of(96)
    finally:
        admin.dispose()


def test_a_charge_grouped_with_another_write_commits_with_the_group(
    pg_ledger: Ledger,
) -> None:
    """Only a charge that is its transaction's one write commits by itself. Here a charge
    and another write share a group (the charge first, on a connection where nothing ran
    yet) and the group's commit fails (a deferred unique constraint): the group runs
    again, then each write alone. The charge must ride on the group's transaction each
    time, and be made exactly once."""
    _open(pg_ledger, "grouped")
    with pg_ledger.engine.begin() as connection:
        connection.execute(
            text(
                "CREATE TABLE group_probe (id int, CONSTRAINT group_probe_once UNIQUE (id)"
                " DEFERRABLE INITIALLY DEFERRED)"
            )
        )
        connection.execute(text("INSERT INTO group_probe VALUES (1)"))
    busy = Ledger(pg_ledger.engine, pg_ledger.clock, group_max_size=2, group_max_wait_s=10.0)
    writer = busy._context.writer
    assert writer is not None

    def insert(connection: Any) -> str:
        connection.execute(text("INSERT INTO group_probe VALUES (1)"))
        return "inserted"

    outcomes: dict[str, Any] = {}

    def charge() -> None:
        outcomes["charge"] = busy.charge(account_id="grouped", amount=Credits.of(1))

    def other() -> None:
        try:
            busy._context.run(insert)
        except DBAPIError as error:
            outcomes["insert"] = error

    try:
        charging = threading.Thread(target=charge)
        charging.start()
        deadline = time.monotonic() + 10
        while not writer._queue and time.monotonic() < deadline:
            time.sleep(0.001)
        assert writer._queue  # the charge leads, waiting for the group to fill
        inserting = threading.Thread(target=other)
        inserting.start()
        charging.join(30)
        inserting.join(30)
        assert outcomes["charge"].amount == Credits.of(1)
        assert isinstance(outcomes["insert"], DBAPIError)
        assert writer.stats.fallbacks == 1  # the group failed, then each write ran alone
        assert _available(pg_ledger, "grouped") == Credits.of(99)
        assert not pg_ledger.verify("grouped").differences
    finally:
        busy.close()
        with pg_ledger.engine.begin() as connection:
            connection.execute(text("DROP TABLE group_probe"))


def test_statements_run_alone_only_on_a_connection_where_nothing_began(
    pg_ledger: Ledger,
) -> None:
    with pg_ledger.engine.connect() as connection:
        with hot.each_on_its_own(connection) as alone:
            assert alone and hot._driver(connection).autocommit
        assert not hot._driver(connection).autocommit
        connection.execute(text("SELECT 1"))  # a transaction has begun
        with hot.each_on_its_own(connection) as alone:
            assert not alone and not hot._driver(connection).autocommit
        connection.rollback()


def test_a_connection_left_mid_statement_in_autocommit_is_never_used_again(
    pg_ledger: Ledger,
) -> None:
    """Interrupted while a statement ran, the connection cannot be put back in transaction
    mode: it is invalidated, so that no pool hands it out still committing each statement."""
    with pg_ledger.engine.connect() as connection:
        with pytest.raises(KeyboardInterrupt), hot.each_on_its_own(connection):
            hot._driver(connection).pgconn.send_query(b"SELECT pg_sleep(0.2)")
            raise KeyboardInterrupt
        assert connection.invalidated


def test_the_last_credits_go_to_exactly_that_many_unlocked_charges(
    postgres_database_url: str, clock: ManualClock
) -> None:
    """Two ledgers (as two processes), group commit off so that every charge goes alone
    and unlocked, 24 threads racing for an account's last 10 credits: exactly 10 charges
    are paid, each once, and every other is refused."""
    ledgers = [
        Ledger(make_engine(postgres_database_url, pool_size=12), clock, group_commit=False)
        for _ in range(2)
    ]
    try:
        _open(ledgers[0], "last-credits", allowance=10)
        start = threading.Barrier(24)
        paid: list[str] = []
        refused: list[str] = []

        def charger(ledger: Ledger) -> None:
            start.wait()
            for _ in range(3):
                try:
                    paid.append(
                        ledger.charge(account_id="last-credits", amount=Credits.of(1)).charge_id
                    )
                except InsufficientCreditsError as error:
                    refused.append(error.code)

        threads = [threading.Thread(target=charger, args=(ledgers[i % 2],)) for i in range(24)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert len(paid) == len(set(paid)) == 10
        assert len(refused) == 24 * 3 - 10
        assert _available(ledgers[0], "last-credits") == Credits.of(0)
        history = ledgers[0].transactions("last-credits", limit=100)
        assert len([t for t in history.data if t.type == TransactionType.DEDUCTION]) == 10
        assert not ledgers[0].verify("last-credits").differences
    finally:
        for ledger in ledgers:
            ledger.close()


def test_a_charge_that_crosses_an_alert_threshold_is_written_under_the_lock(
    pg_ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An event must be written with its charge: the unlocked write carries none, so the
    charge that crosses `balance.low` writes nothing unlocked and runs under the lock."""
    _open(pg_ledger, "alerted", allowance=25)
    pg_ledger.set_alerts("alerted", [AlertRule(POOL, credits=Credits.of(10))])
    pg_ledger.charge(account_id="alerted", amount=Credits.of(5))  # above the threshold
    ran = _record_statements(monkeypatch)
    pg_ledger.charge(account_id="alerted", amount=Credits.of(12))  # crosses it
    shapes = [sql.split(" (")[0] for sql, _ in ran]
    assert shapes[0] == "WITH l AS" and ran[0][1]  # the unlocked read
    assert "WITH a AS" not in shapes  # no unlocked write
    assert any("UPDATE accounts SET last_seq = accounts.last_seq + " in sql for sql, _ in ran)
    events = pg_ledger.events(account_id="alerted").data
    assert [event.type for event in events] == ["balance.low"]
    assert _available(pg_ledger, "alerted") == Credits.of(8)


def test_one_key_used_at_once_by_unlocked_charges_charges_once(
    postgres_database_url: str, clock: ManualClock
) -> None:
    """Two ledgers, group commit off, 16 threads charging under one idempotency key: one
    charge is made, and every other caller gets it back as a replay."""
    ledgers = [
        Ledger(make_engine(postgres_database_url, pool_size=8), clock, group_commit=False)
        for _ in range(2)
    ]
    try:
        _open(ledgers[0], "one-key")
        start = threading.Barrier(16)
        answers: list[tuple[str, bool]] = []

        def charger(ledger: Ledger) -> None:
            start.wait()
            charged = ledger.charge(
                account_id="one-key", amount=Credits.of(3), idempotency_key="order-1"
            )
            answers.append((charged.charge_id, charged.replayed))

        threads = [threading.Thread(target=charger, args=(ledgers[i % 2],)) for i in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert len(answers) == 16
        assert len({charge_id for charge_id, _ in answers}) == 1
        assert sorted(replayed for _, replayed in answers) == [False] + [True] * 15
        assert _available(ledgers[0], "one-key") == Credits.of(97)
        assert not ledgers[0].verify("one-key").differences
    finally:
        for ledger in ledgers:
            ledger.close()
