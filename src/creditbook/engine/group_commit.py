"""Group commit: concurrent writes of one process share one transaction and one commit.

Each write is a body `Context.run` would run in a transaction of its own. The first
writer to arrive while none is running leads: it takes the writes queued so far (up to
`max_size`, after waiting up to `max_wait_s` for more), runs each in arrival order in one
transaction, commits once, and only then hands every caller its own
result or its own refusal. Writes that arrive meanwhile queue; when the leader is done
the first of them leads the next group. A write alone runs exactly as without grouping.
A write awaited on an event loop (`submit_async`) waits without a thread: when it has to
lead, the writer's own thread leads for it.

A refusal (any exception that is not the database's) must undo that write alone. A group
first runs with no savepoints (two statements fewer per write, while the group holds its
locks); when one of its writes refuses, the whole transaction rolls back and the group runs
again with each write in a SAVEPOINT, so that a refusal rolls back its own write only
(and the next group starts that way too, until one passes without a refusal).

Writes of one kind can also be merged: a write submitted with `merge` (a function that
runs a list of such writes on one connection, each item's value or refusal in order) runs
together with the writes of the same `merge` that queued next to it, in one call. Charges
use it: a run of charges locks each account once, reads its grants once and writes every
table once, instead of once per charge, which is what makes a busy account cheap. A
merge function answers each item's refusal as its outcome and leaves the transaction as if
that item had not been asked; when it raises instead, the group runs again with each write
alone in its savepoint, as any refusal does.

When the database refuses the group (a deadlock with another process, a lock timeout, a
unique key taken by another process…) the whole transaction rolls back and the group runs
again; when that keeps failing, or the error is not worth another try, each
write runs alone. A failed commit that another try can get past runs the group again;
any other failed commit reaches every caller of the group, as it would a write alone:
no caller hears success for a write that did not commit, and none runs twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from creditbook.engine.context import Context
from creditbook.engine.context import _retryable as retryable

T = TypeVar("T")
log = logging.getLogger("creditbook.group_commit")

# Runs several writes of one kind on one connection: each item's (value, refusal), in order.
Merge = Callable[[Context, Connection, list[Any]], list[tuple[Any, Exception | None]]]

DEFAULT_MAX_SIZE = 64
DEFAULT_MAX_WAIT_S = 0.0
GROUP_RETRIES = 3


@dataclass(frozen=True, slots=True)
class GroupCommitSettings:
    """How writes are grouped.

    Attributes:
        enabled: group concurrent writes (off: every write is its own transaction).
        max_size: the most writes one transaction takes.
        max_wait_s: how long a group's leader waits for more writes before it runs a
            group smaller than `max_size`; 0 takes what queued while the previous group
            committed, which adds no latency to a write that finds the ledger idle.
    """

    enabled: bool = True
    max_size: int = DEFAULT_MAX_SIZE
    max_wait_s: float = DEFAULT_MAX_WAIT_S

    def __post_init__(self) -> None:
        if self.max_size < 1:
            raise ValueError("group commit max_size must be at least 1")
        if self.max_wait_s < 0:
            raise ValueError("group commit max_wait_s must not be negative")


@dataclass
class GroupStats:
    """What the writer did so far (for tests and benchmarks)."""

    groups: int = 0
    writes: int = 0
    commits: int = 0
    retries: int = 0
    reruns: int = 0
    fallbacks: int = 0


def _held_lock() -> Any:
    lock = threading.Lock()
    lock.acquire()
    return lock


@dataclass(eq=False)
class _Write:
    body: Callable[[Connection], Any]
    merge: Merge | None = None
    item: Any = None
    # A thread's write: held until the write is resolved or promoted to lead (exactly one
    # of them happens once); a bare lock wakes its waiter at a fraction of an Event's cost.
    wake: Any = field(default_factory=_held_lock)
    # An awaited write (`submit_async`): its future, set on its event loop.
    future: asyncio.Future[Any] | None = None
    done: bool = False
    value: Any = None
    error: BaseException | None = None

    def resolve(self, value: Any = None, error: BaseException | None = None) -> None:
        self.value, self.error, self.done = value, error, True
        if self.future is None:
            self.wake.release()
            return
        with contextlib.suppress(RuntimeError):  # its loop closed: nobody is waiting
            self.future.get_loop().call_soon_threadsafe(_settle, self.future, value, error)

    def outcome(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.value


def _settle(future: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
    """Answer an awaited write on its event loop (unless its caller gave up waiting)."""
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)


class _Refused(Exception):
    """A write of a group run without savepoints refused: the group runs again with them."""


class _GroupFailed(Exception):
    """The database refused the group; `at_commit` says whether in its commit."""

    def __init__(self, error: DBAPIError, *, at_commit: bool) -> None:
        super().__init__(str(error))
        self.error = error
        self.at_commit = at_commit


class _Lender:
    """The writer's connection, kept from one group to the next. Taking a connection from
    the pool and giving it back cost a tenth of a single charge's CPU (measured); only the
    group being run uses this one, so one is enough. It is taken from the pool once and
    detached from it: it is the writer's own until it is released, which closes it.

    A write that fails (a refusal, or the database's error) was rolled back and leaves the
    connection usable. A connection that dropped (SQLAlchemy and the hot path mark it
    invalidated), one left with a transaction (a failed commit leaves it), or one
    interrupted mid-statement (the driver's state is unknown) is released, and the next
    group takes a fresh one."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._connection: Connection | None = None

    @contextlib.contextmanager
    def lend(self) -> Iterator[Connection]:
        connection = self._connection
        if connection is None:
            connection = self._engine.connect()
            # Out of the pool's count: a disposed pool (`Engine.dispose`, or the `close` of
            # another ledger on the same engine) neither waits for it nor leaves it open.
            connection.detach()
            self._connection = connection
        try:
            yield connection
        except BaseException as error:
            if not isinstance(error, Exception):  # interrupted: the driver's state is unknown
                self.release()
            raise
        finally:
            # A failed commit leaves its (inactive) transaction on the connection.
            if connection.invalidated or connection.get_transaction() is not None:
                self.release()

    def release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(DBAPIError):  # a dead connection is discarded
                connection.close()


def _leader_thread() -> ThreadPoolExecutor:
    """The writer's own thread, which leads the groups whose first write is awaited (it
    starts on first use)."""
    return ThreadPoolExecutor(1, thread_name_prefix="creditbook-group-commit")


class GroupWriter:
    """Gathers one process's concurrent writes to one database into shared commits."""

    def __init__(self, context: Context, settings: GroupCommitSettings) -> None:
        self.context = context
        self.settings = settings
        self.stats = GroupStats()
        self._queue: deque[_Write] = deque()
        self._arrived = threading.Condition()
        self._leading = False
        self._closed = False  # closed: the connection is given up whenever no group runs
        self._careful = False  # the last group had a refusal: use savepoints from the start
        self._local = threading.local()
        self._last_size = 0  # the size of the last group run
        self._leader = _leader_thread()
        self._lender = _Lender(context.engine)
        # A writer dropped without close() closes its connection when it is collected.
        weakref.finalize(self, self._lender.release)

    @property
    def engine(self) -> Engine:
        return self.context.engine

    def active(self) -> bool:
        """Whether this thread is running a group now (its writes then run directly)."""
        return bool(getattr(self._local, "active", False))

    def submit(
        self, body: Callable[[Connection], T], *, merge: Merge | None = None, item: Any = None
    ) -> T:
        """Run `body` in a group; its result or its exception once the group committed.
        With `merge`, the write may instead run as `item` of one `merge` call with its
        neighbours of the same `merge` (`body` must do what `merge` does for one item)."""
        write = _Write(body, merge, item)
        if not self._enqueue(write):
            write.wake.acquire()
            if write.done:
                return cast(T, write.outcome())
        self._lead()
        return cast(T, write.outcome())

    async def submit_async(
        self, body: Callable[[Connection], T], *, merge: Merge | None = None, item: Any = None
    ) -> T:
        """`submit` for a caller on an event loop: the write waits for its group without a
        thread. A group that an awaited write must lead runs on the writer's own thread
        (one at a time, as every group)."""
        future = asyncio.get_running_loop().create_future()
        write = _Write(body, merge, item, wake=None, future=future)
        if self._enqueue(write):
            self._lead_on_thread()
        return cast(T, await future)

    def _enqueue(self, write: _Write) -> bool:
        """Queue the write; whether it leads (no group was running)."""
        with self._arrived:
            self._queue.append(write)
            lead = not self._leading
            self._leading = True
            self._arrived.notify()
        return lead

    def _lead_on_thread(self) -> None:
        """Lead the next group on the writer's thread (for an awaited write at the head)."""
        self._leader.submit(self._lead_logged)

    def _lead_logged(self) -> None:
        try:
            self._lead()
        except Exception:
            # Every write of the group has this error as its outcome already; the thread
            # has no caller of its own to raise it to.
            log.exception("a group commit failed")

    def close(self) -> None:
        """Stop the writer's thread once it has run the groups it was given, and close the
        connection once no group runs (the group being run closes it when it is done). A
        write that comes later still runs, on a connection of its own that its group
        closes, and an awaited one starts a new thread."""
        leader, self._leader = self._leader, _leader_thread()
        leader.shutdown()
        with self._arrived:
            self._closed = True
            if not self._leading:
                self._lender.release()

    def _lead(self) -> None:
        """Run one group (this thread's write is its first), then pass the lead on."""
        group: list[_Write] = []
        try:
            group = self._take()
            self._local.active = True
            self._run(group)
        except BaseException as error:
            for write in group:
                if not write.done:
                    write.resolve(error=error)
            raise
        finally:
            self._local.active = False
            with self._arrived:
                if not self._queue:
                    self._leading = False
                    if self._closed:
                        self._lender.release()
                elif self._queue[0].future is None:
                    self._queue[0].wake.release()  # promoted: it leads the next group
                else:
                    self._lead_on_thread()  # promoted: the writer's thread leads for it

    def _take(self) -> list[_Write]:
        size, wait = self.settings.max_size, self.settings.max_wait_s
        if self._last_size > 1:
            self._let_callers_in(size)
        with self._arrived:
            if wait > 0:
                deadline = time.monotonic() + wait
                while len(self._queue) < size:
                    left = deadline - time.monotonic()
                    if left <= 0 or not self._arrived.wait(left):
                        break
            return [self._queue.popleft() for _ in range(min(size, len(self._queue)))]

    def _let_callers_in(self, size: int) -> None:
        """Busy: the callers the last group just answered are about to write again. Letting
        them run first joins them to this group instead of leaving them for the next: fewer,
        fuller groups, and no timed wait. The leader yields the interpreter (a bare
        `sleep(0)`) as long as each yield brings more writes, until a full group is queued:
        every yield but the last adds to the group, so there are at most `size` of them."""
        queued = len(self._queue)
        while queued < size:
            time.sleep(0)
            now_queued = len(self._queue)
            if now_queued == queued:
                return
            queued = now_queued

    def _run(self, group: list[_Write]) -> None:
        self._last_size = len(group)
        self.stats.groups += 1
        self.stats.writes += len(group)
        if len(group) == 1:
            self._alone(group[0])
            return
        attempt = 0
        while attempt < GROUP_RETRIES:
            careful = self._careful
            try:
                outcomes = self._transaction(group, careful)
            except _Refused:
                self._careful = True  # run it again, each write in its savepoint
                self.stats.reruns += 1
                continue
            except _GroupFailed as failed:
                attempt += 1
                if not retryable(failed.error):
                    if failed.at_commit:
                        for write in group:
                            write.resolve(error=failed.error)
                        return
                    break
                if attempt < GROUP_RETRIES:
                    self.stats.retries += 1
                    # jittered, so two processes' groups that deadlocked do not meet again
                    time.sleep(0.001 * 2**attempt * (1 + random.random()))
                continue
            self.stats.commits += 1
            self._careful = careful and any(error is not None for _, error in outcomes)
            for write, (value, error) in zip(group, outcomes, strict=True):
                write.resolve(value, error)
            return
        self.stats.fallbacks += 1
        for write in group:
            self._alone(write)

    def _alone(self, write: _Write) -> None:
        """Run one write in its own transaction, with `Context.run`'s retries."""
        try:
            value = self.context.run(write.body, lend=self._lender.lend)
        except Exception as error:
            write.resolve(error=error)
        else:
            write.resolve(value)

    def _transaction(
        self, group: list[_Write], careful: bool
    ) -> list[tuple[Any, Exception | None]]:
        """Run the group in one transaction and commit once; `careful`: each write in its
        savepoint, else `_Refused` (all rolled back) when one of them refuses."""
        try:
            with self._lender.lend() as connection:
                return self._transaction_on(connection, group, careful)
        except DBAPIError as error:  # no connection could be taken
            raise _GroupFailed(error, at_commit=False) from error

    def _transaction_on(
        self, connection: Connection, group: list[_Write], careful: bool
    ) -> list[tuple[Any, Exception | None]]:
        outcomes: list[tuple[Any, Exception | None]] = []
        try:
            transaction = connection.begin()  # SQLite: waits here for the write lock
        except DBAPIError as error:
            raise _GroupFailed(error, at_commit=False) from error
        try:
            for run in _runs(group):
                if len(run) > 1:
                    outcomes.extend(_merged(self.context, connection, run, careful))
                elif careful:
                    outcomes.append(_in_savepoint(connection, run[0].body))
                else:
                    outcomes.append((_refusing(run[0].body, connection), None))
        except BaseException as error:
            with contextlib.suppress(DBAPIError):  # a dead connection is discarded
                transaction.rollback()
            if isinstance(error, DBAPIError):
                raise _GroupFailed(error, at_commit=False) from error
            raise
        try:
            transaction.commit()
        except DBAPIError as error:
            raise _GroupFailed(error, at_commit=True) from error
        return outcomes


def _runs(group: list[_Write]) -> list[list[_Write]]:
    """The group in arrival order, cut into runs: neighbours with the same merge function
    share a run; every other write is a run of its own."""
    runs: list[list[_Write]] = []
    for write in group:
        if runs and write.merge is not None and runs[-1][0].merge is write.merge:
            runs[-1].append(write)
        else:
            runs.append([write])
    return runs


def _merged(
    context: Context, connection: Connection, run: list[_Write], careful: bool
) -> list[tuple[Any, Exception | None]]:
    """Run writes of one merge function in one call. When the call itself raises, careful
    mode undoes it (a savepoint) and runs each write alone in its own savepoint; otherwise
    the group is run again carefully."""
    merge = cast(Merge, run[0].merge)
    items = [write.item for write in run]
    if not careful:
        try:
            return merge(context, connection, items)
        except DBAPIError:
            raise
        except Exception as error:
            raise _Refused from error
    savepoint = connection.begin_nested()
    try:
        outcomes = merge(context, connection, items)
    except DBAPIError:
        raise
    except Exception:
        savepoint.rollback()
        return [_in_savepoint(connection, write.body) for write in run]
    savepoint.commit()
    return outcomes


def _refusing(body: Callable[[Connection], Any], connection: Connection) -> Any:
    """Run `body` with no savepoint: a refusal becomes `_Refused`."""
    try:
        return body(connection)
    except DBAPIError:
        raise
    except Exception as error:
        raise _Refused from error


def _in_savepoint(
    connection: Connection, body: Callable[[Connection], Any]
) -> tuple[Any, Exception | None]:
    """Run `body` in a savepoint: its value, or its refusal with its writes undone. The
    database's own errors propagate: they may have broken the whole transaction."""
    savepoint = connection.begin_nested()
    try:
        value = body(connection)
    except DBAPIError:
        raise
    except Exception as error:
        savepoint.rollback()
        return None, error
    savepoint.commit()
    return value, None
