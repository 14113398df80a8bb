"""Holds on a locked account: what a hold still holds per grant, and its release."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from creditbook.domain.amounts import Credits
from creditbook.domain.grants import GrantSource, GrantView, TransactionType, in_spend_order
from creditbook.engine.account.lines import Attribution, Line
from creditbook.store.queries import holds, ledger_state

if TYPE_CHECKING:
    from creditbook.engine.account.state import AccountTx


def hold_allocations(tx: AccountTx, hold_id: str) -> list[GrantView]:
    """What a hold still holds, per grant it came from, in that grant's spend order."""
    return _held(tx, hold_id)[0]


def _held(tx: AccountTx, hold_id: str) -> tuple[list[GrantView], set[str]]:
    """`hold_allocations`, and which of those grants have closed (expired) since."""
    read = tx.held.get(hold_id)
    if read is None:
        read = tx.held[hold_id] = holds.allocations(tx.connection, tx.account_id, hold_id)
    rows = [row for row in read if row.held]
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
    ]
    return in_spend_order(views), {row.grant_id for row in rows if row.closed}


def release_hold(tx: AccountTx, hold_id: str, pool: str, status: str, at: datetime) -> int:
    """Return what a hold (of `pool`) still holds to its grants.

    Credits of grants that closed meanwhile expire instead, in their own EXPIRY
    transaction: a RELEASE stays net zero, as the customer's history leaves it out.
    """
    allocations, closed = _held(tx, hold_id)
    lines: list[Line] = []
    expired_lines: list[Line] = []
    for held in allocations:
        amount = held.remaining.millicredits
        line = Line("hold", -amount, grant_id=held.grant_id, hold_id=hold_id)
        if held.grant_id in closed:
            expired_lines.append(line)
        else:
            lines += [line, Line("grant", amount, grant_id=held.grant_id)]
    if lines:
        tx.post(
            TransactionType.RELEASE,
            pool,
            lines,
            created_at=at,
            description=f"Hold {hold_id} {status}",
            attribution=Attribution(hold_id=hold_id),
        )
    if expired_lines:
        expired = -sum(line.amount for line in expired_lines)
        tx.post(
            TransactionType.EXPIRY,
            pool,
            [*expired_lines, Line("expired", expired)],
            created_at=at,
            description=f"Held credits expired (hold {hold_id} {status})",
            attribution=Attribution(hold_id=hold_id),
        )
    holds.close_hold(tx.connection, tx.account_id, hold_id, status, at)
    return sum(held.remaining.millicredits for held in allocations)


def closed_grants(tx: AccountTx, grant_ids: list[str]) -> set[str]:
    """Which of `grant_ids` have closed (expired) since credits were drawn from them."""
    if not grant_ids:
        return set()
    return ledger_state.closed_grants(tx.connection, tx.account_id, grant_ids)
