"""The driver-level hot path: the lock that reads the account's grants in the same statement,
the set-based batch lock, and the retry of a transaction whose connection dropped."""

from __future__ import annotations

import itertools
import re
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from _driver import POOL, driver_statements, first_column, open_accounts, pool_available
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from creditbook import (
    ChargeRequest,
    Credits,
    Ledger,
    ManualClock,
    RateCard,
)
from creditbook.store.database import make_engine
from creditbook.store.queries import deferred, hot, ledger_state
from creditbook.store.queries import idempotency as idempotency_queries


def test_lock_reads_the_grants_of_every_account(ledger: Ledger) -> None:
    open_accounts(ledger, "hot-a", "hot-b")
    with ledger.engine.begin() as connection:
        locked = hot.lock(
            connection, ["hot-b", "hot-a", "missing"], ledger.clock.now(), grants=True
        )
    assert sorted(locked) == ["hot-a", "hot-b"]
    for found in locked.values():
        assert found.grants is not None
        assert [grant.remaining for grant in found.grants[POOL] if grant.source == "allowance"] == [
            Credits.of(100).millicredits
        ]


def _locked_after_a_wait(
    ledger: Ledger,
    account_id: str,
    keys: Sequence[str] = (),
    meanwhile: Callable[[Connection], object] = lambda connection: None,
) -> hot.Locked:
    """What a lock of `account_id` read when it had to wait for another transaction's lock,
    which ran `meanwhile` before it committed."""
    now = ledger.clock.now()
    seen: dict[str, hot.Locked] = {}
    with ledger.engine.connect() as first:
        first.begin()
        hot.lock(first, [account_id], now, grants=True)

        def second() -> None:
            with ledger.engine.begin() as connection:
                seen.update(hot.lock(connection, [account_id], now, grants=True, keys=keys))

        waiter = threading.Thread(target=second)
        waiter.start()
        time.sleep(0.5)  # the second lock is now waiting on the first
        assert waiter.is_alive()
        meanwhile(first)
        first.commit()
    waiter.join(10)
    return seen[account_id]


def test_grants_read_before_a_lock_wait_are_read_again(pg_ledger: Ledger) -> None:
    """The statement's snapshot predates its wait for the lock: grants another transaction
    changed meanwhile must not be used (PostgreSQL; SQLite's writers never overlap)."""
    open_accounts(pg_ledger, "hot-wait")
    assert _locked_after_a_wait(pg_ledger, "hot-wait").grants is None  # read them again


def test_the_lock_reads_stored_answers_unless_it_waited(pg_ledger: Ledger) -> None:
    """Answers stored under idempotency keys come with the lock, but (as grants) only when
    no other transaction wrote the account between the statement's snapshot and its lock."""
    open_accounts(pg_ledger, "hot-keys")
    now = pg_ledger.clock.now()
    with pg_ledger.engine.begin() as connection:
        hot.lock(connection, ["hot-keys"], now, grants=True)
        idempotency_queries.store(
            connection, "hot-keys", "k-stored", "charge", "hash-1", {"a": 1}, now
        )
    with pg_ledger.engine.begin() as connection:
        found = hot.lock(connection, ["hot-keys"], now, grants=True, keys=["k-stored", "k-new"])
    stored = found["hot-keys"].stored
    assert stored is not None and set(stored) == {"k-stored"}
    assert (stored["k-stored"].request_hash, stored["k-stored"].response) == ("hash-1", {"a": 1})

    def store_k2(first: Connection) -> None:
        idempotency_queries.store(first, "hot-keys", "k-2", "charge", "hash-2", {"b": 2}, now)

    waited = _locked_after_a_wait(pg_ledger, "hot-keys", ["k-2"], store_k2)
    assert waited.stored is None  # the caller looks the keys up itself


def test_a_keyed_charge_costs_no_statement_more_on_postgresql(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stored answer comes with the lock and the new one goes with the flush: on
    PostgreSQL a keyed charge runs the statements of a plain one (SQLite, whose statements
    cost no round trip, looks the keys up and stores the answer in statements of their own)."""
    open_accounts(ledger, "hot-keyed")
    ledger.charge(account_id="hot-keyed", amount=Credits.of(1), idempotency_key="warm-up")
    ran: list[str] = []
    for name in ("_run", "executemany"):
        real = getattr(hot, name)
        monkeypatch.setattr(
            hot, name, lambda c, sql, *rest, real=real: ran.append(sql) or real(c, sql, *rest)
        )
    ledger.charge(account_id="hot-keyed", amount=Credits.of(1))
    plain = len(ran)
    ran.clear()
    ledger.charge(account_id="hot-keyed", amount=Credits.of(1), idempotency_key="k-1")
    keyed = len(ran)
    ran.clear()
    replay = ledger.charge(account_id="hot-keyed", amount=Credits.of(1), idempotency_key="k-1")
    assert replay.replayed
    postgres = ledger.engine.dialect.name == "postgresql"
    assert keyed - plain == (0 if postgres else 2)
    assert len(ran) == (1 if postgres else 4)  # the lock (SQLite: BEGIN, lock, keys, grants)
    assert pool_available(ledger, "hot-keyed") == Credits.of(97)


def test_a_key_used_twice_in_one_batch_is_answered_by_its_first_use(ledger: Ledger) -> None:
    open_accounts(ledger, "hot-twice")
    items = [
        ChargeRequest(account_id="hot-twice", amount=Credits.of(2), idempotency_key="k-a"),
        ChargeRequest(account_id="hot-twice", amount=Credits.of(2), idempotency_key="k-a"),
        ChargeRequest(account_id="hot-twice", amount=Credits.of(3), idempotency_key="k-a"),
        ChargeRequest(account_id="hot-twice", amount=Credits.of(1), idempotency_key="k-b"),
    ]
    first, again, changed, other = ledger.charge_batch(items)
    assert first.charge is not None and again.charge is not None and other.charge is not None
    assert (again.charge.charge_id, again.charge.replayed) == (first.charge.charge_id, True)
    assert changed.error_code == "idempotency_key_conflict"
    assert pool_available(ledger, "hot-twice") == Credits.of(97)
    # Stored with the batch: a later charge under the key is answered from it.
    later = ledger.charge(account_id="hot-twice", amount=Credits.of(2), idempotency_key="k-a")
    assert (later.charge_id, later.replayed) == (first.charge.charge_id, True)
    assert not ledger.verify().differences


def test_charges_after_a_lock_wait_never_overspend(pg_ledger: Ledger) -> None:
    open_accounts(pg_ledger, "hot-race", allowance=20)
    refused = []

    def charger() -> None:
        for _ in range(10):
            try:
                pg_ledger.charge(account_id="hot-race", amount=Credits.of(1))
            except Exception as error:
                refused.append(type(error).__name__)

    threads = [threading.Thread(target=charger) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert set(refused) == {"InsufficientCreditsError"}
    assert len(refused) == 20
    assert pool_available(pg_ledger, "hot-race") == Credits.of(0)


def test_a_dropped_connection_is_retried_once(
    pg_ledger: Ledger, postgres_database_url: str
) -> None:
    """No ping before each use: a pooled connection the server dropped fails the first
    statement, and the whole transaction runs again on a new connection."""
    open_accounts(pg_ledger, "hot-drop")
    pg_ledger.charge(account_id="hot-drop", amount=Credits.of(1))  # leaves a pooled connection
    admin_engine = make_engine(postgres_database_url)  # not the ledger's pool
    with admin_engine.connect() as admin:
        killed = admin.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).all()
        admin.commit()
    admin_engine.dispose()
    assert killed  # the ledger's pooled connection
    charged = pg_ledger.charge(account_id="hot-drop", amount=Credits.of(1))
    assert charged.amount == Credits.of(1)
    assert pool_available(pg_ledger, "hot-drop") == Credits.of(98)


def test_a_batch_over_many_accounts_charges_each_once(ledger: Ledger) -> None:
    accounts = [f"hot-batch-{index:03}" for index in range(30)]
    open_accounts(ledger, *accounts, allowance=5)
    items = [ChargeRequest(account_id=a, amount=Credits.of(2)) for a in reversed(accounts)]
    items.append(ChargeRequest(account_id="hot-missing", amount=Credits.of(1)))
    items.append(ChargeRequest(account_id=accounts[0], amount=Credits.of(4)))
    results = ledger.charge_batch(items)
    assert [r.error_code for r in results[:30]] == [None] * 30
    assert results[30].error_code == "not_found"
    assert results[31].error_code == "insufficient_credits"
    assert {pool_available(ledger, a) for a in accounts} == {Credits.of(3)}
    assert not ledger.verify().differences


def test_a_batch_sends_a_value_shared_by_every_row_once_and_writes_it_on_each(
    ledger: Ledger,
) -> None:
    """On PostgreSQL a column with one value on every row of a batch (here the module, the
    description, the amount, the empty resource) goes to the database once; every row must
    still get it, beside the columns whose values differ (the account, the service, the
    user)."""
    accounts = ["hot-fold-a", "hot-fold-b", "hot-fold-c"]
    open_accounts(ledger, *accounts)
    items = [
        ChargeRequest(
            account_id=accounts[index % 3],
            amount=Credits.of(2),
            module="scraper",
            service=f"service-{index % 2}",
            user_id=f"user-{index}",
            description="same for all",
        )
        for index in range(6)
    ]
    results = ledger.charge_batch(items)
    assert [result.error_code for result in results] == [None] * 6
    with ledger.engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT account_id, service, user_id, module, description, amount, resource_id,"
                " created_at FROM transfers WHERE type = 'DEDUCTION'"
            )
        ).all()
    assert sorted((row.account_id, row.service, row.user_id) for row in rows) == sorted(
        (accounts[n % 3], f"service-{n % 2}", f"user-{n}") for n in range(6)
    )
    assert {(row.module, row.description, row.amount, row.resource_id) for row in rows} == {
        ("scraper", "same for all", -2000, "")
    }
    assert len({row.created_at for row in rows}) == 1
    assert {pool_available(ledger, account) for account in accounts} == {Credits.of(96)}
    # Every row alike: the transfers, their entries and the rollups all go as single values.
    alike = [ChargeRequest(account_id="hot-fold-a", amount=Credits.of(1)) for _ in range(3)]
    assert [result.error_code for result in ledger.charge_batch(alike)] == [None] * 3
    assert pool_available(ledger, "hot-fold-a") == Credits.of(93)
    assert len(ledger.transactions("hot-fold-a", types=["DEDUCTION"]).data) == 5
    assert not ledger.verify().differences  # rollups included


def test_a_batch_writes_text_and_attribution_exactly(ledger: Ledger) -> None:
    """A batch's rows reach the database in one statement (an array per column, in binary,
    on PostgreSQL): quotes, backslashes, control characters and characters beyond ASCII
    come back as they were sent."""
    accounts = ["hot-text-a", "hot-text-b", "hot-text-c"]
    open_accounts(ledger, *accounts)
    descriptions = ['quote " and \\ backslash', "tab\tnew\nline", "émoji 🚀 and ümlaut"]
    items = [
        ChargeRequest(
            account_id=account,
            amount=Credits.of(index + 1),
            description=description,
            user_id=f"user-{index}",
        )
        for index, (account, description) in enumerate(zip(accounts, descriptions, strict=True))
    ]
    results = ledger.charge_batch(items)
    assert [(result.error_code, result.error_message) for result in results] == [(None, None)] * 3
    for index, (account, description) in enumerate(zip(accounts, descriptions, strict=True)):
        [charge] = ledger.transactions(account, types=["DEDUCTION"]).data
        assert (charge.description, charge.amount) == (description, -Credits.of(index + 1))
        assert charge.user_id == f"user-{index}"
    assert not ledger.verify().differences


def test_the_flush_statement_stays_within_psycopgs_conversion_cache() -> None:
    """psycopg remembers how it converted a statement only up to 4,096 characters and 50
    parameters; beyond either it parses the statement's text again on every execution."""
    # Every column an array, answers to idempotency keys included.
    longest = ledger_state.postgres_flush(frozenset(), True)
    assert len(longest.encode()) <= 4096
    assert len(set(re.findall(r"%\((\w+)\)", longest))) <= 50
    shared = frozenset({"t_pool", "t_type", "e_hold_id", "r_day"})
    assert "%(t_pool)b::varchar," in ledger_state.postgres_flush(shared)
    assert "%(t_pool)b::varchar[]" not in ledger_state.postgres_flush(shared)


def test_the_charge_statements_are_planned_once(
    postgres_database_url: str, clock: ManualClock
) -> None:
    """PostgreSQL plans a prepared statement again on every execution while its generic
    plan looks dearer than the plans made for the values at hand; for the lock of one
    account that planning took twice as long as running it. After five such plans it
    must settle on the generic one, for every statement a charge, a keyed charge, a hold,
    a capture, a release and a run send, once the tables have statistics (as autovacuum gathers).
    With the lock's account ids in an array, a thousand accounts were enough for
    PostgreSQL to plan it on every execution; three hundred were not."""
    ledger = Ledger(make_engine(postgres_database_url, pool_size=1), clock)
    accounts = [f"plan-{index}" for index in range(1000)]
    try:
        open_accounts(ledger, *accounts, allowance=1_000)
        ledger.put_rate_card(RateCard("maps", Credits.of(1)))
        with ledger.engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")
        for index in range(12):
            account = accounts[index]
            ledger.charge(account_id=account, amount=Credits.of(1))
            ledger.charge(account_id=account, amount=Credits.of(1), idempotency_key=f"k{index}")
            hold = ledger.hold(account_id=account, amount=Credits.of(2))
            ledger.capture(account_id=account, hold_id=hold.hold_id, amount=Credits.of(1))
            hold = ledger.hold(account_id=account, amount=Credits.of(2))
            ledger.release(account_id=account, hold_id=hold.hold_id)
            run = ledger.start_run(account_id=account, rate_card_id="maps")
            ledger.report_results(account_id=account, run_id=run.run_id, rows_kept=2)
            ledger.finish_run(account_id=account, run_id=run.run_id)
        # As a write, on the connection the writer keeps: the one every write above used.
        plans = ledger._context.run(
            lambda connection: connection.exec_driver_sql(
                "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements"
            ).all()
        )
    finally:
        ledger.close()
    # One account is locked by its UPDATE alone ("WITH l AS (UPDATE"); several in id order
    # first. A charge alone reads its account unlocked ("WITH l AS (SELECT").
    lock = [generic for statement, generic, _ in plans if statement.startswith("WITH l AS")]
    assert lock and sum(lock) >= 12 * 5 - 5  # every operation read or locked its account
    peeks = [generic for statement, generic, _ in plans if statement.startswith("WITH l AS (SEL")]
    # The charges, keyed and not: two statements, each planned for its values five times.
    assert len(peeks) == 2 and sum(peeks) >= 12 * 2 - 2 * 5
    assert [statement[:80] for statement, _, custom in plans if custom > 5] == []


def test_a_single_charges_flush_stays_within_psycopgs_conversion_cache() -> None:
    """A charge alone, keyed or drawing on two grants, guarded or not, flushes in a
    statement of at most 50 parameters: its rows' shared account and transfer number are
    bound once."""
    now = datetime.now(UTC)

    def row(columns: tuple[tuple[str, str], ...], **values: Any) -> dict[str, Any]:
        return {
            name: values.get(name, now if kind == "timestamp" else "x") for name, kind in columns
        }

    transfer = [row(ledger_state.TRANSFER_TYPES, account_id="acct", seq=7)]
    key = [row(ledger_state.KEY_TYPES, account_id="acct")]
    rollup = [row(ledger_state.ROLLUP_TYPES, account_id="acct")]
    for lines, grants in ((2, 1), (3, 2)):
        entries = [row(ledger_state.ENTRY_TYPES, account_id="acct", seq=7)] * lines
        deltas = [("acct", f"grant-{index}", -1) for index in range(grants)]
        for keys, guard in itertools.product(([], key), (None, deferred.Guard("acct", "9", 7))):
            sql, params = deferred._small_flush(
                deferred.Writes(transfer, entries, rollup, deltas, keys), guard
            )
            assert len(params) <= 50, (lines, grants, len(keys), guard)
            assert len(sql.encode()) <= 4096
            named = set(re.findall(r"%\((\w+)\)s", sql))
            assert named == set(params) if isinstance(params, dict) else not named


def test_a_lock_asked_for_no_key_reads_none() -> None:
    """Unkeyed charges and batches never read the idempotency table; one account with one
    key reads it by equality, so that its generic plan is kept (see the test above)."""
    assert "idempotency" not in hot._postgres_lock(True, 0)
    assert "idempotency" not in hot._postgres_lock(False, 0)
    assert "i.key = %(key)s" in hot._postgres_lock(True, 1)
    assert "ANY(%(keys)s" in hot._postgres_lock(True, 2)
    assert "ANY(%(keys)s" in hot._postgres_lock(False, 1)


def _numbers(ledger: Ledger, account_id: str) -> tuple[list[int], int]:
    """The account's transfer numbers in order, and its last number."""
    numbers = first_column(
        ledger, "SELECT seq FROM transfers WHERE account_id = :a ORDER BY seq", a=account_id
    )
    [last] = first_column(
        ledger, "SELECT last_seq FROM accounts WHERE account_id = :a", a=account_id
    )
    return numbers, last


def _charge_takes_the_next_number(
    ledger: Ledger, account_id: str, last: int, available: Credits
) -> None:
    """One more charge takes the number after `last`; the account then has `available`
    credits, and the ledger verifies."""
    ledger.charge(account_id=account_id, amount=Credits.of(1))
    numbers, now_last = _numbers(ledger, account_id)
    assert numbers[-1] == now_last == last + 1
    assert pool_available(ledger, account_id) == available
    assert ledger.verify().ok


def test_charges_of_one_account_reserve_their_numbers_with_the_lock(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Charges of one account in one transaction (a busy account's group, or a batch) take
    a transfer number each with the lock, so the account row is not written back at the
    end. A refused charge's number is skipped, never used by another transfer."""
    open_accounts(ledger, "hot-numbers", allowance=10)
    ledger.charge(account_id="hot-numbers", amount=Credits.of(1))
    before, last_before = _numbers(ledger, "hot-numbers")
    assert before[-1] == last_before
    ran = driver_statements(monkeypatch)
    results = ledger.charge_batch(
        [
            ChargeRequest(account_id="hot-numbers", amount=Credits.of(1)),
            ChargeRequest(account_id="hot-numbers", amount=Credits.of(50)),  # refused
            ChargeRequest(account_id="hot-numbers", amount=Credits.of(2)),
        ]
    )
    assert [result.error_code for result in results] == [None, "insufficient_credits", None]
    assert ran and not set(ran) & set(hot._UPDATE_ACCOUNT.values())  # no write-back
    numbers, last = _numbers(ledger, "hot-numbers")
    assert numbers[len(before) :] == [last_before + 1, last_before + 2]
    assert last == last_before + 3  # the third reserved number went unused
    _charge_takes_the_next_number(ledger, "hot-numbers", last, Credits.of(5))


def test_an_account_that_posts_more_than_it_reserved_writes_its_number_back(
    ledger: Ledger, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A group that catches a period up posts more transfers than its charges reserved
    numbers for: the account's last number is written back, and the next transfer takes the
    number after it."""
    open_accounts(ledger, "hot-reset", allowance=10)
    ledger.charge(account_id="hot-reset", amount=Credits.of(4))
    before, _ = _numbers(ledger, "hot-reset")
    clock.advance(days=40)  # past the period's end: the lock's catch-up resets the allowance
    ran = driver_statements(monkeypatch)
    results = ledger.charge_batch(
        [ChargeRequest(account_id="hot-reset", amount=Credits.of(1)) for _ in range(2)]
    )
    assert [result.error_code for result in results] == [None, None]
    assert set(ran) & set(hot._UPDATE_ACCOUNT.values())  # written back
    numbers, last = _numbers(ledger, "hot-reset")
    assert len(numbers) - len(before) > 2  # the catch-up's transfers and the two charges
    assert len(numbers) == len(set(numbers)) and numbers == sorted(numbers)
    assert numbers[-1] == last
    _charge_takes_the_next_number(ledger, "hot-reset", last, Credits.of(7))


def test_a_connection_keeps_one_cursor_for_the_hot_path(
    pg_ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new psycopg cursor learns again how to convert each value: a pooled connection
    keeps one for every statement of the hot path, and a charge makes none of its own."""
    open_accounts(pg_ledger, "hot-cursor")
    pg_ledger.charge(account_id="hot-cursor", amount=Credits.of(1))  # its connection's cursor
    made: list[object] = []
    real = psycopg.Connection.cursor

    def counting(self: psycopg.Connection[Any], *args: Any, **kwargs: Any) -> Any:
        made.append(self)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(psycopg.Connection, "cursor", counting)
    for amount in (1, 2):
        pg_ledger.charge(account_id="hot-cursor", amount=Credits.of(amount))
    pg_ledger.charge_batch([ChargeRequest(account_id="hot-cursor", amount=Credits.of(1))])
    assert made == []
    assert pool_available(pg_ledger, "hot-cursor") == Credits.of(95)


def test_a_cursor_that_saw_an_error_is_not_kept(pg_ledger: Ledger) -> None:
    with pg_ledger.engine.connect() as connection:
        connection.begin()
        info = connection.connection.info
        assert hot.execute(connection, "SELECT 1", ()) == [(1,)]
        kept = info[hot._CURSOR]
        assert hot.execute(connection, "SELECT 2", ()) == [(2,)]
        assert info[hot._CURSOR] is kept
        with pytest.raises(DBAPIError, match="division by zero") as raised:
            hot.execute(connection, "SELECT 1 / 0", ())
        assert raised.value.statement == "SELECT 1 / 0"
        assert hot._CURSOR not in info and kept.closed
        connection.rollback()
        connection.begin()
        assert hot.execute(connection, "SELECT 3", ()) == [(3,)]
        assert info[hot._CURSOR] is not kept
