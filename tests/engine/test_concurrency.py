"""Concurrent writers: no overspend, exactly-once idempotency, no deadlocks (§3.3, §3.4).

On PostgreSQL the writers are threads sharing one Ledger (one engine, a connection each).
On SQLite they are threads in several worker processes, each process with its own Ledger on
the same database file, so the writers really contend for the file's lock. All of them are
let go at once (a barrier across the processes) and run at the conftest's fixed instant, so
no period boundary interferes.

A race is one account (or one idempotency key) and one operation per writer. Several races
run in a wave: writer w runs its operation of the first race, then of the second, and so on,
so every race has all the writers on it while the database is never left idle waiting for
the slowest writer of a single race.
"""

from __future__ import annotations

import multiprocessing
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import _workers
import pytest
from _workers import FIXED_NOW, Op, Outcome, run_at_once
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from creditbook import Credits, Ledger, ManualClock, Plan, TransactionType
from creditbook.engine import context as context_module
from creditbook.store import schema
from creditbook.store.database import make_engine

PROCESSES = 5  # SQLite: worker processes, each running its share of the writers on threads
PG_CONNECTIONS = 50  # PostgreSQL: one connection per writer thread
RESULT_TIMEOUT_S = 120

ALLOWANCE = 10  # credits on each fresh account, no overdraft
CHARGERS = 50  # writers racing for an account's last credits
LAST_CREDIT_RACES = 100
RACES_PER_WAVE = 20
REPLAYERS = 20  # writers using one idempotency key at once
KEY_RACES = 10


class Runner(Protocol):
    def run(self, writers: Sequence[Sequence[Op]]) -> list[list[Outcome]]:
        """Run the writers at once, each its operations in turn; outcomes per writer."""
        ...


class ThreadRunner:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def run(self, writers: Sequence[Sequence[Op]]) -> list[list[Outcome]]:
        assert len(writers) <= PG_CONNECTIONS, "one connection per writer"
        return run_at_once(self.ledger, writers)


class ProcessRunner:
    def __init__(self, pool: Any, url: str) -> None:
        self.pool = pool
        self.url = url

    def run(self, writers: Sequence[Sequence[Op]]) -> list[list[Outcome]]:
        shares = [list(writers[worker::PROCESSES]) for worker in range(PROCESSES)]
        done = self.pool.starmap_async(
            _workers.process_round, [(self.url, share) for share in shares], chunksize=1
        ).get(RESULT_TIMEOUT_S)
        outcomes: list[list[Outcome]] = [[] for _ in writers]
        for worker, share_outcomes in enumerate(done):
            outcomes[worker::PROCESSES] = share_outcomes
        return outcomes


def race(runner: Runner, races: Sequence[Sequence[Op]]) -> list[list[Outcome]]:
    """Run races in one wave: writer w runs operation w of each race in turn.

    Returns the outcomes per race, in the order of its operations.
    """
    width = len(races[0])
    assert all(len(operations) == width for operations in races)
    done = runner.run([[operations[w] for operations in races] for w in range(width)])
    return [[done[w][number] for w in range(width)] for number in range(len(races))]


@pytest.fixture(scope="module")
def worker_processes() -> Iterator[Any]:
    """Worker processes kept for the whole module (starting them is the slow part)."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    pool = context.Pool(PROCESSES, initializer=_workers.init_worker, initargs=(barrier,))
    try:
        yield pool
    finally:
        try:
            pool.map_async(_workers.close_worker, range(PROCESSES), chunksize=1).get(
                RESULT_TIMEOUT_S
            )
        finally:
            pool.close()
            pool.join()


def threads_ledger(url: str) -> Ledger:
    engine = make_engine(url, pool_size=PG_CONNECTIONS, max_overflow=0)
    return Ledger(engine, ManualClock(FIXED_NOW))


@pytest.fixture
def runner(
    request: pytest.FixtureRequest, database_url: str, clock: ManualClock
) -> Iterator[Runner]:
    assert clock.now() == FIXED_NOW, "the writers run at the conftest's start instant"
    if database_url.startswith("sqlite"):
        yield ProcessRunner(request.getfixturevalue("worker_processes"), database_url)
        return
    ledger = threads_ledger(database_url)
    try:
        yield ThreadRunner(ledger)
    finally:
        ledger.close()


def count_rows(ledger: Ledger, table: Any, *conditions: Any) -> int:
    with ledger.engine.connect() as connection:
        count: int = connection.execute(
            select(func.count()).select_from(table).where(*conditions)
        ).scalar_one()
        return count


def deductions(ledger: Ledger, account_id: str) -> int:
    """Charges written for an account, counted in the transfers table itself."""
    transfers = schema.transfers.c
    return count_rows(
        ledger,
        schema.transfers,
        transfers.account_id == account_id,
        transfers.type == TransactionType.DEDUCTION.value,
    )


def available(ledger: Ledger, account_id: str) -> Credits:
    return ledger.balance(account_id).pools["credits"].available


def summary(outcomes: Sequence[Outcome]) -> Counter[tuple[Any, ...]]:
    return Counter(outcome if outcome[0] != "ok" else ("ok",) for outcome in outcomes)


def charge_op(account_id: str, credits: int, key: str | None = None) -> Op:
    return ("charge", {"account_id": account_id, "amount": credits * 1000, "idempotency_key": key})


TEN = Plan("ten", allowances={"credits": Credits.of(ALLOWANCE)})


def open_accounts(ledger: Ledger, count: int) -> list[str]:
    return [ledger.open_account(TEN.plan_id).account_id for _ in range(count)]


# -- 1. the last credits ------------------------------------------------------------------------


@pytest.mark.slow
def test_the_last_credits_pay_for_exactly_that_many_concurrent_charges(
    ledger: Ledger, runner: Runner
) -> None:
    ledger.put_plan(TEN)
    for wave in range(LAST_CREDIT_RACES // RACES_PER_WAVE):
        accounts = open_accounts(ledger, RACES_PER_WAVE)

        results = race(runner, [[charge_op(a, 1)] * CHARGERS for a in accounts])

        for account_id, outcomes in zip(accounts, results, strict=True):
            paid = [outcome for outcome in outcomes if outcome[0] == "ok"]
            refused = {outcome for outcome in outcomes if outcome[0] != "ok"}
            context = f"wave {wave}, {account_id}: {summary(outcomes)}"
            assert len(paid) == ALLOWANCE, context
            assert len({outcome[1] for outcome in paid}) == ALLOWANCE, context
            assert all(outcome[2:] == (False, 1000) for outcome in paid), context
            assert refused == {("error", "InsufficientCreditsError")}, context
            assert available(ledger, account_id) == Credits(0), context
            assert deductions(ledger, account_id) == ALLOWANCE, context
        assert ledger.verify().ok, f"wave {wave}"


# -- 2. one idempotency key, many writers -------------------------------------------------------


def test_concurrent_replays_of_one_key_charge_once(ledger: Ledger, runner: Runner) -> None:
    ledger.put_plan(TEN)
    accounts = open_accounts(ledger, KEY_RACES)

    # The same key on every account: keys are scoped per account.
    results = race(runner, [[charge_op(a, 3, "order-1")] * REPLAYERS for a in accounts])

    for account_id, outcomes in zip(accounts, results, strict=True):
        context = f"{account_id}: {outcomes}"
        assert all(outcome[0] == "ok" for outcome in outcomes), context
        assert len({outcome[1] for outcome in outcomes}) == 1, context
        replayed = sorted(outcome[2] for outcome in outcomes)
        assert replayed == [False] + [True] * (REPLAYERS - 1), context
        assert {outcome[3] for outcome in outcomes} == {3000}, context
        assert deductions(ledger, account_id) == 1, context
        assert available(ledger, account_id) == Credits.of(ALLOWANCE - 3), context
    assert ledger.verify().ok


def test_concurrent_uses_of_one_key_with_different_bodies_charge_one_of_them(
    ledger: Ledger, runner: Runner
) -> None:
    ledger.put_plan(TEN)
    accounts = open_accounts(ledger, KEY_RACES)
    # Two bodies under one key, interleaved: 1 credit and 2 credits.
    races = [
        [charge_op(a, 1 + writer % 2, "order-1") for writer in range(REPLAYERS)] for a in accounts
    ]

    results = race(runner, races)

    for account_id, ops, outcomes in zip(accounts, races, results, strict=True):
        context = f"{account_id}: {outcomes}"
        first = [outcome for outcome in outcomes if outcome[0] == "ok" and not outcome[2]]
        assert len(first) == 1, context
        _, charge_id, _, winner = first[0]
        for op, outcome in zip(ops, outcomes, strict=True):
            if op[1]["amount"] == winner:
                assert outcome[0] == "ok" and outcome[1] == charge_id, context
                assert outcome[3] == winner, context
            else:
                assert outcome == ("error", "IdempotencyConflictError"), context
        assert deductions(ledger, account_id) == 1, context
        assert available(ledger, account_id) == Credits.of(ALLOWANCE) - Credits(winner), context
    assert ledger.verify().ok


# -- 3. batches over two accounts ---------------------------------------------------------------

BATCH_PAIRS = 5
BATCH_WRITERS = 40
BATCH_ALLOWANCE = 100  # credits per account; the batches ask each account for 120
ORDERS = ("ABABAB", "BABABA", "AAABBB", "BBBAAA")


@pytest.mark.slow
def test_concurrent_batches_over_two_accounts_neither_deadlock_nor_overspend(
    postgres_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    retried: list[DBAPIError] = []
    retryable = context_module._retryable

    def recording(error: DBAPIError) -> bool:
        retried.append(error)
        return retryable(error)

    monkeypatch.setattr(context_module, "_retryable", recording)
    ledger = threads_ledger(postgres_database_url)
    try:
        ledger.put_plan(Plan("hundred", allowances={"credits": Credits.of(BATCH_ALLOWANCE)}))
        pairs = [
            {name: ledger.open_account("hundred").account_id for name in "AB"}
            for _ in range(BATCH_PAIRS)
        ]
        races = [
            [
                (
                    "batch",
                    {
                        "items": [
                            {"account_id": pair[name], "amount": 1000}
                            for name in ORDERS[writer % len(ORDERS)]
                        ]
                    },
                )
                for writer in range(BATCH_WRITERS)
            ]
            for pair in pairs
        ]

        results = race(ThreadRunner(ledger), races)

        for pair, outcomes in zip(pairs, results, strict=True):
            context = f"{pair}: {summary(outcomes)}"
            assert all(outcome[0] == "ok" for outcome in outcomes), context
            items = [item for outcome in outcomes for item in outcome[1]]
            for account_id in pair.values():
                mine = Counter(result for owner, result in items if owner == account_id)
                assert mine == {1000: BATCH_ALLOWANCE, "insufficient_credits": 20}, context
                assert available(ledger, account_id) == Credits(0), context
                assert deductions(ledger, account_id) == BATCH_ALLOWANCE, context
        assert ledger.verify().ok
    finally:
        ledger.close()
    deadlocks = [error for error in retried if getattr(error.orig, "sqlstate", None) == "40P01"]
    assert not deadlocks, "batches lock their accounts in one order, so they cannot deadlock"


# -- 4. opening one account from many writers ---------------------------------------------------

OPEN_RACES = 5


@pytest.mark.parametrize("named", [True, False], ids=["named", "generated_id"])
def test_concurrent_opens_with_one_key_open_one_account(
    ledger: Ledger, runner: Runner, named: bool
) -> None:
    ledger.put_plan(TEN)
    races = []
    for number in range(OPEN_RACES):
        arguments: dict[str, Any] = {"plan_id": TEN.plan_id, "idempotency_key": f"open-{number}"}
        if named:
            arguments["account_id"] = f"acme-{number}"
        races.append([("open_account", arguments)] * REPLAYERS)

    results = race(runner, races)

    assert count_rows(ledger, schema.accounts) == OPEN_RACES
    opened = set()
    for number, outcomes in enumerate(results):
        context = f"race {number}: {outcomes}"
        assert all(outcome[0] == "ok" for outcome in outcomes), context
        assert len({outcome[1] for outcome in outcomes}) == 1, context
        replayed = sorted(outcome[2] for outcome in outcomes)
        assert replayed == [False] + [True] * (REPLAYERS - 1), context
        account_id = outcomes[0][1]
        if named:
            assert account_id == f"acme-{number}", context
        assert available(ledger, account_id) == Credits.of(ALLOWANCE), context
        opened.add(account_id)
    assert len(opened) == OPEN_RACES
    assert ledger.verify().ok
