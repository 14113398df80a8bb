"""Period boundaries on a locked account: expire holds and grants, roll unused allowance
over, grant the new period's allowance, and find the next instant something is due.

Each boundary is applied once, in time order, stamped with the instant it was due, however
late the account is caught up.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from creditbook.domain.amounts import Credits
from creditbook.domain.grants import GrantSource, TransactionType
from creditbook.domain.periods import Interval, PeriodCalendar, rfc3339
from creditbook.engine.account.holding import release_hold
from creditbook.engine.account.lines import Line
from creditbook.engine.account.spending import create_grant, fund_grant
from creditbook.store.queries import ledger_state

if TYPE_CHECKING:
    from creditbook.engine.account.state import AccountTx

# A catch-up over an account untouched for years is bounded: a daily plan idle for ten
# years is 3,653 periods; beyond this the account is caught up in several transactions.
MAX_PERIODS_PER_CATCH_UP = 4000


def catch_up(tx: AccountTx) -> None:
    """Apply every expiry, rollover and reset due up to now, once, in time order."""
    if tx.now < tx.next_event_at:
        return
    tx.prefetched = None  # catching up changes grants
    calendar = tx.calendar()
    for _ in range(MAX_PERIODS_PER_CATCH_UP):
        boundary = calendar.start_of(tx.period_index + 1)
        until = min(boundary, tx.now)
        expire_holds(tx, until)
        if boundary > tx.now:
            expire_grants(tx, until)
            break
        unused = unused_allowance(tx, tx.period_index)
        expire_grants(tx, boundary)
        rolled = roll_over(tx, unused, tx.period_index + 1, boundary)
        tx.period_index += 1
        granted = grant_allowance(tx, tx.period_index)
        _renewed(tx, calendar, unused, rolled, granted)
    notify_expiring(tx)
    tx.next_event_at = next_event(tx, calendar)
    tx.mark_dirty()


def _renewed(
    tx: AccountTx,
    calendar: PeriodCalendar,
    unused: dict[str, int],
    rolled: dict[str, int],
    granted: dict[str, str],
) -> None:
    """One `period.renewed` per pool: the new period, its allowance, what of the last
    period's allowance rolled over and what expired."""
    period = calendar.period(tx.period_index)
    for pool in tx.plan.pools:
        tx.emit(
            "period.renewed",
            pool,
            {
                "period_index": tx.period_index,
                "period_start_at": rfc3339(period.start_at),
                "period_end_at": rfc3339(period.end_at),
                "allowance": tx.plan.allowance(pool).millicredits,
                "rollover": rolled.get(pool, 0),
                "expired": unused.get(pool, 0) - rolled.get(pool, 0),
            },
            transfer_id=granted.get(pool, ""),
        )


def notify_expiring(tx: AccountTx) -> None:
    """`credits.expiring` for each grant with credits left that expires within the notice
    time (bonus, top-up, rollover and adjustment grants: the allowance's end is the
    period's renewal), once per grant."""
    rows = ledger_state.grants_to_notice(tx.connection, tx.account_id, tx.now + tx.expiring_notice)
    for row in rows:
        tx.emit(
            "credits.expiring",
            row.pool,
            {
                "grant_id": row.grant_id,
                "source": row.source,
                "remaining": row.remaining,
                "expires_at": rfc3339(row.expires_at),
            },
        )
    if rows:
        ledger_state.mark_noticed(tx.connection, tx.account_id, [row.grant_id for row in rows])


def expire_holds(tx: AccountTx, until: datetime) -> None:
    """Release, as expired, every active hold whose timeout has passed by `until`."""
    for row in ledger_state.due_holds(tx.connection, tx.account_id, until):
        release_hold(tx, row.hold_id, row.pool, "expired", row.expires_at)


def expire_grants(tx: AccountTx, until: datetime) -> None:
    """Close every grant expiring by `until`; what it has left expires with it."""
    for row in ledger_state.due_grants(tx.connection, tx.account_id, until):
        if row.remaining > 0:
            posted = tx.post(
                TransactionType.EXPIRY,
                row.pool,
                [
                    Line("grant", -row.remaining, grant_id=row.grant_id),
                    Line("expired", row.remaining),
                ],
                created_at=row.expires_at,
                description="Unused credits expired",
            )
            if row.source != "allowance":  # the period's renewal says what of it expired
                _expired(tx, row, posted.transfer_id)
        ledger_state.close_grant(tx.connection, tx.account_id, row.grant_id, row.expires_at)
        tx.held = {}  # what holds read says whether their grants have closed


def _expired(tx: AccountTx, row: Any, transfer_id: str) -> None:
    """`credits.expired`: what a bonus, top-up, rollover or adjustment grant had left."""
    tx.emit(
        "credits.expired",
        row.pool,
        {
            "grant_id": row.grant_id,
            "source": row.source,
            "amount": row.remaining,
            "expired_at": rfc3339(row.expires_at),
        },
        transfer_id=transfer_id,
    )


def unused_allowance(tx: AccountTx, period_index: int) -> dict[str, int]:
    """What each pool has left of a period's allowance grants."""
    rows = ledger_state.unused_allowance(tx.connection, tx.account_id, period_index)
    return {row.pool: int(row.unused) for row in rows}


def roll_over(
    tx: AccountTx, unused: dict[str, int], period_index: int, at: datetime
) -> dict[str, int]:
    """Grant what the plan's rollover policy keeps of `unused`, for the period starting `at`;
    returns what rolled over per pool."""
    policy = tx.plan.rollover
    rolled: dict[str, int] = {}
    if policy is None:
        return rolled
    calendar = tx.calendar()
    for pool in sorted(unused):
        amount = policy.rollover_amount(Credits(unused[pool]), tx.plan.allowance(pool))
        if not amount.is_positive():
            continue
        expires_at = (
            None
            if policy.expires_after_periods is None
            else calendar.start_of(period_index + policy.expires_after_periods)
        )
        grant_id = create_grant(
            tx,
            pool,
            GrantSource.ROLLOVER,
            effective_at=at,
            expires_at=expires_at,
            period_index=period_index,
            description="Rolled over from the previous period",
        )
        fund_grant(
            tx,
            TransactionType.ROLLOVER,
            pool,
            grant_id,
            amount,
            created_at=at,
            description="Unused credits rolled over",
            source_book="expired",
        )
        rolled[pool] = amount.millicredits
    return rolled


def grant_allowance(tx: AccountTx, period_index: int) -> dict[str, str]:
    """Grant the plan's allowance for a period, stamped at the period's start; returns the
    transfer that funded each pool."""
    funded: dict[str, str] = {}
    calendar = tx.calendar()
    period = calendar.period(period_index)
    monthly = tx.plan.interval is Interval.MONTHLY
    kind = TransactionType.MONTHLY_RESET if monthly else TransactionType.DAILY_RESET
    description = "Monthly credit reset" if monthly else "Daily credit reset"
    for pool in tx.plan.pools:
        allowance = tx.plan.allowance(pool)
        if not allowance.is_positive():
            continue
        grant_id = create_grant(
            tx,
            pool,
            GrantSource.ALLOWANCE,
            effective_at=period.start_at,
            expires_at=period.end_at,
            period_index=period_index,
            description=description,
        )
        posted = fund_grant(
            tx, kind, pool, grant_id, allowance, created_at=period.start_at, description=description
        )
        funded[pool] = posted.transfer_id
    return funded


def next_event(tx: AccountTx, calendar: PeriodCalendar) -> datetime:
    """The next instant the account must be caught up: a period boundary or an expiry."""
    candidates = [calendar.start_of(tx.period_index + 1)]
    grant_expiry = ledger_state.first_grant_expiry(tx.connection, tx.account_id)
    hold_expiry = ledger_state.first_hold_expiry(tx.connection, tx.account_id)
    candidates.extend(value for value in (grant_expiry, hold_expiry) if value is not None)
    notice = ledger_state.first_notice_expiry(tx.connection, tx.account_id)
    if notice is not None:
        candidates.append(notice - tx.expiring_notice)
    return min(candidates)
