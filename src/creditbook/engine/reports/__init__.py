"""Reports: balances, history, stats, runs and verification. Reads only.

One module per report; each runs the named queries of `creditbook.store.queries.reports`
and shapes their rows. The Ledger calls them as `reports.<name>`.
"""

from __future__ import annotations

from creditbook.engine.reports.accounts import (
    MAX_ACCOUNTS_PAGE,
    account,
    account_row,
    accounts,
    hold,
)
from creditbook.engine.reports.balance import (
    DRAW_TYPES,
    DRAWN_SOURCES,
    SPEND_TYPES,
    PlanLoader,
    balance,
)
from creditbook.engine.reports.history import (
    MAX_ENTRIES_BATCH,
    EntryKey,
    TransactionQuery,
    decode_cursor,
    encode_cursor,
    entry_batch,
    entry_count,
    transactions,
)
from creditbook.engine.reports.paging import MAX_PAGE_SIZE
from creditbook.engine.reports.runs import (
    decode_run_cursor,
    encode_run_cursor,
    run,
    run_breakdown,
    run_row,
    runs,
    used_slots,
)
from creditbook.engine.reports.stats import (
    BUCKETS,
    FORECAST_WINDOWS_DAYS,
    MAX_RUNS_IN_STATS,
    bucket_start,
    forecast,
    spend_between,
    stats,
    stats_plan,
)
from creditbook.engine.reports.verify import verify

__all__ = [
    "BUCKETS",
    "DRAWN_SOURCES",
    "DRAW_TYPES",
    "FORECAST_WINDOWS_DAYS",
    "MAX_ACCOUNTS_PAGE",
    "MAX_ENTRIES_BATCH",
    "MAX_PAGE_SIZE",
    "MAX_RUNS_IN_STATS",
    "SPEND_TYPES",
    "EntryKey",
    "PlanLoader",
    "TransactionQuery",
    "account",
    "account_row",
    "accounts",
    "balance",
    "bucket_start",
    "decode_cursor",
    "decode_run_cursor",
    "encode_cursor",
    "encode_run_cursor",
    "entry_batch",
    "entry_count",
    "forecast",
    "hold",
    "run",
    "run_breakdown",
    "run_row",
    "runs",
    "spend_between",
    "stats",
    "stats_plan",
    "transactions",
    "used_slots",
    "verify",
]
