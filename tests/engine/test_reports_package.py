"""The reports package keeps the surface the Ledger calls as `reports.<name>`."""

from __future__ import annotations

import types

from creditbook.engine import reports


def test_reports_surface_is_pinned() -> None:
    assert sorted(reports.__all__) == sorted(
        [
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
    )


def test_report_functions_are_not_shadowed_by_their_modules() -> None:
    # `reports.balance` is the function even though a module shares its name.
    for name in reports.__all__:
        assert not isinstance(getattr(reports, name), types.ModuleType), name
    for name in ("accounts", "balance", "runs", "stats", "verify"):
        assert callable(getattr(reports, name)), name
