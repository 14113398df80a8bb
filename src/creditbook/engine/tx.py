"""One write transaction on one account.

Every write first locks the account row (`SELECT … FOR UPDATE` on PostgreSQL; SQLite's
`BEGIN IMMEDIATE` already serialises writers) and reserves a transfer sequence number in the
same statement. Under that lock the transaction catches the account up to the present
(expiries, rollovers, resets — each applied once, stamped with the instant it was due) and
then does its work. Balances are materialised by `post`, which is the only writer of entries
and applies each entry to the grant or hold it names, so stored balances cannot drift from
the entries.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any, Literal

from sqlalchemy import Connection, Row, and_, bindparam, func, select, update

from creditbook.domain.amounts import Credits
from creditbook.domain.errors import InsufficientCreditsError, ValidationError
from creditbook.domain.grants import (
    DEFAULT_PRIORITY,
    Draw,
    GrantSource,
    GrantView,
    TransactionType,
    allocate,
    in_spend_order,
)
from creditbook.domain.periods import Interval, PeriodCalendar, local_date
from creditbook.domain.plans import Plan
from creditbook.store import schema
from creditbook.store.queries import upsert_add, upsert_add_many

Book = Literal["grant", "hold", "issued", "spent", "expired"]
CUSTOMER_BOOKS = ("grant", "hold")
# A catch-up over an account untouched for years is bounded: a daily plan idle for ten
# years is 3,653 periods; beyond this the account is caught up in several transactions.
MAX_PERIODS_PER_CATCH_UP = 4000


def new_id(prefix: str, random_bytes: int = 12) -> str:
    return f"{prefix}{secrets.token_hex(random_bytes)}"


@dataclass(frozen=True, slots=True)
class Line:
    """One entry to write: a signed amount on one book (and grant or hold)."""

    book: Book
    amount: int
    grant_id: str = ""
    hold_id: str = ""


@dataclass(frozen=True, slots=True)
class Attribution:
    """Who and what a charge is for; empty strings where not given."""

    function: str = ""
    module: str = ""
    service: str = ""
    user_id: str = ""
    resource_id: str = ""
    run_id: str = ""
    hold_id: str = ""


NO_ATTRIBUTION = Attribution()


# Hot-path statements, built once with bound parameters (SQLAlchemy then skips building the
# expression and its cache key on every call).
_G = schema.grants.c
_INSERT_TRANSFER = schema.transfers.insert()
_INSERT_ENTRIES = schema.entries.insert()
_APPLY = {
    table.name: update(table)
    .where(table.c.account_id == bindparam("p_account"), id_column == bindparam("p_id"))
    .values(remaining=table.c.remaining + bindparam("p_amount"))
    for table, id_column in (
        (schema.grants, schema.grants.c.grant_id),
        (schema.holds, schema.holds.c.hold_id),
    )
}
_GRANT_COLUMNS = (_G.grant_id, _G.source, _G.priority, _G.expires_at, _G.created_seq, _G.remaining)
_ALL_OPEN_GRANTS = select(*_GRANT_COLUMNS).where(
    _G.account_id == bindparam("p_account"),
    _G.pool == bindparam("p_pool"),
    _G.closed_at.is_(None),
    _G.effective_at <= bindparam("p_now"),
)
_OPEN_GRANTS = _ALL_OPEN_GRANTS.where(
    (_G.remaining > 0) | (_G.source == GrantSource.OVERDRAFT.value)
)


@dataclass(frozen=True, slots=True)
class Posted:
    seq: int
    transfer_id: str
    amount: int
    created_at: datetime


class AccountTx:
    """The locked account and what a transaction on it needs."""

    def __init__(self, connection: Connection, row: Row[Any], plan: Plan, now: datetime):
        self.connection = connection
        self.account_id: str = row.account_id
        self.row = row
        self.plan = plan
        self.now = now
        self.timezone: str = row.timezone
        self.anchor_at: datetime = row.anchor_at
        self.period_index: int = row.period_index
        self.next_event_at: datetime = row.next_event_at
        # The lock reserved `row.last_seq`; numbers past it are written back by finish().
        self._next_seq: int = row.last_seq
        self._reserved_seq: int = row.last_seq
        self._account_dirty = False
        # Deferred mode (charges, batches): post() and rollup() collect rows that
        # flush_all() writes together; open grants are read once per pool.
        self.deferred = False
        self._grant_cache: dict[str, dict[str, GrantView]] = {}
        self._pending_transfers: list[dict[str, Any]] = []
        self._pending_entries: list[dict[str, Any]] = []
        self._grant_deltas: dict[str, int] = {}
        self._rollups: dict[tuple[Any, ...], list[int]] = {}

    # -- sequence and account row -------------------------------------------------------

    def take_seq(self) -> int:
        seq = self._next_seq
        self._next_seq += 1
        return seq

    def calendar(self) -> PeriodCalendar:
        return PeriodCalendar(self.plan.interval, self.anchor_at, self.timezone)

    def mark_dirty(self) -> None:
        self._account_dirty = True

    def finish(self) -> None:
        """Write back what changed on the account row (sequence, period, next event)."""
        last_seq = max(self._next_seq - 1, self._reserved_seq)
        if last_seq == self._reserved_seq and not self._account_dirty:
            return
        self.connection.execute(
            update(schema.accounts)
            .where(schema.accounts.c.account_id == self.account_id)
            .values(
                last_seq=last_seq,
                period_index=self.period_index,
                next_event_at=self.next_event_at,
                anchor_at=self.anchor_at,
                plan_id=self.plan.plan_id,
            )
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
        assert lines, "a transfer has entries"
        assert sum(line.amount for line in lines) == 0, "entries must sum to zero"
        seq = self.take_seq()
        transfer_id = new_id("txn_")
        at = created_at or self.now
        net = sum(line.amount for line in lines if line.book in CUSTOMER_BOOKS)
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
            "function": attribution.function,
            "module": attribution.module,
            "service": attribution.service,
            "user_id": attribution.user_id,
            "resource_id": attribution.resource_id,
            "run_id": attribution.run_id,
            "hold_id": attribution.hold_id,
            "quantity": quantity,
            "refunded": 0,
        }
        entries = [
            {
                "account_id": self.account_id,
                "seq": seq,
                "line": number,
                "book": line.book,
                "grant_id": line.grant_id,
                "hold_id": line.hold_id,
                "amount": line.amount,
            }
            for number, line in enumerate(lines)
        ]
        if self.deferred and all(line.book != "hold" for line in lines):
            return self._post_deferred(
                pool, lines, transfer, entries, Posted(seq, transfer_id, net, at)
            )
        self.connection.execute(_INSERT_TRANSFER, transfer)
        self.connection.execute(_INSERT_ENTRIES, entries)
        for line in lines:
            if line.book == "grant":
                self._apply(schema.grants, schema.grants.c.grant_id, line.grant_id, line.amount)
            elif line.book == "hold":
                self._apply(schema.holds, schema.holds.c.hold_id, line.hold_id, line.amount)
        return Posted(seq, transfer_id, net, at)

    def _post_deferred(
        self,
        pool: str,
        lines: list[Line],
        transfer: dict[str, Any],
        entries: list[dict[str, Any]],
        posted: Posted,
    ) -> Posted:
        self._pending_transfers.append(transfer)
        self._pending_entries.extend(entries)
        cached = self._grant_cache.get(pool)
        for line in lines:
            if line.book != "grant":
                continue
            self._grant_deltas[line.grant_id] = (
                self._grant_deltas.get(line.grant_id, 0) + line.amount
            )
            view = None if cached is None else cached.get(line.grant_id)
            if cached is None or view is None:
                self._grant_cache = {}  # a grant the cache does not know: read again
                cached = None
                continue
            cached[line.grant_id] = replace(
                view, remaining=Credits(view.remaining.millicredits + line.amount)
            )
        return posted

    def _apply(self, table: Any, id_column: Any, identifier: str, amount: int) -> None:
        result = self.connection.execute(
            _APPLY[table.name],
            {"p_account": self.account_id, "p_id": identifier, "p_amount": amount},
        )
        assert result.rowcount == 1, f"entry names a missing row {identifier}"

    # -- grants ---------------------------------------------------------------------------

    def open_grants(self, pool: str) -> list[GrantView]:
        if self.deferred:
            return self._cached_open_grants(pool)
        rows = self.connection.execute(
            _OPEN_GRANTS, {"p_account": self.account_id, "p_pool": pool, "p_now": self.now}
        )
        return [_grant_view(row) for row in rows]

    def _cached_open_grants(self, pool: str) -> list[GrantView]:
        """Deferred mode: read a pool's open grants once; pending draws keep them current
        (the account is locked, so nothing else changes them)."""
        cached = self._grant_cache.get(pool)
        if cached is None:
            rows = self.connection.execute(
                _ALL_OPEN_GRANTS,
                {"p_account": self.account_id, "p_pool": pool, "p_now": self.now},
            )
            cached = self._grant_cache[pool] = {}
            for row in rows:
                view = _grant_view(row)
                delta = self._grant_deltas.get(view.grant_id, 0)
                if delta:
                    view = replace(view, remaining=Credits(view.remaining.millicredits + delta))
                cached[view.grant_id] = view
        return [
            view
            for view in cached.values()
            if view.remaining.millicredits > 0 or view.source is GrantSource.OVERDRAFT
        ]

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
        grant_id = new_id("grt_")
        self.connection.execute(
            schema.grants.insert(),
            {
                "account_id": self.account_id,
                "grant_id": grant_id,
                "pool": pool,
                "source": source.value,
                "priority": DEFAULT_PRIORITY[source] if priority is None else priority,
                "amount": 0,
                "remaining": 0,
                "effective_at": effective_at or self.now,
                "expires_at": expires_at,
                "period_index": period_index,
                "created_seq": self._next_seq,
                "closed_at": None,
                "description": description,
            },
        )
        if expires_at is not None and expires_at < self.next_event_at:
            self.next_event_at = expires_at
            self.mark_dirty()
        return grant_id

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
        assert amount.is_positive()
        lines = [Line(source_book, -amount.millicredits)]
        rest = amount.millicredits
        debt_grant, debt = self._overdraft_debt(pool)
        if debt > 0:
            settle = min(debt, rest)
            lines.append(Line("grant", settle, grant_id=debt_grant))
            rest -= settle
        if rest:
            lines.append(Line("grant", rest, grant_id=grant_id))
        self.connection.execute(
            update(schema.grants)
            .where(
                schema.grants.c.account_id == self.account_id,
                schema.grants.c.grant_id == grant_id,
            )
            .values(amount=amount.millicredits)
        )
        return self.post(kind, pool, lines, description=description, created_at=created_at)

    def _overdraft_debt(self, pool: str) -> tuple[str, int]:
        grants = schema.grants.c
        row = self.connection.execute(
            select(grants.grant_id, grants.remaining).where(
                grants.account_id == self.account_id,
                grants.pool == pool,
                grants.source == GrantSource.OVERDRAFT.value,
            )
        ).first()
        if row is None:
            return "", 0
        return row.grant_id, max(-row.remaining, 0)

    def ensure_overdraft_grants(self) -> None:
        """Each plan pool has its overdraft grant (the only grant allowed below zero)."""
        grants = schema.grants.c
        existing = set(
            self.connection.execute(
                select(grants.pool).where(
                    grants.account_id == self.account_id,
                    grants.source == GrantSource.OVERDRAFT.value,
                )
            ).scalars()
        )
        for pool in self.plan.pools:
            if pool not in existing:
                self.create_grant(pool, GrantSource.OVERDRAFT, description="Overdraft")

    # -- spending -------------------------------------------------------------------------

    def check_pool(self, pool: str) -> None:
        if pool in self.plan.allowances:
            return
        grants = schema.grants.c
        found = self.connection.execute(
            select(grants.grant_id)
            .where(grants.account_id == self.account_id, grants.pool == pool)
            .limit(1)
        ).first()
        if found is None:
            raise ValidationError(f"account has no pool {pool!r}", field="pool")

    def hold_allocations(self, hold_id: str) -> list[GrantView]:
        """What a hold still holds, per grant it came from, in that grant's spend order."""
        entries, grants = schema.entries.c, schema.grants.c
        rows = self.connection.execute(
            select(
                entries.grant_id,
                func.sum(entries.amount).label("held"),
                grants.source,
                grants.priority,
                grants.expires_at,
                grants.created_seq,
            )
            .join(
                schema.grants,
                and_(grants.account_id == entries.account_id, grants.grant_id == entries.grant_id),
            )
            .where(
                entries.account_id == self.account_id,
                entries.book == "hold",
                entries.hold_id == hold_id,
            )
            .group_by(
                entries.grant_id,
                grants.source,
                grants.priority,
                grants.expires_at,
                grants.created_seq,
            )
        )
        views = [
            GrantView(
                row.grant_id,
                GrantSource(row.source),
                row.priority,
                row.expires_at,
                row.created_seq,
                Credits(int(row.held)),
            )
            for row in rows
            if row.held
        ]
        return in_spend_order(views)

    def plan_draws(
        self, pool: str, amount: Credits, *, partial: bool, hold_id: str = ""
    ) -> list[Line]:
        """Debit lines for `amount`: from the hold first (if any), then from grants.

        Raises InsufficientCreditsError (nothing written) when it cannot be paid.
        """
        lines: list[Line] = []
        missing = amount.millicredits
        if hold_id:
            for held in self.hold_allocations(hold_id):
                take = min(missing, held.remaining.millicredits)
                if take > 0:
                    lines.append(Line("hold", -take, grant_id=held.grant_id, hold_id=hold_id))
                    missing -= take
        if missing > 0:
            grants = self.open_grants(pool)
            draws = allocate(grants, Credits(missing), self.plan.overdraft, partial=partial)
            if draws is None:
                available = sum(max(g.remaining.millicredits, 0) for g in grants) + (
                    amount.millicredits - missing
                )
                raise InsufficientCreditsError(pool, amount.millicredits, available)
            lines.extend(
                Line("grant", -draw.amount.millicredits, grant_id=draw.grant_id) for draw in draws
            )
        return lines

    def rollup(
        self,
        at: datetime,
        pool: str,
        attribution: Attribution,
        amount: int,
        quantity: int,
        charges: int,
    ) -> None:
        day: date = local_date(at, self.timezone)
        if self.deferred:
            key = (
                day,
                pool,
                attribution.function,
                attribution.module,
                attribution.service,
                attribution.user_id,
                attribution.resource_id,
            )
            sums = self._rollups.setdefault(key, [0, 0, 0])
            sums[0] += amount
            sums[1] += quantity
            sums[2] += charges
            return
        upsert_add(
            self.connection,
            schema.rollups,
            {
                "account_id": self.account_id,
                "day": day,
                "pool": pool,
                "function": attribution.function,
                "module": attribution.module,
                "service": attribution.service,
                "user_id": attribution.user_id,
                "resource_id": attribution.resource_id,
            },
            {"amount": amount, "quantity": quantity, "charges": charges},
        )

    # -- holds ----------------------------------------------------------------------------

    def release_hold(self, hold_id: str, status: str, at: datetime) -> int:
        """Return what a hold still holds to its grants.

        Credits of grants that closed meanwhile expire instead, in their own EXPIRY
        transaction: a RELEASE stays net zero, as the customer's history leaves it out.
        """
        allocations = self.hold_allocations(hold_id)
        closed = self._closed_grants([held.grant_id for held in allocations])
        lines: list[Line] = []
        expired_lines: list[Line] = []
        for held in allocations:
            amount = held.remaining.millicredits
            line = Line("hold", -amount, grant_id=held.grant_id, hold_id=hold_id)
            if held.grant_id in closed:
                expired_lines.append(line)
            else:
                lines += [line, Line("grant", amount, grant_id=held.grant_id)]
        pool = self._hold_pool(hold_id)
        if lines:
            self.post(
                TransactionType.RELEASE,
                pool,
                lines,
                created_at=at,
                description=f"Hold {hold_id} {status}",
                attribution=Attribution(hold_id=hold_id),
            )
        if expired_lines:
            expired = -sum(line.amount for line in expired_lines)
            self.post(
                TransactionType.EXPIRY,
                pool,
                [*expired_lines, Line("expired", expired)],
                created_at=at,
                description=f"Held credits expired (hold {hold_id} {status})",
                attribution=Attribution(hold_id=hold_id),
            )
        holds = schema.holds.c
        self.connection.execute(
            update(schema.holds)
            .where(holds.account_id == self.account_id, holds.hold_id == hold_id)
            .values(status=status, closed_at=at)
        )
        return sum(held.remaining.millicredits for held in allocations)

    def _hold_pool(self, hold_id: str) -> str:
        holds = schema.holds.c
        pool: str = self.connection.execute(
            select(holds.pool).where(holds.account_id == self.account_id, holds.hold_id == hold_id)
        ).scalar_one()
        return pool

    def _closed_grants(self, grant_ids: list[str]) -> set[str]:
        if not grant_ids:
            return set()
        grants = schema.grants.c
        return set(
            self.connection.execute(
                select(grants.grant_id).where(
                    grants.account_id == self.account_id,
                    grants.grant_id.in_(grant_ids),
                    grants.closed_at.is_not(None),
                )
            ).scalars()
        )

    # -- period catch-up ------------------------------------------------------------------

    def catch_up(self) -> None:
        """Apply every expiry, rollover and reset due up to now, once, in time order."""
        if self.now < self.next_event_at:
            return
        calendar = self.calendar()
        for _ in range(MAX_PERIODS_PER_CATCH_UP):
            boundary = calendar.start_of(self.period_index + 1)
            until = min(boundary, self.now)
            self._expire_holds(until)
            if boundary > self.now:
                self._expire_grants(until)
                break
            unused = self._unused_allowance(self.period_index)
            self._expire_grants(boundary)
            self._roll_over(unused, self.period_index + 1, boundary)
            self.period_index += 1
            self.grant_allowance(self.period_index)
        self.next_event_at = self._next_event(calendar)
        self.mark_dirty()

    def _expire_holds(self, until: datetime) -> None:
        holds = schema.holds.c
        due = self.connection.execute(
            select(holds.hold_id, holds.expires_at)
            .where(
                holds.account_id == self.account_id,
                holds.status == "active",
                holds.expires_at <= until,
            )
            .order_by(holds.expires_at, holds.hold_id)
        ).all()
        for row in due:
            self.release_hold(row.hold_id, "expired", row.expires_at)

    def _expire_grants(self, until: datetime) -> None:
        grants = schema.grants.c
        due = self.connection.execute(
            select(grants.grant_id, grants.pool, grants.remaining, grants.expires_at)
            .where(
                grants.account_id == self.account_id,
                grants.closed_at.is_(None),
                grants.expires_at <= until,
            )
            .order_by(grants.expires_at, grants.created_seq)
        ).all()
        for row in due:
            if row.remaining > 0:
                self.post(
                    TransactionType.EXPIRY,
                    row.pool,
                    [
                        Line("grant", -row.remaining, grant_id=row.grant_id),
                        Line("expired", row.remaining),
                    ],
                    created_at=row.expires_at,
                    description="Unused credits expired",
                )
            self.connection.execute(
                update(schema.grants)
                .where(grants.account_id == self.account_id, grants.grant_id == row.grant_id)
                .values(closed_at=row.expires_at)
            )

    def _unused_allowance(self, period_index: int) -> dict[str, int]:
        grants = schema.grants.c
        rows = self.connection.execute(
            select(grants.pool, func.sum(grants.remaining).label("unused"))
            .where(
                grants.account_id == self.account_id,
                grants.source == GrantSource.ALLOWANCE.value,
                grants.period_index == period_index,
                grants.closed_at.is_(None),
            )
            .group_by(grants.pool)
        )
        return {row.pool: int(row.unused) for row in rows}

    def _roll_over(self, unused: dict[str, int], period_index: int, at: datetime) -> None:
        policy = self.plan.rollover
        if policy is None:
            return
        calendar = self.calendar()
        for pool in sorted(unused):
            amount = policy.rollover_amount(Credits(unused[pool]), self.plan.allowance(pool))
            if not amount.is_positive():
                continue
            expires_at = (
                None
                if policy.expires_after_periods is None
                else calendar.start_of(period_index + policy.expires_after_periods)
            )
            grant_id = self.create_grant(
                pool,
                GrantSource.ROLLOVER,
                effective_at=at,
                expires_at=expires_at,
                period_index=period_index,
                description="Rolled over from the previous period",
            )
            self.fund_grant(
                TransactionType.ROLLOVER,
                pool,
                grant_id,
                amount,
                created_at=at,
                description="Unused credits rolled over",
                source_book="expired",
            )

    def grant_allowance(self, period_index: int) -> None:
        """Grant the plan's allowance for a period, stamped at the period's start."""
        calendar = self.calendar()
        period = calendar.period(period_index)
        monthly = self.plan.interval is Interval.MONTHLY
        kind = TransactionType.MONTHLY_RESET if monthly else TransactionType.DAILY_RESET
        description = "Monthly credit reset" if monthly else "Daily credit reset"
        for pool in self.plan.pools:
            allowance = self.plan.allowance(pool)
            if not allowance.is_positive():
                continue
            grant_id = self.create_grant(
                pool,
                GrantSource.ALLOWANCE,
                effective_at=period.start_at,
                expires_at=period.end_at,
                period_index=period_index,
                description=description,
            )
            self.fund_grant(
                kind, pool, grant_id, allowance, created_at=period.start_at, description=description
            )

    def _next_event(self, calendar: PeriodCalendar) -> datetime:
        candidates = [calendar.start_of(self.period_index + 1)]
        grants, holds = schema.grants.c, schema.holds.c
        grant_expiry = self.connection.execute(
            select(func.min(grants.expires_at)).where(
                grants.account_id == self.account_id, grants.closed_at.is_(None)
            )
        ).scalar()
        hold_expiry = self.connection.execute(
            select(func.min(holds.expires_at)).where(
                holds.account_id == self.account_id, holds.status == "active"
            )
        ).scalar()
        candidates.extend(value for value in (grant_expiry, hold_expiry) if value is not None)
        return min(candidates)

    def note_event(self, at: datetime) -> None:
        if at < self.next_event_at:
            self.next_event_at = at
            self.mark_dirty()


# -- deferred writes (charges and batches) -----------------------------------------------------

_ROLLUP_KEYS = ("day", "pool", "function", "module", "service", "user_id", "resource_id")
_TRANSFER_TYPES = (
    ("account_id", "varchar"),
    ("seq", "bigint"),
    ("transfer_id", "varchar"),
    ("type", "varchar"),
    ("pool", "varchar"),
    ("amount", "bigint"),
    ("description", "text"),
    ("created_at", "timestamp"),
    ("recorded_at", "timestamp"),
    ("linked_seq", "bigint"),
    ("function", "varchar"),
    ("module", "varchar"),
    ("service", "varchar"),
    ("user_id", "varchar"),
    ("resource_id", "varchar"),
    ("run_id", "varchar"),
    ("hold_id", "varchar"),
    ("quantity", "bigint"),
    ("refunded", "bigint"),
)
_ENTRY_TYPES = (
    ("account_id", "varchar"),
    ("seq", "bigint"),
    ("line", "integer"),
    ("book", "varchar"),
    ("grant_id", "varchar"),
    ("hold_id", "varchar"),
    ("amount", "bigint"),
)
_ROLLUP_TYPES = (
    ("account_id", "varchar"),
    ("day", "date"),
    ("pool", "varchar"),
    ("function", "varchar"),
    ("module", "varchar"),
    ("service", "varchar"),
    ("user_id", "varchar"),
    ("resource_id", "varchar"),
    ("amount", "bigint"),
    ("quantity", "bigint"),
    ("charges", "bigint"),
)


def _unnest(prefix: str, columns: tuple[tuple[str, str], ...]) -> tuple[str, str]:
    names = ", ".join(name for name, _ in columns)
    arrays = ", ".join(f"%({prefix}_{name})s::{kind}[]" for name, kind in columns)
    return names, f"SELECT * FROM unnest({arrays})"


def _postgres_flush_sql() -> str:
    """Every deferred write in one statement: one round trip however many charges."""
    t_names, t_select = _unnest("t", _TRANSFER_TYPES)
    e_names, e_select = _unnest("e", _ENTRY_TYPES)
    r_names, r_select = _unnest("r", _ROLLUP_TYPES)
    r_keys = ", ".join(name for name, _ in _ROLLUP_TYPES[:8])
    return (
        f"WITH t AS (INSERT INTO transfers ({t_names}) {t_select}),"
        f" e AS (INSERT INTO entries ({e_names}) {e_select}),"
        " g AS (UPDATE grants SET remaining = grants.remaining + d.amount"
        " FROM unnest(%(g_account_id)s::varchar[], %(g_grant_id)s::varchar[],"
        " %(g_amount)s::bigint[]) AS d(account_id, grant_id, amount)"
        " WHERE grants.account_id = d.account_id AND grants.grant_id = d.grant_id"
        " RETURNING 1),"
        f" r AS (INSERT INTO rollups ({r_names}) {r_select}"
        f" ON CONFLICT ({r_keys}) DO UPDATE SET amount = rollups.amount + excluded.amount,"
        " quantity = rollups.quantity + excluded.quantity,"
        " charges = rollups.charges + excluded.charges)"
        " SELECT count(*) FROM g"
    )


_POSTGRES_FLUSH = _postgres_flush_sql()


def _naive_utc(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def flush_all(txs: list[AccountTx]) -> None:
    """Write what deferred transactions collected and leave deferred mode: on PostgreSQL in
    one statement, on SQLite one executemany per table."""
    if not txs:
        return
    connection = txs[0].connection
    transfers = [row for tx in txs for row in tx._pending_transfers]
    entries = [row for tx in txs for row in tx._pending_entries]
    deltas = [
        (tx.account_id, grant_id, amount)
        for tx in txs
        for grant_id, amount in tx._grant_deltas.items()
        if amount
    ]
    rollups = [
        {
            "account_id": tx.account_id,
            **dict(zip(_ROLLUP_KEYS, key, strict=True)),
            "amount": sums[0],
            "quantity": sums[1],
            "charges": sums[2],
        }
        for tx in txs
        for key, sums in tx._rollups.items()
    ]
    for tx in txs:
        tx._pending_transfers = []
        tx._pending_entries = []
        tx._grant_deltas = {}
        tx._rollups = {}
        tx._grant_cache = {}
        tx.deferred = False
    if not transfers:
        return
    if connection.dialect.name == "postgresql":
        params: dict[str, Any] = {}
        for prefix, columns, rows in (
            ("t", _TRANSFER_TYPES, transfers),
            ("e", _ENTRY_TYPES, entries),
            ("r", _ROLLUP_TYPES, rollups),
        ):
            for name, _ in columns:
                params[f"{prefix}_{name}"] = [_naive_utc(row[name]) for row in rows]
        params["g_account_id"] = [delta[0] for delta in deltas]
        params["g_grant_id"] = [delta[1] for delta in deltas]
        params["g_amount"] = [delta[2] for delta in deltas]
        updated = connection.exec_driver_sql(_POSTGRES_FLUSH, params).scalar_one()
        assert updated == len(deltas), "an entry names a missing grant"
        return
    connection.execute(_INSERT_TRANSFER, transfers)
    connection.execute(_INSERT_ENTRIES, entries)
    if deltas:
        result = connection.execute(
            _APPLY["grants"],
            [{"p_account": a, "p_id": g, "p_amount": amount} for a, g, amount in deltas],
        )
        assert result.rowcount in (-1, len(deltas)), "an entry names a missing grant"
    if rollups:
        upsert_add_many(connection, schema.rollups, ("account_id", *_ROLLUP_KEYS), rollups)


def _grant_view(row: Any) -> GrantView:
    return GrantView(
        row.grant_id,
        GrantSource(row.source),
        row.priority,
        row.expires_at,
        row.created_seq,
        Credits(row.remaining),
    )


def draws_total(lines: list[Line]) -> int:
    return -sum(line.amount for line in lines)


__all__ = [
    "AccountTx",
    "Attribution",
    "Draw",
    "Line",
    "Posted",
    "draws_total",
    "flush_all",
    "new_id",
]
