"""Runs: one run, pages of runs, a run's breakdown, and the slots runs hold."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from creditbook.domain.amounts import Credits
from creditbook.domain.errors import NotFoundError
from creditbook.domain.rates import BASE_FUNCTION, RateCard
from creditbook.engine.codec import card_from_body
from creditbook.engine.reports.accounts import account_row
from creditbook.engine.reports.paging import (
    MAX_PAGE_SIZE,
    check_limit,
    cursor_body,
    encode_cursor_body,
    malformed_cursor,
)
from creditbook.engine.results import FilterCredits, FunctionCredits, Run, RunBreakdown, RunPage
from creditbook.store.queries.reports import runs as queries


def used_slots(connection: Connection, account_id: str) -> int:
    return int(connection.execute(queries.used_slots(account_id)).scalar_one())


def run_row(connection: Connection, account_id: str, run_id: str) -> Any:
    """The run's row; NotFoundError for an unknown run."""
    row = connection.execute(queries.run(account_id, run_id)).first()
    if row is None:
        raise NotFoundError("run", run_id)
    return row


def run(connection: Connection, account_id: str, run_id: str) -> Run:
    return run_from_row(run_row(connection, account_id, run_id))


def runs(connection: Connection, account_id: str, limit: int, cursor: str | None = None) -> RunPage:
    """Runs newest first (start time, then id), paged by a keyset cursor: a run started
    later never shifts the pages after a cursor."""
    check_limit("limit", limit, MAX_PAGE_SIZE)
    after = decode_run_cursor(cursor) if cursor else None
    account_row(connection, account_id)
    rows = connection.execute(queries.runs_page(account_id, after, limit + 1)).all()
    has_more = len(rows) > limit
    data = [run_from_row(row) for row in rows[:limit]]
    next_cursor = encode_run_cursor(data[-1]) if has_more else None
    return RunPage(data, has_more, next_cursor)


def encode_run_cursor(run: Run) -> str:
    return encode_cursor_body("run", f"{run.started_at.isoformat()}|{run.run_id}")


def decode_run_cursor(cursor: str) -> tuple[datetime, str]:
    started_at, _, run_id = cursor_body(cursor, "run").partition("|")
    try:
        instant = datetime.fromisoformat(started_at)
    except ValueError:
        raise malformed_cursor() from None
    if instant.tzinfo is None or not run_id:
        raise malformed_cursor()
    return instant, run_id


def run_breakdown(connection: Connection, account_id: str, run_id: str) -> RunBreakdown:
    """What a run cost, per function of its rate card and per active priced filter."""
    row = run_row(connection, account_id, run_id)
    card = card_from_body(row.rate_card)
    stored = {
        (line.kind, line.name): line
        for line in connection.execute(queries.run_lines(account_id, run_id))
    }
    breakdown = _function_credits(card, stored)
    filters = _filter_credits(card, row.active_filters, stored)
    total = sum((item.credits for item in breakdown), Credits(0))
    total += sum((item.credits for item in filters), Credits(0))
    colors = {
        label: {"bg_color": c.bg_color, "txt_color": c.txt_color}
        for label, c in card.function_colors().items()
    }
    return RunBreakdown(
        run_id, total, row.rows_kept, breakdown, card.rates(), colors, card.base_label, filters
    )


def _function_credits(card: RateCard, stored: dict[tuple[str, str], Any]) -> list[FunctionCredits]:
    """The base function (always) and each function of the card with a line, by credits
    descending; equal credits keep base first, then by name."""
    breakdown: list[FunctionCredits] = []
    for name in [BASE_FUNCTION, *sorted(card.functions)]:
        line = stored.get(("function", name))
        if line is None and name != BASE_FUNCTION:
            continue
        breakdown.append(
            FunctionCredits(name, Credits(line.amount if line else 0), line.attempts if line else 0)
        )
    breakdown.sort(key=lambda item: -item.credits.millicredits)
    return breakdown


def _filter_credits(
    card: RateCard, active_filters: list[str], stored: dict[tuple[str, str], Any]
) -> list[FilterCredits]:
    """Each active filter that costs credits per row, in the run's order."""
    return [
        FilterCredits(
            name,
            card.filter(name).display,
            card.filter(name).credits_per_row,
            Credits(stored[("filter", name)].amount) if ("filter", name) in stored else Credits(0),
        )
        for name in active_filters
        if card.filter(name).credits_per_row.is_positive()
    ]


def run_from_row(row: Any) -> Run:
    return Run(
        row.run_id,
        row.account_id,
        row.rate_card_id,
        row.status,
        row.slots,
        row.hold_id,
        tuple(row.active_filters),
        row.user_id,
        row.resource_id,
        row.rows_kept,
        dict(row.rows_discarded),
        Credits(row.charged),
        row.started_at,
        row.finished_at,
    )
