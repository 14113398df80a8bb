"""Grants and spending on a locked account: open grants, new and funded grants, overdraft
grants and their debt, and the draws that pay an amount in spend order."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from creditbook.domain.amounts import Credits
from creditbook.domain.errors import InsufficientCreditsError, ValidationError, invariant
from creditbook.domain.grants import (
    DEFAULT_PRIORITY,
    GrantSource,
    GrantView,
    TransactionType,
    allocate,
)
from creditbook.engine.account.holding import hold_allocations
from creditbook.engine.account.lines import Book, Line, Posted, new_id
from creditbook.store.queries import ledger_state

if TYPE_CHECKING:
    from creditbook.engine.account.state import AccountTx


def open_grants(tx: AccountTx, pool: str) -> list[GrantView]:
    """The pool's grants that can be drawn from now (credits left, or the overdraft grant):
    as the lock read them, kept current by each transfer (`AccountTx.post`), while no other
    write changed them since; else read again."""
    if tx.deferred:
        return _cached_open_grants(tx, pool)
    if tx.prefetched is not None:
        views = (grant_view(row) for row in tx.prefetched.get(pool, []))
        return [view for view in views if _spendable(view)]
    rows = ledger_state.open_grants(tx.connection, tx.account_id, pool, tx.now)
    return [grant_view(row) for row in rows]


def _spendable(view: GrantView) -> bool:
    return view.remaining.millicredits > 0 or view.source is GrantSource.OVERDRAFT


def _cached_open_grants(tx: AccountTx, pool: str) -> list[GrantView]:
    """Deferred mode: read a pool's open grants once; pending draws keep them current
    (the account is locked, so nothing else changes them)."""
    cached = tx.grant_cache.get(pool)
    if cached is None:
        if tx.prefetched is not None:
            rows: Any = tx.prefetched.get(pool, [])
        else:
            rows = ledger_state.all_open_grants(tx.connection, tx.account_id, pool, tx.now)
        cached = tx.grant_cache[pool] = {}
        for row in rows:
            view = grant_view(row)
            delta = tx.grant_deltas.get(view.grant_id, 0)
            if delta:
                view = view.with_remaining(view.remaining.millicredits + delta)
            cached[view.grant_id] = view
    return [view for view in cached.values() if _spendable(view)]


def grant_view(row: Any) -> GrantView:
    """A grant row (grant_id, source, priority, expires_at, created_seq, remaining)."""
    return GrantView(
        row.grant_id,
        GrantSource(row.source),
        row.priority,
        row.expires_at,
        row.created_seq,
        Credits(row.remaining),
    )


def create_grant(
    tx: AccountTx,
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
    tx.prefetched = None
    ledger_state.insert_grant(
        tx.connection,
        {
            "account_id": tx.account_id,
            "grant_id": grant_id,
            "pool": pool,
            "source": source.value,
            "priority": DEFAULT_PRIORITY[source] if priority is None else priority,
            "amount": 0,
            "remaining": 0,
            "effective_at": effective_at or tx.now,
            "expires_at": expires_at,
            "period_index": period_index,
            "created_seq": tx.next_seq,
            "closed_at": None,
            "description": description,
            "min_remaining": -tx.plan.overdraft.millicredits
            if source is GrantSource.OVERDRAFT
            else 0,
        },
    )
    if expires_at is not None:
        tx.note_event(expires_at)
        if source not in (GrantSource.ALLOWANCE, GrantSource.OVERDRAFT):
            tx.note_event(expires_at - tx.expiring_notice)  # its `credits.expiring`
    return grant_id


def fund_grant(
    tx: AccountTx,
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
    invariant(amount.is_positive(), "a grant is funded with a positive amount")
    lines = [Line(source_book, -amount.millicredits)]
    rest = amount.millicredits
    debt_grant, debt = overdraft_debt(tx, pool)
    if debt > 0:
        settle = min(debt, rest)
        lines.append(Line("grant", settle, grant_id=debt_grant))
        rest -= settle
    if rest:
        lines.append(Line("grant", rest, grant_id=grant_id))
    ledger_state.set_grant_amount(tx.connection, tx.account_id, grant_id, amount.millicredits)
    return tx.post(kind, pool, lines, description=description, created_at=created_at)


def overdraft_debt(tx: AccountTx, pool: str) -> tuple[str, int]:
    """The pool's overdraft grant and what it owes (0 when none or not below zero)."""
    row = ledger_state.overdraft_grant(tx.connection, tx.account_id, pool)
    if row is None:
        return "", 0
    return row.grant_id, max(-row.remaining, 0)


def ensure_overdraft_grants(tx: AccountTx) -> None:
    """Each plan pool has its overdraft grant (the only grant allowed below zero)."""
    existing = ledger_state.overdraft_pools(tx.connection, tx.account_id)
    for pool in tx.plan.pools:
        if pool not in existing:
            create_grant(tx, pool, GrantSource.OVERDRAFT, description="Overdraft")


def set_overdraft_floors(tx: AccountTx) -> None:
    """The overdraft grants' floor after a plan change: minus the plan's limit, or the debt
    still owed if that is deeper."""
    ledger_state.set_overdraft_floor(tx.connection, tx.account_id, -tx.plan.overdraft.millicredits)


def check_pool(tx: AccountTx, pool: str) -> None:
    """Refuse a pool the account neither has in its plan nor holds a grant in."""
    if pool in tx.plan.allowances:
        return
    if not ledger_state.pool_has_grant(tx.connection, tx.account_id, pool):
        raise ValidationError(f"account has no pool {pool!r}", field="pool")


def plan_draws(
    tx: AccountTx, pool: str, amount: Credits, *, partial: bool, hold_id: str = ""
) -> list[Line]:
    """Debit lines for `amount`: from the hold first (if any), then from grants.

    Raises InsufficientCreditsError (nothing written) when it cannot be paid.
    """
    lines: list[Line] = []
    missing = amount.millicredits
    if hold_id:
        for held in hold_allocations(tx, hold_id):
            take = min(missing, held.remaining.millicredits)
            if take > 0:
                lines.append(Line("hold", -take, grant_id=held.grant_id, hold_id=hold_id))
                missing -= take
    if missing > 0:
        grants = open_grants(tx, pool)
        draws = allocate(grants, Credits(missing), tx.plan.overdraft, partial=partial)
        if draws is None:
            available = sum(max(g.remaining.millicredits, 0) for g in grants) + (
                amount.millicredits - missing
            )
            raise InsufficientCreditsError(pool, amount.millicredits, available)
        lines.extend(
            Line("grant", -draw.amount.millicredits, grant_id=draw.grant_id) for draw in draws
        )
    return lines
