"""What every ledger operation shares: the database, the clock, the transaction runner
with its retries, the account lock, and the caches of plans and rate cards."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from contextvars import ContextVar
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from anyio import to_thread
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from creditbook.domain.errors import NotFoundError
from creditbook.domain.periods import require_aware
from creditbook.domain.plans import Plan
from creditbook.domain.rates import RateCard
from creditbook.engine.account.state import DEFAULT_EXPIRING_NOTICE, AccountTx
from creditbook.engine.clock import Clock
from creditbook.engine.codec import card_from_body, plan_from_body
from creditbook.store.database import READ_ONLY
from creditbook.store.queries import hot
from creditbook.store.queries import pricing as pricing_queries

if TYPE_CHECKING:
    from creditbook.engine.group_commit import GroupWriter, Merge

T = TypeVar("T")
MAX_RETRIES = 8
# The connection whose transaction `Context.run` runs for one body alone (not a group's
# transaction shared by several writes): a write alone on it may commit by itself.
_ALONE: ContextVar[Connection | None] = ContextVar("creditbook_alone", default=None)


def _retryable(error: DBAPIError) -> bool:
    """Lock timeouts, deadlocks and serialisation failures are worth another try. (A
    dropped connection is retried once, by `Context.run`.)"""
    if isinstance(error, IntegrityError):
        return True  # two first uses of one idempotency key: the retry replays
    code = getattr(error.orig, "sqlstate", None)
    if code in ("40001", "40P01", "55P03"):
        return True
    return isinstance(error, OperationalError) and "locked" in str(error.orig).lower()


class Context:
    """The ledger's shared state; operations take it as their first argument.

    Attributes:
        engine: the database.
        clock: where `now` comes from.
        plans, cards: parsed plans and rate cards by (id, version); a new version is a
            new key, so entries never go stale.
        writer: gathers concurrent writes into shared commits (None: each alone).
        expiring_notice: how long before a grant with credits left expires its
            `credits.expiring` event goes out.
    """

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock
        self.plans: dict[tuple[str, int], Plan] = {}
        self.cards: dict[tuple[str, int], RateCard] = {}
        self.writer: GroupWriter | None = None
        self.expiring_notice = DEFAULT_EXPIRING_NOTICE

    def now(self) -> datetime:
        return require_aware(self.clock.now())

    def run(
        self,
        body: Callable[[Connection], T],
        *,
        read_only: bool = False,
        lend: Callable[[], AbstractContextManager[Connection]] | None = None,
    ) -> T:
        """Run `body` in one transaction, again (after a short back-off) when the database
        refused it for a reason another try can get past. A write goes to the group
        writer when there is one (see `creditbook.engine.group_commit`).

        A connection that dropped (a restarted server, a pooled connection gone stale) is
        retried once on a new connection, but only when it dropped before the commit was
        sent: a commit whose outcome is unknown is never run again (nor is a write that
        commits by itself, see `hot.commits_alone`). Pooled connections are
        not pinged before use; this retry takes the ping's place.

        `lend` gives the connection to use (the group writer keeps one); by default each
        transaction takes one from the pool."""
        if not read_only and self.writer is not None and not self.writer.active():
            return self.writer.submit(body)
        reconnected = False
        for attempt in range(MAX_RETRIES):
            committing = False
            try:
                lent = self._pooled(read_only) if lend is None else lend()
                with lent as connection, connection.begin():
                    alone = _ALONE.set(connection)
                    try:
                        result = body(connection)
                    finally:
                        _ALONE.reset(alone)
                    committing = True
                return result
            except DBAPIError as error:
                unsent = not committing and not hot.outcome_unknown(error)
                if error.connection_invalidated and unsent and not reconnected:
                    reconnected = True
                    continue
                if attempt + 1 == MAX_RETRIES or not _retryable(error):
                    raise
                time.sleep(0.001 * 2**attempt)
        raise AssertionError("unreachable")

    @staticmethod
    def runs_alone(connection: Connection) -> bool:
        """Whether the transaction on `connection` is `run`'s for one body alone, so that
        nothing else will be written in it (a group's transaction is shared by several)."""
        return _ALONE.get() is connection

    def _pooled(self, read_only: bool) -> Connection:
        connection = self.engine.connect()
        return connection.execution_options(**{READ_ONLY: True}) if read_only else connection

    def run_merged(self, merge: Merge, item: Any) -> Any:
        """Run one write that the group writer may merge with its neighbours of the same
        `merge` (see `creditbook.engine.group_commit`); alone, `merge` runs it by itself in
        its own transaction. Its value, or its refusal raised."""
        body = self._merged_body(merge, item)
        if self.writer is not None and not self.writer.active():
            return self.writer.submit(body, merge=merge, item=item)
        return self.run(body)

    async def run_merged_async(self, merge: Merge, item: Any) -> Any:
        """`run_merged` for a caller on an event loop: it waits for its group without a
        thread (without group commit, it runs on a worker thread)."""
        if self.writer is None:
            return await to_thread.run_sync(self.run_merged, merge, item)
        body = self._merged_body(merge, item)
        return await self.writer.submit_async(body, merge=merge, item=item)

    def _merged_body(self, merge: Merge, item: Any) -> Callable[[Connection], Any]:
        """The transaction body of one write of `merge` run by itself."""

        def body(connection: Connection) -> Any:
            [(value, error)] = merge(self, connection, [item])
            if error is not None:
                raise error
            return value

        return body

    def lock(
        self,
        connection: Connection,
        account_id: str,
        now: datetime,
        *,
        grants: bool = False,
        keys: list[str] | None = None,
    ) -> AccountTx:
        """Lock the account row and reserve one transfer number, in one statement (which
        also reads the account's open grants when `grants`, for writes that draw on them,
        and the answers stored under `keys`)."""
        locked = self.lock_many(connection, [account_id], now, grants=grants, keys=keys)
        tx = locked.get(account_id)
        if tx is None:
            raise NotFoundError("account", account_id)
        return tx

    def in_account(self, account_id: str, body: Callable[[AccountTx], T]) -> T:
        """Run `body` on the locked, caught-up account in one transaction, the events it
        emits settled at its end (writes without an idempotency key of their own)."""

        def transaction(connection: Connection) -> T:
            tx = self.lock(connection, account_id, self.now())
            tx.catch_up()
            result = body(tx)
            tx.finish()
            return result

        return self.run(transaction)

    def lock_many(
        self,
        connection: Connection,
        account_ids: list[str],
        now: datetime,
        *,
        grants: bool,
        keys: list[str] | None = None,
        reserved: int = 1,
    ) -> dict[str, AccountTx]:
        """Lock the accounts that exist (in account-id order, one statement), as lock(),
        reading the answers stored under `keys` in their scopes too; one account may have
        `reserved` transfer numbers reserved at once (`hot.lock`)."""
        found_all = hot.lock(
            connection, account_ids, now, grants=grants, keys=keys or (), reserved=reserved
        )
        return {
            account_id: self.account_tx(connection, found, now)
            for account_id, found in found_all.items()
        }

    def account_tx(self, connection: Connection, found: hot.Locked, now: datetime) -> AccountTx:
        """The transaction state of an account as the lock (or `hot.peek`) read it."""
        row = found.row
        plan = self.plans.get((row.plan_id, row.plan_version))
        if plan is None:
            plan = self.plan(connection, row.plan_id)
        tx = AccountTx(connection, row, plan, now, reserved=found.reserved)
        tx.prefetched = found.grants
        tx.stored_keys = found.stored
        tx.expiring_notice = self.expiring_notice
        return tx

    def plan(self, connection: Connection, plan_id: str) -> Plan:
        """The plan's current version, parsed once per version."""
        row = pricing_queries.plan_version(connection, plan_id)
        if row is None:
            raise NotFoundError("plan", plan_id)
        cache_key = (plan_id, row.version)
        plan = self.plans.get(cache_key)
        if plan is None:
            body = pricing_queries.plan_body(connection, plan_id)
            plan = self.plans[cache_key] = plan_from_body(body)
        return plan

    def card(self, connection: Connection, rate_card_id: str) -> RateCard:
        """The rate card's current version, parsed once per version."""
        row = pricing_queries.rate_card(connection, rate_card_id)
        if row is None:
            raise NotFoundError("rate card", rate_card_id)
        cache_key = (rate_card_id, row.version)
        card = self.cards.get(cache_key)
        if card is None:
            card = self.cards[cache_key] = card_from_body(row.body)
        return card
