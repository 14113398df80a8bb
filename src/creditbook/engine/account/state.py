"""One write transaction on one account: the locked account's state.

Every write first locks the account row (`SELECT … FOR UPDATE` on PostgreSQL; SQLite's
`BEGIN IMMEDIATE` already serialises writers) and reserves a transfer sequence number in the
same statement. Under that lock the transaction catches the account up to the present
(expiries, rollovers, resets — each applied once, stamped with the instant it was due) and
then does its work. Balances are materialised by `post`, which is the only writer of entries
and applies each entry to the grant or hold it names, so stored balances cannot drift from
the entries.

This module keeps the state (the locked row, sequence numbers, caches, what is left to write)
and `post`; the algorithms over it are functions in `spending`, `holding`, `catch_up` and
`flush`. The methods that only call one of them keep the transaction's interface in one
place for the operations.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from creditbook.domain.amounts import Credits
from creditbook.domain.errors import invariant
from creditbook.domain.grants import GrantSource, GrantView, TransactionType
from creditbook.domain.periods import PeriodCalendar
from creditbook.domain.plans import Plan
from creditbook.engine.account import catch_up, flush, holding, spending
from creditbook.engine.account.lines import (
    CUSTOMER_BOOKS,
    NO_ATTRIBUTION,
    Attribution,
    Book,
    Line,
    Posted,
    new_id,
)
from creditbook.engine.events import outbox
from creditbook.store.queries import deferred, hot

# Grants with credits left get a `credits.expiring` event this long before they expire.
DEFAULT_EXPIRING_NOTICE = timedelta(days=7)


class AccountTx:
    """The locked account and what a transaction on it needs.

    Attributes:
        connection: the transaction's connection.
        account_id, row: the locked account and its row as the lock read it.
        plan, now: the account's plan, and the instant the transaction acts at.
        timezone, anchor_at, period_index, next_event_at: the account's period state,
            written back by `finish` when changed.
        next_seq, reserved_seq: the next transfer number to take, and the last of the
            `reserved` numbers the lock reserved (the first is the first one taken).
        account_dirty: the period state changed and must be written back.
        deferred: post() and rollup() collect rows that `flush.flush_all` writes together
            (charges, batches); open grants are then read once per pool.
        grant_cache: deferred mode's open grants per pool, by grant id, kept current.
        pending_transfers, pending_entries: deferred rows not yet written.
        grant_deltas: deferred changes to grants' remaining credits, by grant id.
        rollups: deferred rollup sums [amount, quantity, charges] by rollup key.
        stored_keys: the answers stored under the idempotency keys the lock was asked
            for, by key (None: look keys up in the database).
        pending_keys: deferred answers to store, by idempotency key (the row to write).
        prefetched: the open grants by pool as the lock read them, kept current by `post`
            (None: not read, or no longer current). Deferred mode reads them from here
            instead of the database; any other write to grants drops them.
        alerts, alerts_dirty: the account's alert rules and state (see
            `creditbook.engine.events.outbox`), and whether they changed.
        last_event_seq, pending_events: the last event number taken, and the events
            `outbox.settle` writes at the end of the transaction.
        pool_changes: the pools a transfer changed, and whether credits arrived in them.
        last_transfer: the last transfer in each pool (what an alert event points at).
        refused: the amount of a charge refused for lack of credits, by pool.
        known_available: each pool's available credits as a flush left them (dropped by
            any later write to grants).
        held: what each hold read in this transaction holds per grant (its allocation
            rows, `creditbook.store.queries.holds.allocations`), kept current by `post`.
        expiring_notice: how long before a grant expires its `credits.expiring` goes out.
    """

    def __init__(
        self, connection: Connection, row: Any, plan: Plan, now: datetime, reserved: int = 1
    ):
        self.connection = connection
        self.account_id: str = row.account_id
        self.row = row
        self.plan = plan
        self.now = now
        self.timezone: str = row.timezone
        self.anchor_at: datetime = row.anchor_at
        self.period_index: int = row.period_index
        self.next_event_at: datetime = row.next_event_at
        # The lock reserved the numbers up to `row.last_seq`; numbers past it are written
        # back by finish(), and those left unused are skipped (as a refused charge's is).
        self.next_seq: int = row.last_seq - reserved + 1
        self.reserved_seq: int = row.last_seq
        self.account_dirty = False
        self.deferred = False
        self.grant_cache: dict[str, dict[str, GrantView]] = {}
        self.pending_transfers: list[dict[str, Any]] = []
        self.pending_entries: list[dict[str, Any]] = []
        self.grant_deltas: dict[str, int] = {}
        self.rollups: dict[tuple[Any, ...], list[int]] = {}
        self.stored_keys: dict[str, Any] | None = None
        self.pending_keys: dict[str, dict[str, Any]] = {}
        self.prefetched: dict[str, list[Any]] | None = None
        self.alerts: dict[str, Any] = dict(row.alerts or {})
        self.alerts_dirty = False
        self.last_event_seq: int = row.last_event_seq
        self.pending_events: list[dict[str, Any]] = []
        self.pool_changes: dict[str, bool] = {}
        self.last_transfer: dict[str, str] = {}
        self.refused: dict[str, int] = {}
        self.known_available: dict[str, int] = {}
        self.held: dict[str, list[Any]] = {}
        self.expiring_notice = DEFAULT_EXPIRING_NOTICE

    # -- sequence and account row -------------------------------------------------------

    def take_seq(self) -> int:
        seq = self.next_seq
        self.next_seq += 1
        return seq

    def calendar(self) -> PeriodCalendar:
        return PeriodCalendar(self.plan.interval, self.anchor_at, self.timezone)

    def mark_dirty(self) -> None:
        self.account_dirty = True

    def note_event(self, at: datetime) -> None:
        if at < self.next_event_at:
            self.next_event_at = at
            self.mark_dirty()

    def finish(self) -> None:
        """Write the transaction's events, and back what changed on the account row
        (sequence, period, next event)."""
        outbox.settle(self)
        changed = self.changes()
        if changed is not None:
            hot.update_accounts(self.connection, [changed])

    def last_seq(self) -> int:
        """The account's last transfer number once this transaction is written."""
        return max(self.next_seq - 1, self.reserved_seq)

    def changes(self) -> tuple[Any, ...] | None:
        """What `finish` writes back, as hot.update_accounts takes it (None: nothing)."""
        last_seq = self.last_seq()
        if last_seq == self.reserved_seq and not self.account_dirty:
            return None
        return self.write_back(last_seq)

    def write_back(self, last_seq: int) -> tuple[Any, ...]:
        """The account row's values `finish` writes, as hot.update_accounts takes them."""
        return (
            last_seq,
            self.period_index,
            self.next_event_at,
            self.anchor_at,
            self.plan.plan_id,
            self.account_id,
        )

    # -- entries --------------------------------------------------------------------------

    def post(
        self,
        kind: TransactionType,
        pool: str,
        lines: list[Line],
        *,
        description: str,
        created_at: datetime | None = None,
        attribution: Attribution = NO_ATTRIBUTION,
        linked_seq: int | None = None,
        quantity: int = 0,
    ) -> Posted:
        """Write one transfer and its entries, and apply them to grants and holds."""
        net, touches_holds = _checked_net(lines)
        seq = self.take_seq()
        transfer_id = new_id("txn_")
        at = created_at or self.now
        transfer = {
            "account_id": self.account_id,
            "seq": seq,
            "transfer_id": transfer_id,
            "type": kind.value,
            "pool": pool,
            "amount": net,
            "description": description,
            "created_at": at,
            "recorded_at": self.now,
            "linked_seq": linked_seq,
            **_attribution_columns(attribution),
            "quantity": quantity,
            "refunded": 0,
        }
        entries = _entry_rows(self.account_id, seq, lines)
        posted = Posted(seq, transfer_id, net, at)
        self.pool_changes[pool] = self.pool_changes.get(pool, False) or net > 0
        self.last_transfer[pool] = transfer_id
        if self.deferred and not touches_holds:
            flush.defer_post(self, pool, lines, transfer, entries)
            return posted
        self._keep_prefetched(lines)
        self._keep_held(lines)
        self.known_available = {}
        grants: dict[str, int] = {}
        holds: dict[str, int] = {}
        for line in lines:
            if line.book == "grant":
                grants[line.grant_id] = grants.get(line.grant_id, 0) + line.amount
            elif line.book == "hold":
                holds[line.hold_id] = holds.get(line.hold_id, 0) + line.amount
        deferred.write_transfer(self.connection, transfer, entries, grants, holds)
        return posted

    def _keep_prefetched(self, lines: list[Line]) -> None:
        """Keep the grants the lock read current with a transfer's grant lines, as `post`
        applies them to the grants' rows; drop them when a line names a grant the lock did
        not read (one not in effect yet), so they are read again."""
        if self.prefetched is None:
            return
        read = {row.grant_id: row for rows in self.prefetched.values() for row in rows}
        drawn = [line for line in lines if line.book == "grant"]
        if any(line.grant_id not in read for line in drawn):
            self.prefetched = None
            return
        for line in drawn:
            read[line.grant_id].remaining += line.amount

    def _keep_held(self, lines: list[Line]) -> None:
        """Keep what the holds read hold per grant current with a transfer's hold lines;
        forget a hold when a line names a grant it was not read with."""
        for line in lines:
            rows = self.held.get(line.hold_id) if line.book == "hold" else None
            if rows is None:
                continue
            row = next((row for row in rows if row.grant_id == line.grant_id), None)
            if row is None:
                del self.held[line.hold_id]
            else:
                row.held += line.amount

    # -- events (creditbook.engine.events.outbox) -----------------------------------------

    def emit(
        self,
        kind: str,
        pool: str,
        data: dict[str, Any],
        *,
        transfer_id: str = "",
        run_id: str = "",
    ) -> None:
        """Record an event, written with the transaction (amounts in `data` in millicredits)."""
        self.last_event_seq += 1
        links = {"transfer_id": transfer_id} if transfer_id else {}
        if run_id:
            links["run_id"] = run_id
        self.pending_events.append(
            {
                "account_id": self.account_id,
                "seq": self.last_event_seq,
                "event_id": new_id("evt_"),
                "type": kind,
                "pool": pool,
                "data": {**({"pool": pool} if pool else {}), **data, **links},
                "transfer_id": transfer_id,
                "run_id": run_id,
                "created_at": self.now,
            }
        )

    # -- grants and spending (spending.py) ----------------------------------------------

    def open_grants(self, pool: str) -> list[GrantView]:
        return spending.open_grants(self, pool)

    def create_grant(
        self,
        pool: str,
        source: GrantSource,
        *,
        priority: int | None = None,
        effective_at: datetime | None = None,
        expires_at: datetime | None = None,
        period_index: int | None = None,
        description: str = "",
    ) -> str:
        """Insert an empty grant; its credits arrive with the transfer that funds it."""
        return spending.create_grant(
            self,
            pool,
            source,
            priority=priority,
            effective_at=effective_at,
            expires_at=expires_at,
            period_index=period_index,
            description=description,
        )

    def fund_grant(
        self,
        kind: TransactionType,
        pool: str,
        grant_id: str,
        amount: Credits,
        *,
        description: str,
        created_at: datetime | None = None,
        source_book: Book = "issued",
    ) -> Posted:
        """Credit a new grant, settling overdraft debt in the pool first."""
        return spending.fund_grant(
            self,
            kind,
            pool,
            grant_id,
            amount,
            description=description,
            created_at=created_at,
            source_book=source_book,
        )

    def ensure_overdraft_grants(self) -> None:
        spending.ensure_overdraft_grants(self)

    def check_pool(self, pool: str) -> None:
        spending.check_pool(self, pool)

    def plan_draws(
        self, pool: str, amount: Credits, *, partial: bool, hold_id: str = ""
    ) -> list[Line]:
        return spending.plan_draws(self, pool, amount, partial=partial, hold_id=hold_id)

    def rollup(
        self,
        at: datetime,
        pool: str,
        attribution: Attribution,
        amount: int,
        quantity: int,
        charges: int,
    ) -> None:
        flush.rollup(self, at, pool, attribution, amount, quantity, charges)

    # -- holds (holding.py) ---------------------------------------------------------------

    def hold_allocations(self, hold_id: str) -> list[GrantView]:
        return holding.hold_allocations(self, hold_id)

    def release_hold(self, hold_id: str, pool: str, status: str, at: datetime) -> int:
        return holding.release_hold(self, hold_id, pool, status, at)

    def _closed_grants(self, grant_ids: list[str]) -> set[str]:
        return holding.closed_grants(self, grant_ids)

    # -- period catch-up (catch_up.py) ----------------------------------------------------

    def catch_up(self) -> None:
        catch_up.catch_up(self)

    def grant_allowance(self, period_index: int) -> None:
        catch_up.grant_allowance(self, period_index)

    def _expire_grants(self, until: datetime) -> None:
        catch_up.expire_grants(self, until)

    def _unused_allowance(self, period_index: int) -> dict[str, int]:
        return catch_up.unused_allowance(self, period_index)

    def _roll_over(self, unused: dict[str, int], period_index: int, at: datetime) -> None:
        catch_up.roll_over(self, unused, period_index, at)

    def _next_event(self, calendar: PeriodCalendar) -> datetime:
        return catch_up.next_event(self, calendar)


def _attribution_columns(attribution: Attribution) -> dict[str, str]:
    return {
        "function": attribution.function,
        "module": attribution.module,
        "service": attribution.service,
        "user_id": attribution.user_id,
        "resource_id": attribution.resource_id,
        "run_id": attribution.run_id,
        "hold_id": attribution.hold_id,
    }


def _checked_net(lines: list[Line]) -> tuple[int, bool]:
    """A transfer's net amount on the customer's books, and whether a line is on a hold,
    once its lines are checked (some, each moving credits, summing to zero): one pass."""
    invariant(bool(lines), "a transfer has entries")
    total = net = 0
    every_line_moves, touches_holds = True, False
    for line in lines:
        total += line.amount
        every_line_moves = every_line_moves and line.amount != 0
        touches_holds = touches_holds or line.book == "hold"
        if line.book in CUSTOMER_BOOKS:
            net += line.amount
    invariant(total == 0, "entries must sum to zero")
    invariant(every_line_moves, "an entry moves credits")
    return net, touches_holds


def _entry_rows(account_id: str, seq: int, lines: list[Line]) -> list[dict[str, Any]]:
    return [
        {
            "account_id": account_id,
            "seq": seq,
            "line": number,
            "book": line.book,
            "grant_id": line.grant_id,
            "hold_id": line.hold_id,
            "amount": line.amount,
        }
        for number, line in enumerate(lines)
    ]
