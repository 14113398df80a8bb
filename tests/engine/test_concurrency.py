"""Concurrent writers: no overspend, exactly-once idempotency, no deadlocks (§3.3, §3.4).

On PostgreSQL the writers are threads sharing one Ledger (one engine, one connection each).
On SQLite they are threads in several worker processes, each process with its own Ledger
on the same database file, so the writers really contend for the file's lock. All of them
are let go at once (a barrier across the processes) and run at the conftest's fixed instant,
so no period boundary interferes.
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
from creditbook.engine import ledger as ledger_module
from creditbook.store import schema
from creditbook.store.database import make_engine

ROUNDS = 100
CHARGERS = 50  # concurrent charges per round of the last-credit race
ALLOWANCE = 10  # credits, so exactly 10 of the charges can be paid
REPLAYERS = 20  # concurrent uses of one idempotency key
REPLAY_ROUNDS = 10
PROCESSES = 5  # SQLite: worker processes, each running its share of a round on threads
PG_CONNECTIONS = 50  # PostgreSQL: one connection per concurrent writer
RESULT_TIMEOUT_S = 120


class Runner(Protocol):
    def run(self, ops: Sequence[Op]) -> list[Outcome]:
        """Run every operation at once, one writer each; outcomes in the same order."""
        ...


class ThreadRunner:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def run(self, ops: Sequence[Op]) -> list[Outcome]:
        return run_at_once(self.ledger, ops)


class ProcessRunner:
    def __init__(self, pool: Any, url: str) -> None:
        self.pool = pool
        self.url = url

    def run(self, ops: Sequence[Op]) -> list[Outcome]:
        shares = [list(ops[worker::PROCESSES]) for worker in range(PROCESSES)]
        done = self.pool.starmap_async(
            _workers.process_round, [(self.url, share) for share in shares], chunksize=1
        ).get(RESULT_TIMEOUT_S)
        outcomes: list[Outcome] = [("crash", "not run")] * len(ops)
        for worker, share_outcomes in enumerate(done):
            outcomes[worker::PROCESSES] = share_outcomes
        return outcomes


@pytest.fixture(scope="module")
def worker_processes() -> Iterator[Any]:
    """Worker processes kept for the whole module (spawning them is the slow part)."""
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


def concurrent_ledger(url: str) -> Ledger:
    engine = make_engine(url, pool_size=PG_CONNECTIONS, max_overflow=0)
    return Ledger(engine, ManualClock(FIXED_NOW))


@pytest.fixture
def runner(request: pytest.FixtureRequest, database_url: str, clock: ManualClock) -> Iterator[Runner]:
    assert clock.now() == FIXED_NOW, "workers run at the conftest's start instant"
    if database_url.startswith("sqlite"):
        yield ProcessRunner(request.getfixturevalue("worker_processes"), database_url)
        return
    ledger = concurrent_ledger(database_url)
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


# -- 1. the last credits ------------------------------------------------------------------------


def test_the_last_credits_pay_for_exactly_that_many_concurrent_charges(
    ledger: Ledger, runner: Runner
) -> None:
    ledger.put_plan(Plan("ten", allowances={"credits": Credits.of(ALLOWANCE)}))
    for round_number in range(ROUNDS):
        account_id = ledger.open_account("ten").account_id

        outcomes = runner.run([charge_op(account_id, 1) for _ in range(CHARGERS)])

        paid = [outcome for outcome in outcomes if outcome[0] == "ok"]
        refused = [outcome for outcome in outcomes if outcome[0] != "ok"]
        context = f"round {round_number}: {summary(outcomes)}"
        assert len(paid) == ALLOWANCE, context
        assert len({outcome[1] for outcome in paid}) == ALLOWANCE, context
        assert all(outcome[2:] == (False, 1000) for outcome in paid), context
        assert set(refused) == {("error", "InsufficientCreditsError")}, context
        assert available(ledger, account_id) == Credits(0), context
        assert deductions(ledger, account_id) == ALLOWANCE, context
        assert ledger.verify(account_id).ok, context
    assert ledger.verify().ok


# -- 2. one idempotency key, many writers -------------------------------------------------------


def test_concurrent_replays_of_one_key_charge_once(ledger: Ledger, runner: Runner) -> None:
    ledger.put_plan(Plan("ten", allowances={"credits": Credits.of(ALLOWANCE)}))
    for round_number in range(REPLAY_ROUNDS):
        account_id = ledger.open_account("ten").account_id

        outcomes = runner.run([charge_op(account_id, 3, "order-1") for _ in range(REPLAYERS)])

        context = f"round {round_number}: {outcomes}"
        assert all(outcome[0] == "ok" for outcome in outcomes), context
        assert len({outcome[1] for outcome in outcomes}) == 1, context
        assert sorted(outcome[2] for outcome in outcomes) == [False] + [True] * (REPLAYERS - 1)
        assert {outcome[3] for outcome in outcomes} == {3000}, context
        assert deductions(ledger, account_id) == 1, context
        assert available(ledger, account_id) == Credits.of(ALLOWANCE - 3), context
        assert ledger.verify(account_id).ok, context
    assert ledger.verify().ok


def test_concurrent_uses_of_one_key_with_different_bodies_charge_one_of_them(
    ledger: Ledger, runner: Runner
) -> None:
    ledger.put_plan(Plan("ten", allowances={"credits": Credits.of(ALLOWANCE)}))
    for round_number in range(REPLAY_ROUNDS):
        account_id = ledger.open_account("ten").account_id
        # Two bodies under one key, interleaved: 1 credit and 2 credits.
        ops = [charge_op(account_id, 1 + index % 2, "order-1") for index in range(REPLAYERS)]

        outcomes = runner.run(ops)

        context = f"round {round_number}: {outcomes}"
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
        assert ledger.verify(account_id).ok, context
    assert ledger.verify().ok


# -- 3. batches over two accounts ---------------------------------------------------------------

BATCH_ROUNDS = 5
BATCH_WRITERS = 40
BATCH_ALLOWANCE = 100  # credits per account; the batches ask each account for 120
ORDERS = ("ABABAB", "BABABA", "AAABBB", "BBBAAA")


def test_concurrent_batches_over_two_accounts_neither_deadlock_nor_overspend(
    postgres_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    retried: list[DBAPIError] = []
    retryable = ledger_module._retryable

    def recording(error: DBAPIError) -> bool:
        retried.append(error)
        return retryable(error)

    monkeypatch.setattr(ledger_module, "_retryable", recording)
    ledger = concurrent_ledger(postgres_database_url)
    try:
        ledger.put_plan(Plan("hundred", allowances={"credits": Credits.of(BATCH_ALLOWANCE)}))
        for round_number in range(BATCH_ROUNDS):
            accounts = {
                "A": ledger.open_account("hundred").account_id,
                "B": ledger.open_account("hundred").account_id,
            }
            ops: list[Op] = [
                (
                    "batch",
                    {
                        "items": [
                            {"account_id": accounts[name], "amount": 1000}
                            for name in ORDERS[writer % len(ORDERS)]
                        ]
                    },
                )
                for writer in range(BATCH_WRITERS)
            ]

            outcomes = ThreadRunner(ledger).run(ops)

            context = f"round {round_number}: {summary(outcomes)}"
            assert all(outcome[0] == "ok" for outcome in outcomes), context
            items = [item for outcome in outcomes for item in outcome[1]]
            for account_id in accounts.values():
                mine = Counter(result for owner, result in items if owner == account_id)
                assert mine == {1000: BATCH_ALLOWANCE, "insufficient_credits": 20}, context
                assert available(ledger, account_id) == Credits(0), context
                assert deductions(ledger, account_id) == BATCH_ALLOWANCE, context
                assert ledger.verify(account_id).ok, context
        assert ledger.verify().ok
    finally:
        ledger.close()
    deadlocks = [e for e in retried if getattr(e.orig, "sqlstate", None) == "40P01"]
    assert not deadlocks, "accounts locked in one order cannot deadlock"


# -- 4. opening one account from many writers ---------------------------------------------------

OPEN_ROUNDS = 5


@pytest.mark.parametrize("named", [True, False], ids=["named", "generated_id"])
def test_concurrent_opens_with_one_key_open_one_account(
    ledger: Ledger, runner: Runner, named: bool
) -> None:
    ledger.put_plan(Plan("ten", allowances={"credits": Credits.of(ALLOWANCE)}))
    for round_number in range(OPEN_ROUNDS):
        before = count_rows(ledger, schema.accounts)
        arguments: dict[str, Any] = {"plan_id": "ten", "idempotency_key": f"open-{round_number}"}
        if named:
            arguments["account_id"] = f"acme-{round_number}"

        outcomes = runner.run([("open_account", arguments) for _ in range(REPLAYERS)])

        context = f"round {round_number}: {outcomes}"
        assert all(outcome[0] == "ok" for outcome in outcomes), context
        opened = {outcome[1] for outcome in outcomes}
        assert len(opened) == 1, context
        assert sorted(outcome[2] for outcome in outcomes) == [False] + [True] * (REPLAYERS - 1)
        assert count_rows(ledger, schema.accounts) == before + 1, context
        (account_id,) = opened
        if named:
            assert account_id == f"acme-{round_number}"
        assert available(ledger, account_id) == Credits.of(ALLOWANCE), context
        assert ledger.verify(account_id).ok, context
    assert ledger.verify().ok
