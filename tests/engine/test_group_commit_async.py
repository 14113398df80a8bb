"""Awaited charges (`Ledger.charge_async`): on an event loop they join group commits without
holding a thread while they wait, the writer's own thread leading the groups they must lead,
and each caller still gets exactly its own charge or refusal (on SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Connection
from tests.engine.test_group_commit import commits, grouped, open_account, writer_of

from creditbook import Credits, InsufficientCreditsError, Ledger
from creditbook.engine.group_commit import GroupWriter
from creditbook.engine.results import Charge

__all__ = ["commits"]  # the fixture, shared with the threads' tests

AWAITED = 30
WAIT_S = 10.0  # the most a test waits for something that should take milliseconds


@pytest.fixture
def single(ledger: Ledger) -> Iterator[Ledger]:
    """A second ledger on the same engine whose groups take one write each (no gathering),
    so that writes arriving while a group runs queue behind it."""
    second = Ledger(ledger.engine, ledger.clock, group_max_size=1)
    yield second
    writer_of(second).close()


class Blocker:
    """A write that holds its group open until released."""

    def __init__(self) -> None:
        self.running = threading.Event()
        self.release = threading.Event()
        self.thread = ""

    def body(self, connection: Connection) -> str:
        self.thread = threading.current_thread().name
        self.running.set()
        assert self.release.wait(WAIT_S)
        return "blocked"

    def occupy(self, writer: GroupWriter) -> threading.Thread:
        """Submit the write from a thread of its own; returns once its group runs."""
        thread = threading.Thread(target=writer.submit, args=(self.body,), name="blocking-caller")
        thread.start()
        assert self.running.wait(WAIT_S)
        return thread


def test_awaited_charges_share_one_commit(ledger: Ledger, commits: list[int]) -> None:
    account = open_account(ledger, "aw-one", 100)
    busy = grouped(ledger, 8)

    async def charge_all() -> list[Charge]:
        return await asyncio.gather(*(busy.charge_async(account, Credits.of(1)) for _ in range(8)))

    commits.clear()
    charges = asyncio.run(charge_all())
    assert len({charge.charge_id for charge in charges}) == 8
    assert len(commits) == 1
    assert writer_of(busy).stats.commits == 1
    assert ledger.balance(account).pools["credits"].available == Credits.of(92)
    assert ledger.verify().ok
    writer_of(busy).close()


def test_each_awaited_charge_gets_its_own_answer_in_arrival_order(ledger: Ledger) -> None:
    account = open_account(ledger, "aw-order", 10)
    busy = grouped(ledger, 5)

    async def charge_all() -> list[Any]:
        calls = [busy.charge_async(account, Credits.of(3)) for _ in range(5)]
        return await asyncio.gather(*calls, return_exceptions=True)

    outcomes = asyncio.run(charge_all())
    assert [type(outcome).__name__ for outcome in outcomes] == [
        "Charge",
        "Charge",
        "Charge",
        "InsufficientCreditsError",
        "InsufficientCreditsError",
    ]
    assert ledger.balance(account).pools["credits"].available == Credits.of(1)
    # The refusal is recorded as a charge's alone would be: the pool is depleted.
    assert [event.type for event in ledger.events().data] == ["balance.depleted"]
    assert ledger.verify().ok
    writer_of(busy).close()


def test_queued_awaited_charges_hold_no_thread(ledger: Ledger, single: Ledger) -> None:
    account = open_account(ledger, "aw-threads", 100)
    blocker = Blocker()
    caller = blocker.occupy(writer_of(single))
    before = threading.active_count()

    async def charge_while_blocked() -> tuple[int, list[Charge]]:
        tasks = [
            asyncio.create_task(single.charge_async(account, Credits.of(1))) for _ in range(AWAITED)
        ]
        await asyncio.sleep(0.2)  # time enough for every one to reach its queue
        waiting = threading.active_count()
        blocker.release.set()
        return waiting, await asyncio.gather(*tasks)

    waiting, charges = asyncio.run(charge_while_blocked())
    caller.join(WAIT_S)
    # At most the writer's own thread (started for the first awaited write to lead).
    assert waiting - before <= 1
    assert len({charge.charge_id for charge in charges}) == AWAITED
    assert ledger.balance(account).pools["credits"].available == Credits.of(100 - AWAITED)
    assert ledger.verify().ok


def test_the_lead_passes_between_threads_and_awaited_writes(ledger: Ledger, single: Ledger) -> None:
    writer = writer_of(single)
    awaited, threaded = Blocker(), Blocker()
    threaded.release.set()  # the thread's write runs at once once it leads

    async def awaited_first() -> str:
        task = asyncio.create_task(writer.submit_async(awaited.body))
        await asyncio.to_thread(awaited.running.wait, WAIT_S)
        # A thread's write queues behind the awaited one, which the writer's thread leads;
        # once that group is done, the thread is promoted and leads its own group.
        caller = threading.Thread(target=writer.submit, args=(threaded.body,), name="caller")
        caller.start()
        await asyncio.sleep(0.1)
        assert not threaded.running.is_set()
        awaited.release.set()
        value = await task
        await asyncio.to_thread(caller.join, WAIT_S)
        return value

    assert asyncio.run(awaited_first()) == "blocked"
    assert awaited.thread.startswith("creditbook-group-commit")
    assert threaded.thread == "caller"
    assert writer.stats.groups == 2


def test_a_charge_whose_caller_stopped_waiting_still_commits(
    ledger: Ledger, single: Ledger
) -> None:
    account = open_account(ledger, "aw-cancel", 100)
    blocker = Blocker()
    caller = blocker.occupy(writer_of(single))

    async def charge_then_give_up() -> None:
        task = asyncio.create_task(single.charge_async(account, Credits.of(7)))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        blocker.release.set()

    asyncio.run(charge_then_give_up())
    caller.join(WAIT_S)
    writer_of(single).close()  # returns once the writer's thread ran the groups it was given
    # No answer was sent, but the charge was queued: it commits, exactly once. (A client
    # that retries with its idempotency key gets this charge back.)
    assert ledger.balance(account).pools["credits"].available == Credits.of(93)
    assert ledger.verify().ok


def test_without_group_commit_an_awaited_charge_runs_on_a_worker_thread(
    ledger: Ledger,
) -> None:
    account = open_account(ledger, "aw-alone", 5)
    alone = Ledger(ledger.engine, ledger.clock, group_commit=False)
    charged = asyncio.run(alone.charge_async(account, Credits.of(2)))
    assert charged.amount == Credits.of(2)
    with pytest.raises(InsufficientCreditsError):
        asyncio.run(alone.charge_async(account, Credits.of(4)))
    assert ledger.balance(account).pools["credits"].available == Credits.of(3)


def test_an_awaited_charge_after_close_starts_the_writer_thread_again(
    ledger: Ledger, single: Ledger
) -> None:
    account = open_account(ledger, "aw-reopen", 10)
    assert asyncio.run(single.charge_async(account, Credits.of(1))).amount == Credits.of(1)
    writer_of(single).close()
    assert asyncio.run(single.charge_async(account, Credits.of(2))).amount == Credits.of(2)
    assert ledger.balance(account).pools["credits"].available == Credits.of(7)
