"""Whether an account's credits really run out before credits come back.

The pace of each pool is its spend over the last 7 local days, or over the account's age
when it is younger than that (a day-old account's one charge is a day's spend, not a
seventh of a week's). A pool with an allowance gets its credits back at the next reset:
it is short only when that pace empties it before the reset. A pool whose credits do not
come back (no allowance) has its forecast alone: it is short when that pace empties it
within the pace window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_FLOOR, Decimal

from creditbook.domain.amounts import Credits
from creditbook.domain.periods import local_date
from creditbook.engine.ledger import Ledger
from creditbook.engine.results import Account, Balance, PoolBalance

PACE_WINDOW_DAYS = 7
# A pace that never empties the pool is shown this far out at most (as the ledger does).
MAX_OUTLOOK_DAYS = 36_500


@dataclass(frozen=True, slots=True)
class Outlook:
    """`runs_out_on`: the earliest day a pool empties before its credits come back."""

    short: bool
    runs_out_on: date | None


def history_days(account: Account, today: date) -> int:
    """Local days of history behind the pace: the window, or the account's age if shorter."""
    opened = local_date(account.created_at, account.timezone)
    return max(1, min(PACE_WINDOW_DAYS, (today - opened).days + 1))


def pool_runs_out_on(available: Credits, spent: Credits, days: int, today: date) -> date | None:
    """The day `available` reaches zero at `spent` per `days` days (None: nothing spent)."""
    if not spent.is_positive():
        return None
    pace = spent.to_decimal() / days
    left = max(available.to_decimal(), Decimal(0))
    whole_days = int((left / pace).to_integral_value(rounding=ROUND_FLOOR))
    return today + timedelta(days=min(whole_days, MAX_OUTLOOK_DAYS))


def credits_return_on(pool: PoolBalance, reset: date, today: date) -> date:
    """When the pool's credits come back: the reset, or (none coming back) past the window."""
    if pool.allowance.is_positive():
        return reset
    return today + timedelta(days=PACE_WINDOW_DAYS)


def outlook(ledger: Ledger, account: Account, balance: Balance, today: date) -> Outlook:
    days = history_days(account, today)
    start = today - timedelta(days=days - 1)
    spent = {t.key: t.amount for t in ledger.stats(account.account_id, start, today).by_pool}
    reset = local_date(balance.period_end_at, account.timezone)
    earliest: date | None = None
    for pool in balance.pools.values():
        runs_out = pool_runs_out_on(pool.available, spent.get(pool.pool, Credits(0)), days, today)
        if runs_out is None or runs_out >= credits_return_on(pool, reset, today):
            continue
        earliest = runs_out if earliest is None else min(earliest, runs_out)
    return Outlook(earliest is not None, earliest)
