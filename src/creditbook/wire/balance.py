"""An account's balance, per pool."""

from __future__ import annotations

from datetime import datetime

from creditbook.wire.common import Amount, Out


class PoolOut(Out):
    pool: str
    available: Amount
    held: Amount
    allowance: Amount
    consumed: Amount
    by_source: dict[str, Amount]
    rollover_expires_at: datetime | None
    overdraft_limit: Amount


class BalanceOut(Out):
    account_id: str
    at: datetime
    plan_id: str
    plan_name: str
    interval: str
    period_start_at: datetime
    period_end_at: datetime
    pools: dict[str, PoolOut]
    used_slots: int
    total_slots: int
    has_unpaid_bill: bool
