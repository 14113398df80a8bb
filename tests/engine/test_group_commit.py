"""Group commit: writes made at once by several threads share one transaction and commit,
and each caller still gets exactly its own result or refusal (on SQLite and PostgreSQL)."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.exc import DBAPIError

from creditbook import (
    Credits,
    InsufficientCreditsError,
    Ledger,
    ManualClock,
    NotFoundError,
    Plan,
)
from creditbook.engine import group_commit
from creditbook.engine.group_commit import GroupCommitSettings, GroupWriter, _Write
from creditbook.store.database import make_engine
from creditbook.store.queries import hot

WRITERS = 8
GATHER_S = 10.0  # the leader waits (at most this) until the whole group has queued


def grouped(ledger: Ledger, size: int = WRITERS) -> Ledger:
    """A second ledger on the same engine whose groups take exactly `size` writes."""
    return Ledger(ledger.engine, ledger.clock, group_max_size=size, group_max_wait_s=GATHER_S)


def writer_of(ledger: Ledger) -> GroupWriter:
    writer = ledger._context.writer
    assert writer is not None
    return writer


@pytest.fixture
def commits(ledger: Ledger) -> Iterator[list[int]]:
    """Counts the commits of the ledger's engine from now on."""
    seen: list[int] = []

    def on_commit(connection: Connection) -> None:
        seen.append(1)

    event.listen(ledger.engine, "commit", on_commit)
    yield seen
    event.remove(ledger.engine, "commit", on_commit)


def open_account(ledger: Ledger, account_id: str, credits: int) -> str:
    ledger.put_plan(Plan(f"plan{credits}", allowances={"credits": Credits.of(credits)}))
    return ledger.open_account(f"plan{credits}", account_id=account_id).account_id


def at_once(calls: list[Callable[[], Any]]) -> list[tuple[Any, BaseException | None]]:
    """Run the calls on threads at once; each one's value or exception."""

    def outcome(call: Callable[[], Any]) -> tuple[Any, BaseException | None]:
        try:
            return call(), None
        except Exception as error:
            return None, error

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(outcome, calls))


def test_concurrent_charges_share_one_commit(ledger: Ledger, commits: list[int]) -> None:
    account = open_account(ledger, "hot", 100)
    busy = grouped(ledger)
    commits.clear()
    outcomes = at_once([lambda: busy.charge(account, Credits.of(1))] * WRITERS)
    assert all(error is None for _, error in outcomes)
    assert len({charge.charge_id for charge, _ in outcomes}) == WRITERS
    assert len(commits) == 1
    assert writer_of(busy).stats.commits == 1
    assert ledger.balance(account).pools["credits"].available == Credits.of(100 - WRITERS)
    assert ledger.verify().ok


def test_each_caller_gets_its_own_refusal(ledger: Ledger, commits: list[int]) -> None:
    account = open_account(ledger, "hot", 5)
    busy = grouped(ledger, WRITERS + 1)
    commits.clear()
    calls: list[Callable[[], Any]] = [lambda: busy.charge(account, Credits.of(1))] * WRITERS
    calls.append(lambda: busy.charge("missing", Credits.of(1)))
    outcomes = at_once(calls)
    charged = [value for value, error in outcomes if error is None]
    refused = [error for _, error in outcomes if error is not None]
    assert len(charged) == 5
    assert sorted(type(error).__name__ for error in refused) == sorted(
        [InsufficientCreditsError.__name__] * (WRITERS - 5) + [NotFoundError.__name__]
    )
    # One commit for the group (the refusals' own `balance.depleted` check reads only: the
    # group emptied the pool, so it is depleted already).
    assert writer_of(busy).stats.commits == 1
    assert [event.type for event in ledger.events().data] == ["balance.depleted"]
    # Merged charges answer their refusals themselves: no savepoints, no second run.
    assert writer_of(busy).stats.reruns == 0
    assert ledger.balance(account).pools["credits"].available == Credits.of(0)
    assert ledger.verify().ok


def test_a_refusal_among_other_writes_runs_the_group_with_savepoints(
    ledger: Ledger, commits: list[int]
) -> None:
    account = open_account(ledger, "hot", 100)
    busy = grouped(ledger)
    commits.clear()
    calls: list[Callable[[], Any]] = [
        lambda: busy.grant(account, Credits.of(1), source="bonus")
    ] * (WRITERS - 1)
    calls.append(lambda: busy.grant("missing", Credits.of(1), source="bonus"))
    outcomes = at_once(calls)
    refused = [error for _, error in outcomes if error is not None]
    assert [type(error) for error in refused] == [NotFoundError]
    # Run without savepoints first; the refusal ran the group again with them.
    assert writer_of(busy).stats.reruns == 1
    assert writer_of(busy).stats.commits == 1 and len(commits) == 1
    assert ledger.balance(account).pools["credits"].available == Credits.of(100 + WRITERS - 1)
    assert ledger.verify().ok


def test_merged_charges_lock_each_account_once(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A group of charges locks and reads each account once, whatever the group's size,
    and each charge still sees the ones before it (the last ones are refused)."""
    hot_account, other = open_account(ledger, "hot", 6), open_account(ledger, "other", 100)
    busy = grouped(ledger)
    locks: list[list[str]] = []
    lock = hot.lock

    def counting(connection: Connection, account_ids: Any, *args: Any, **kwargs: Any) -> Any:
        locks.append(sorted(account_ids))
        return lock(connection, account_ids, *args, **kwargs)

    monkeypatch.setattr(hot, "lock", counting)
    calls: list[Callable[[], Any]] = [
        lambda: busy.charge(hot_account, Credits.of(2)),
        lambda: busy.charge(other, Credits.of(1)),
    ] * (WRITERS // 2)
    outcomes = at_once(calls)
    monkeypatch.undo()
    group_locks = [ids for ids in locks if len(ids) == 2]
    assert group_locks == [sorted([hot_account, other])]
    assert writer_of(busy).stats.commits == 1
    refused = [error for _, error in outcomes if error is not None]
    assert len(refused) == WRITERS // 2 - 3
    assert all(isinstance(error, InsufficientCreditsError) for error in refused)
    assert ledger.balance(hot_account).pools["credits"].available == Credits.of(0)
    assert ledger.balance(other).pools["credits"].available == Credits.of(100 - WRITERS // 2)
    assert ledger.verify().ok


def test_one_idempotency_key_in_a_group_charges_once(ledger: Ledger) -> None:
    account = open_account(ledger, "hot", 100)
    busy = grouped(ledger)
    outcomes = at_once(
        [lambda: busy.charge(account, Credits.of(3), idempotency_key="once")] * WRITERS
    )
    assert all(error is None for _, error in outcomes)
    assert len({charge.charge_id for charge, _ in outcomes}) == 1
    assert sum(not charge.replayed for charge, _ in outcomes) == 1
    assert ledger.balance(account).pools["credits"].available == Credits.of(97)


def test_a_database_error_runs_the_group_alone(ledger: Ledger, commits: list[int]) -> None:
    """A write the database refuses breaks the group's transaction: every write then runs
    alone, so the others still commit and the broken one gets its error."""
    account = open_account(ledger, "hot", 100)
    busy = grouped(ledger)
    commits.clear()

    def broken(connection: Connection) -> None:
        connection.execute(text("SELECT * FROM no_such_table"))

    calls: list[Callable[[], Any]] = [lambda: busy.charge(account, Credits.of(1))] * (WRITERS - 1)
    calls.append(lambda: busy._context.run(broken))
    outcomes = at_once(calls)
    errors = [error for _, error in outcomes if error is not None]
    assert len(errors) == 1 and isinstance(errors[0], DBAPIError)
    assert writer_of(busy).stats.fallbacks == 1
    assert writer_of(busy).stats.commits == 0
    assert len(commits) == WRITERS - 1  # each good write alone
    assert ledger.balance(account).pools["credits"].available == Credits.of(100 - WRITERS + 1)


def test_a_write_alone_runs_as_without_grouping(ledger: Ledger, commits: list[int]) -> None:
    account = open_account(ledger, "solo", 10)
    groups = writer_of(ledger).stats.groups
    commits.clear()
    ledger.charge(account, Credits.of(1))
    with pytest.raises(InsufficientCreditsError):
        ledger.charge(account, Credits.of(100))
    # The charge, and the refusal's `balance.depleted` in a transaction of its own.
    assert writer_of(ledger).stats.commits == 0  # groups of one are plain transactions
    assert writer_of(ledger).stats.groups == groups + 3
    assert [event.type for event in ledger.events().data] == ["balance.depleted"]


def test_group_commit_off(ledger: Ledger, commits: list[int]) -> None:
    account = open_account(ledger, "hot", 100)
    plain = Ledger(ledger.engine, ledger.clock, group_commit=False)
    assert plain._context.writer is None
    commits.clear()
    outcomes = at_once([lambda: plain.charge(account, Credits.of(1))] * WRITERS)
    assert all(error is None for _, error in outcomes)
    assert len(commits) == WRITERS


@pytest.mark.parametrize(
    ("size", "wait"), [(0, 0.0), (1, -1.0)], ids=["size below one", "negative wait"]
)
def test_settings_are_checked(size: int, wait: float) -> None:
    with pytest.raises(ValueError, match="group commit"):
        GroupCommitSettings(True, size, wait)


@pytest.mark.parametrize(
    ("last_size", "arrivals", "max_size", "taken", "yields"),
    [
        (2, 3, 64, 4, 4),  # yields while callers keep queueing, then once to see none came
        (2, 20, 64, 21, 21),  # each yield that brought a caller is followed by another
        (2, 100, 64, 64, 63),  # until a full group is queued
        (2, 20, 3, 3, 2),  # no yield once a full group is queued
        (1, 3, 64, 1, 0),  # after a write alone, no yield: an idle ledger adds no latency
    ],
)
def test_a_busy_leader_lets_answered_callers_join_its_group(
    ledger: Ledger,
    monkeypatch: pytest.MonkeyPatch,
    last_size: int,
    arrivals: int,
    max_size: int,
    taken: int,
    yields: int,
) -> None:
    """Each yield of the leader lets one more caller queue (a stand-in for the threads the
    last group answered)."""
    writer = GroupWriter(ledger._context, GroupCommitSettings(True, max_size, 0.0))
    writer._last_size = last_size
    writer._queue.append(_Write(lambda _: None))
    slept: list[float] = []

    def yield_once(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) <= arrivals:
            writer._queue.append(_Write(lambda _: None))

    monkeypatch.setattr(group_commit.time, "sleep", yield_once)
    assert len(writer._take()) == taken
    assert slept == [0] * yields
    writer.close()


def test_deadlocked_groups_of_two_processes_retry(ledger: Ledger, database_url: str) -> None:
    """Two ledgers (two processes' pools) whose groups lock two accounts in opposite
    orders: PostgreSQL breaks the deadlock, the refused group runs again, and every
    charge is applied exactly once."""
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite locks the whole database: its writers cannot deadlock")
    for account_id in ("x", "y", "z", "w"):
        open_account(ledger, account_id, 100)
    first, second = (
        Ledger(make_engine(database_url), ledger.clock, group_max_size=2, group_max_wait_s=GATHER_S)
        for _ in range(2)
    )

    def cross(on: Ledger, one: str, other: str) -> Callable[[], None]:
        def body(connection: Connection) -> None:
            on._context.lock(connection, one, on.now())
            time.sleep(0.5)  # both groups hold their first account now
            on._context.lock(connection, other, on.now())

        return lambda: on._context.run(body)

    try:
        outcomes = at_once(
            [
                cross(first, "x", "y"),
                lambda: first.charge("z", Credits.of(1)),
                cross(second, "y", "x"),
                lambda: second.charge("w", Credits.of(1)),
            ]
        )
        assert [error for _, error in outcomes] == [None] * 4
        stats = [writer_of(first).stats, writer_of(second).stats]
        assert sum(s.retries for s in stats) >= 1
        assert sum(s.commits for s in stats) == 2
    finally:
        first.close()
        second.close()
    for account_id in ("z", "w"):
        assert ledger.balance(account_id).pools["credits"].available == Credits.of(99)
    assert ledger.verify().ok


def test_a_failed_commit_answers_no_write_as_done(ledger: Ledger, database_url: str) -> None:
    """Both writes of a group run, then its commit fails (a deferred unique constraint):
    neither caller hears the success its body returned; run alone, the first commits and
    the second gets the database's refusal."""
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite checks constraints at once: a commit cannot fail on them")
    with ledger.engine.begin() as connection:
        connection.execute(
            text(
                "CREATE TABLE group_probe (id int, CONSTRAINT group_probe_once UNIQUE (id)"
                " DEFERRABLE INITIALLY DEFERRED)"
            )
        )
    try:
        busy = grouped(ledger, 2)

        def insert(connection: Connection) -> str:
            connection.execute(text("INSERT INTO group_probe VALUES (1)"))
            return "inserted"

        outcomes = at_once([lambda: busy._context.run(insert)] * 2)
        assert sorted(str(value) for value, _ in outcomes) == ["None", "inserted"]
        assert sum(isinstance(error, DBAPIError) for _, error in outcomes) == 1
        assert writer_of(busy).stats.commits == 0
        assert writer_of(busy).stats.fallbacks == 1
        with ledger.engine.connect() as connection:
            count = connection.execute(text("SELECT count(*) FROM group_probe")).scalar_one()
        assert count == 1
    finally:
        with ledger.engine.begin() as connection:
            connection.execute(text("DROP TABLE group_probe"))


def test_the_writer_keeps_its_connection_between_groups(ledger: Ledger) -> None:
    """Writes take no connection from the pool: the writer keeps one from group to group.
    A refusal or a database error (rolled back) leaves it in use; an interrupted write
    gives it up, and the next write takes a fresh one. (A dropped connection is replaced:
    test_hot_path.test_a_dropped_connection_is_retried_once.)"""
    account = open_account(ledger, "kept", 10)
    taken: list[int] = []
    event.listen(ledger.engine, "checkout", lambda *_: taken.append(1))
    for _ in range(3):
        ledger.charge(account, Credits.of(1))
    assert taken == []
    with pytest.raises(InsufficientCreditsError):
        ledger.charge(account, Credits.of(100))  # reads the account's alerts from the pool
    taken.clear()

    def broken(connection: Connection) -> None:
        connection.execute(text("SELECT * FROM no_such_table"))

    with pytest.raises(DBAPIError):
        ledger._context.run(broken)
    ledger.charge(account, Credits.of(1))
    assert taken == []

    def interrupted(connection: Connection) -> None:
        connection.execute(text("SELECT 1"))
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ledger._context.run(interrupted)
    ledger.charge(account, Credits.of(1))
    ledger.charge(account, Credits.of(1))
    assert taken == [1]
    assert ledger.balance(account).pools["credits"].available == Credits.of(4)


def _backends(admin: Engine) -> int:
    """Client backends on the database, other than the one asking."""
    with admin.connect() as connection:
        return int(
            connection.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalar_one()
        )


def _settles_at(admin: Engine, expected: int) -> int:
    """The backend count once it is down to `expected` (a backend leaves soon after its
    client closes), or as it stands after GATHER_S."""
    deadline = time.monotonic() + GATHER_S
    while (left := _backends(admin)) > expected and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


@contextmanager
def _counted_backends(url: str) -> Iterator[tuple[Engine, int]]:
    """An engine to count the database's backends with, and their number before the test
    opens its own."""
    admin = make_engine(url)
    try:
        gc.collect()  # ledgers other tests dropped give their connections back first
        yield admin, _backends(admin)
    finally:
        admin.dispose()


def test_closing_the_ledger_closes_the_writers_connection(
    postgres_database_url: str, clock: ManualClock
) -> None:
    with _counted_backends(postgres_database_url) as (admin, before):
        ledger = Ledger(make_engine(postgres_database_url), clock)
        account = open_account(ledger, "closed", 10)
        ledger.charge(account, Credits.of(1))
        assert _backends(admin) > before
        ledger.close()
        assert _settles_at(admin, before) <= before


def test_closing_the_ledger_during_a_group_closes_the_connection_after_it(
    postgres_database_url: str, clock: ManualClock
) -> None:
    """The group being run keeps the connection it writes on, and closes it once it has
    committed: no backend is left behind."""
    with _counted_backends(postgres_database_url) as (admin, before):
        ledger = Ledger(make_engine(postgres_database_url), clock)
        account = open_account(ledger, "closing", 10)
        inside, go_on = threading.Event(), threading.Event()

        def body(connection: Connection) -> int:
            inside.set()
            go_on.wait(GATHER_S)
            return len(hot.lock(connection, [account], clock.now(), grants=False))

        with ThreadPoolExecutor(1) as pool:
            running = pool.submit(writer_of(ledger).submit, body)
            assert inside.wait(GATHER_S)
            ledger.close()
            assert _backends(admin) > before  # the group still writes on it
            go_on.set()
            assert running.result(GATHER_S) == 1
        assert _settles_at(admin, before) <= before


def test_a_writer_dropped_unclosed_closes_its_connection(
    postgres_database_url: str, clock: ManualClock
) -> None:
    """Dropping a ledger without `close()` (its engine still in use elsewhere) closes the
    writer's connection when the ledger is collected; the pool's stay open. Closed, not
    merely collected: psycopg warns of a connection collected open, and the suite's
    warnings are errors."""
    admin = make_engine(postgres_database_url)
    engine = make_engine(postgres_database_url)
    try:
        ledger = Ledger(engine, clock)
        account = open_account(ledger, "dropped", 10)
        ledger.charge(account, Credits.of(1))
        ledger.balance(account)  # a read: a connection in the pool
        gc.collect()  # ledgers other tests dropped give their connections back first
        before = _backends(admin)
        del ledger
        gc.collect()
        assert _settles_at(admin, before - 1) == before - 1
    finally:
        engine.dispose()
        admin.dispose()
