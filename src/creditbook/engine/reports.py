"""Reports: balances, history, stats, runs and verification. Reads only."""

from __future__ import annotations

import base64
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from sqlalchemy import Connection, and_, case, func, or_, select

from creditbook.domain.amounts import Credits
from creditbook.domain.errors import NotFoundError, ValidationError
from creditbook.domain.grants import CUSTOMER_VISIBLE_TYPES, GrantSource, TransactionType
from creditbook.domain.periods import (
    PeriodCalendar,
    check_instant,
    local_date,
    local_midnight,
    zone,
)
from creditbook.domain.plans import Plan
from creditbook.domain.rates import BASE_FUNCTION
from creditbook.domain.stats import change_percent, check_range, cost_per_credit, previous_range
from creditbook.engine.codec import card_from_body
from creditbook.engine.results import (
    Account,
    Balance,
    Bucket,
    Day,
    Entry,
    FilterCredits,
    Forecast,
    FunctionCredits,
    Hold,
    PoolBalance,
    ResourceTotal,
    Run,
    RunBreakdown,
    RunPage,
    RunTotal,
    Stats,
    StatsPlan,
    Total,
    Transaction,
    TransactionPage,
    VerifyReport,
)
from creditbook.store import schema

MAX_PAGE_SIZE = 100
MAX_ACCOUNTS_PAGE = 1000
SPEND_TYPES = (TransactionType.DEDUCTION.value, TransactionType.REFUND.value)
PlanLoader = Callable[[Connection, str], Plan]


# -- accounts, holds, runs ------------------------------------------------------------------


def _account_from_row(row: Any) -> Account:
    return Account(
        row.account_id,
        row.name,
        row.plan_id,
        row.timezone,
        row.anchor_at,
        row.created_at,
        row.has_unpaid_bill,
        row.metadata,
    )


def account_row(connection: Connection, account_id: str) -> Any:
    row = connection.execute(
        select(schema.accounts).where(schema.accounts.c.account_id == account_id)
    ).first()
    if row is None:
        raise NotFoundError("account", account_id)
    return row


def account(connection: Connection, account_id: str) -> Account:
    return _account_from_row(account_row(connection, account_id))


def accounts(connection: Connection, limit: int, after: str | None) -> list[Account]:
    if not 1 <= limit <= MAX_ACCOUNTS_PAGE:
        raise ValidationError(f"limit must be within 1..{MAX_ACCOUNTS_PAGE}", field="limit")
    table = schema.accounts.c
    query = select(schema.accounts).order_by(table.account_id).limit(limit)
    if after is not None:
        query = query.where(table.account_id > after)
    return [_account_from_row(row) for row in connection.execute(query)]


def hold(connection: Connection, account_id: str, hold_id: str) -> Hold:
    holds = schema.holds.c
    row = connection.execute(
        select(schema.holds).where(holds.account_id == account_id, holds.hold_id == hold_id)
    ).first()
    if row is None:
        raise NotFoundError("hold", hold_id)
    return Hold(
        row.hold_id,
        row.account_id,
        row.pool,
        Credits(row.amount),
        Credits(row.remaining),
        row.status,
        row.run_id,
        row.created_at,
        row.expires_at,
    )


def hold_is_active(connection: Connection, account_id: str, hold_id: str) -> bool:
    holds = schema.holds.c
    status = connection.execute(
        select(holds.status).where(holds.account_id == account_id, holds.hold_id == hold_id)
    ).scalar()
    return status == "active"


def used_slots(connection: Connection, account_id: str) -> int:
    runs = schema.runs.c
    used = connection.execute(
        select(func.coalesce(func.sum(runs.slots), 0)).where(
            runs.account_id == account_id, runs.status.in_(("running", "paused"))
        )
    ).scalar_one()
    return int(used)


def run_row(connection: Connection, account_id: str, run_id: str) -> Any:
    runs = schema.runs.c
    row = connection.execute(
        select(schema.runs).where(runs.account_id == account_id, runs.run_id == run_id)
    ).first()
    if row is None:
        raise NotFoundError("run", run_id)
    return row


def _run_from_row(row: Any) -> Run:
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


def run(connection: Connection, account_id: str, run_id: str) -> Run:
    return _run_from_row(run_row(connection, account_id, run_id))


def runs(connection: Connection, account_id: str, limit: int, cursor: str | None = None) -> RunPage:
    """Runs newest first (start time, then id), paged by a keyset cursor: a run started
    later never shifts the pages after a cursor."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValidationError(f"limit must be within 1..{MAX_PAGE_SIZE}", field="limit")
    after = decode_run_cursor(cursor) if cursor else None
    account_row(connection, account_id)
    table = schema.runs.c
    conditions = [table.account_id == account_id]
    if after is not None:
        started_at, run_id = after
        conditions.append(
            or_(
                table.started_at < started_at,
                and_(table.started_at == started_at, table.run_id > run_id),
            )
        )
    rows = connection.execute(
        select(schema.runs)
        .where(*conditions)
        .order_by(table.started_at.desc(), table.run_id)
        .limit(limit + 1)
    ).all()
    has_more = len(rows) > limit
    data = [_run_from_row(row) for row in rows[:limit]]
    next_cursor = encode_run_cursor(data[-1]) if has_more else None
    return RunPage(data, has_more, next_cursor)


def encode_run_cursor(run: Run) -> str:
    return _encode_cursor("run", f"{run.started_at.isoformat()}|{run.run_id}")


def decode_run_cursor(cursor: str) -> tuple[datetime, str]:
    started_at, _, run_id = _cursor_body(cursor, "run").partition("|")
    try:
        instant = datetime.fromisoformat(started_at)
    except ValueError:
        raise _malformed_cursor() from None
    if instant.tzinfo is None or not run_id:
        raise _malformed_cursor()
    return instant, run_id


def _encode_cursor(kind: str, body: str) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{body}".encode()).decode().rstrip("=")


def _cursor_body(cursor: str, kind: str) -> str:
    """What an opaque cursor of `kind` carries; a ValidationError for anything else."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except ValueError:  # also binascii.Error and UnicodeDecodeError
        raise _malformed_cursor() from None
    prefix, colon, body = text.partition(":")
    if prefix != kind or not colon:
        raise _malformed_cursor()
    return body


def _malformed_cursor() -> ValidationError:
    return ValidationError("malformed cursor", field="cursor")


def run_breakdown(connection: Connection, account_id: str, run_id: str) -> RunBreakdown:
    row = run_row(connection, account_id, run_id)
    card = card_from_body(row.rate_card)
    lines = schema.run_lines.c
    stored = {
        (line.kind, line.name): line
        for line in connection.execute(
            select(schema.run_lines).where(lines.account_id == account_id, lines.run_id == run_id)
        )
    }
    breakdown: list[FunctionCredits] = []
    for name in [BASE_FUNCTION, *sorted(card.functions)]:
        line = stored.get(("function", name))
        if line is None and name != BASE_FUNCTION:
            continue
        breakdown.append(
            FunctionCredits(name, Credits(line.amount if line else 0), line.attempts if line else 0)
        )
    # Sorted by credits descending; equal credits keep base first, then by name.
    breakdown.sort(key=lambda item: -item.credits.millicredits)
    filters = [
        FilterCredits(
            name,
            card.filter(name).display,
            card.filter(name).credits_per_row,
            Credits(stored[("filter", name)].amount) if ("filter", name) in stored else Credits(0),
        )
        for name in row.active_filters
        if card.filter(name).credits_per_row.is_positive()
    ]
    total = sum((item.credits for item in breakdown), Credits(0))
    total += sum((item.credits for item in filters), Credits(0))
    colors = {
        label: {"bg_color": c.bg_color, "txt_color": c.txt_color}
        for label, c in card.function_colors().items()
    }
    return RunBreakdown(
        run_id, total, row.rows_kept, breakdown, card.rates(), colors, card.base_label, filters
    )


# -- balance ----------------------------------------------------------------------------------


def balance(
    connection: Connection,
    account_id: str,
    at: datetime,
    load_plan: PlanLoader,
    *,
    replay: bool = False,
    draws: bool = False,
) -> Balance:
    """The balance now from the materialised grants and holds, or with `replay` as it was
    at a past instant, replayed from the entries. With `draws`, each pool also tells what
    was drawn from its sources in the period (`PoolBalance.drawn_by_source`)."""
    row = account_row(connection, account_id)
    plan = load_plan(connection, row.plan_id)
    calendar = PeriodCalendar(plan.interval, row.anchor_at, row.timezone)
    period = calendar.period_at(at) if at >= row.anchor_at else calendar.period(0)
    if replay:
        by_source, rollover_expiry = _grant_totals(connection, account_id, at)
        held = _held(connection, account_id, at)
    else:
        by_source, rollover_expiry = _open_grant_totals(connection, account_id, at)
        held = _open_holds(connection, account_id)
    consumed = _consumed(connection, account_id, row.timezone, period.start_at, at)
    drawn = _drawn_by_source(connection, account_id, period.start_at, at) if draws else {}
    pools: dict[str, PoolBalance] = {}
    for pool in sorted(set(plan.pools) | set(by_source) | set(held)):
        sources = by_source.get(pool, {})
        available = sum(sources.values(), Credits(0))
        pools[pool] = PoolBalance(
            pool=pool,
            available=available,
            held=held.get(pool, Credits(0)),
            allowance=plan.allowance(pool),
            consumed=consumed.get(pool, Credits(0)),
            # The overdraft grant shows only when it holds credits (a refund after its debt
            # was settled); its headroom is not credits.
            by_source={
                s: a for s, a in sorted(sources.items()) if s != "overdraft" or a.is_positive()
            },
            rollover_expires_at=rollover_expiry.get(pool),
            overdraft_limit=plan.overdraft,
            drawn_by_source=drawn.get(pool, {}),
        )
    return Balance(
        account_id,
        at,
        plan.plan_id,
        plan.name,
        plan.price_id,
        plan.interval,
        period.start_at,
        period.end_at,
        pools,
        used_slots(connection, account_id),
        plan.slots,
        row.has_unpaid_bill,
    )


def _open_grant_totals(
    connection: Connection, account_id: str, at: datetime
) -> tuple[dict[str, dict[str, Credits]], dict[str, datetime]]:
    """Spendable credits per pool and source from the grants' materialised balances."""
    grants = schema.grants.c
    rows = connection.execute(
        select(grants.pool, grants.source, grants.remaining, grants.expires_at).where(
            grants.account_id == account_id,
            grants.closed_at.is_(None),
            grants.effective_at <= at,
            grants.remaining != 0,
        )
    )
    totals: dict[str, dict[str, Credits]] = defaultdict(dict)
    rollover_expiry: dict[str, datetime] = {}
    for row in rows:
        sources = totals[row.pool]
        sources[row.source] = sources.get(row.source, Credits(0)) + Credits(row.remaining)
        if row.source == GrantSource.ROLLOVER.value and row.expires_at is not None:
            current = rollover_expiry.get(row.pool)
            if current is None or row.expires_at < current:
                rollover_expiry[row.pool] = row.expires_at
    return totals, rollover_expiry


# Sources whose grants' draws in a period are reported: not the allowance (the plan says
# it) nor the overdraft (its debt is the figure).
DRAWN_SOURCES = tuple(
    s.value for s in GrantSource if s not in (GrantSource.ALLOWANCE, GrantSource.OVERDRAFT)
)
DRAW_TYPES = (*SPEND_TYPES, TransactionType.HOLD.value, TransactionType.RELEASE.value)


def _drawn_by_source(
    connection: Connection, account_id: str, start: datetime, at: datetime
) -> dict[str, dict[str, Credits]]:
    """Credits drawn in [start, at] per pool and source (see `PoolBalance.drawn_by_source`).

    Two small reads instead of one join, so the plan cannot start from the period's
    transfers: the grants open at some point of the range (few), then only their entries
    from the range's first transfer on (`ix_entries_grant_seq`)."""
    grants, entries, transfers = schema.grants.c, schema.entries.c, schema.transfers.c
    drawable = {
        row.grant_id: (row.pool, row.source)
        for row in connection.execute(
            select(grants.grant_id, grants.pool, grants.source).where(
                grants.account_id == account_id,
                grants.source.in_(DRAWN_SOURCES),
                or_(grants.closed_at.is_(None), grants.closed_at >= start),
                grants.effective_at <= at,
            )
        )
    }
    if not drawable:
        return {}
    first_seq = connection.execute(
        select(func.min(transfers.seq)).where(
            transfers.account_id == account_id, transfers.created_at >= start
        )
    ).scalar_one()
    if first_seq is None:
        return {}
    rows = connection.execute(
        select(entries.grant_id, func.sum(entries.amount).label("net"))
        .select_from(schema.entries)
        .join(
            schema.transfers,
            and_(transfers.account_id == entries.account_id, transfers.seq == entries.seq),
        )
        .where(
            entries.account_id == account_id,
            entries.grant_id.in_(list(drawable)),
            entries.seq >= first_seq,
            entries.book == "grant",
            transfers.type.in_(DRAW_TYPES),
            transfers.created_at <= at,
        )
        .group_by(entries.grant_id)
    )
    drawn: dict[str, dict[str, Credits]] = defaultdict(dict)
    for row in rows:
        pool, source = drawable[row.grant_id]
        sources = drawn[pool]
        sources[source] = sources.get(source, Credits(0)) - Credits(int(row.net))
    return {pool: {s: a for s, a in sources.items() if a} for pool, sources in drawn.items()}


def _open_holds(connection: Connection, account_id: str) -> dict[str, Credits]:
    holds = schema.holds.c
    rows = connection.execute(
        select(holds.pool, func.sum(holds.remaining).label("held"))
        .where(holds.account_id == account_id, holds.status == "active")
        .group_by(holds.pool)
    )
    return {row.pool: Credits(int(row.held)) for row in rows if int(row.held)}


def _grant_totals(
    connection: Connection, account_id: str, at: datetime
) -> tuple[dict[str, dict[str, Credits]], dict[str, datetime]]:
    """Spendable credits per pool and source at `at`, replayed from entries."""
    grants, entries, transfers = schema.grants.c, schema.entries.c, schema.transfers.c
    rows = connection.execute(
        select(
            grants.pool,
            grants.source,
            grants.grant_id,
            grants.expires_at,
            func.sum(entries.amount).label("remaining"),
        )
        .select_from(schema.entries)
        .join(
            schema.transfers,
            and_(transfers.account_id == entries.account_id, transfers.seq == entries.seq),
        )
        .join(
            schema.grants,
            and_(grants.account_id == entries.account_id, grants.grant_id == entries.grant_id),
        )
        .where(
            entries.account_id == account_id,
            entries.book == "grant",
            transfers.created_at <= at,
            grants.effective_at <= at,
        )
        .group_by(grants.pool, grants.source, grants.grant_id, grants.expires_at)
    )
    totals: dict[str, dict[str, Credits]] = defaultdict(dict)
    rollover_expiry: dict[str, datetime] = {}
    for row in rows:
        remaining = int(row.remaining)
        if remaining == 0:
            continue
        sources = totals[row.pool]
        sources[row.source] = sources.get(row.source, Credits(0)) + Credits(remaining)
        if row.source == GrantSource.ROLLOVER.value and row.expires_at is not None:
            current = rollover_expiry.get(row.pool)
            if current is None or row.expires_at < current:
                rollover_expiry[row.pool] = row.expires_at
    return totals, rollover_expiry


def _held(connection: Connection, account_id: str, at: datetime) -> dict[str, Credits]:
    entries, transfers = schema.entries.c, schema.transfers.c
    rows = connection.execute(
        select(transfers.pool, func.sum(entries.amount).label("held"))
        .select_from(schema.entries)
        .join(
            schema.transfers,
            and_(transfers.account_id == entries.account_id, transfers.seq == entries.seq),
        )
        .where(entries.account_id == account_id, entries.book == "hold", transfers.created_at <= at)
        .group_by(transfers.pool)
    )
    return {row.pool: Credits(int(row.held)) for row in rows if int(row.held)}


def _consumed(
    connection: Connection, account_id: str, timezone: str, start: datetime, at: datetime
) -> dict[str, Credits]:
    """Net spend (charges less refunds) per pool in [start, at]: the daily rollups for the
    local days wholly inside, the spent book of the transfers only for the partial days at
    either end. Both read the same figure, so the split never shows."""
    first = local_date(start, timezone)
    if local_midnight(first, timezone) < start:
        first += timedelta(days=1)
    last = local_date(at, timezone) - timedelta(days=1)
    totals: dict[str, int] = defaultdict(int)
    if first > last:
        _add_spent(totals, connection, account_id, start, at, inclusive=True)
    else:
        rollups = schema.rollups.c
        for row in connection.execute(
            select(rollups.pool, func.sum(rollups.amount).label("net"))
            .where(rollups.account_id == account_id, rollups.day >= first, rollups.day <= last)
            .group_by(rollups.pool)
        ):
            totals[row.pool] += int(row.net)
        _add_spent(totals, connection, account_id, start, local_midnight(first, timezone))
        last_end = local_midnight(last + timedelta(days=1), timezone)
        _add_spent(totals, connection, account_id, last_end, at, inclusive=True)
    return {pool: Credits(net) for pool, net in totals.items()}


def _add_spent(
    totals: dict[str, int],
    connection: Connection,
    account_id: str,
    start: datetime,
    end: datetime,
    *,
    inclusive: bool = False,
) -> None:
    """Add the spent book of deductions and refunds posted in [start, end) (or [start, end])."""
    if end < start or (end == start and not inclusive):
        return
    entries, transfers = schema.entries.c, schema.transfers.c
    upper = transfers.created_at <= end if inclusive else transfers.created_at < end
    rows = connection.execute(
        select(transfers.pool, func.sum(entries.amount).label("net"))
        .select_from(schema.transfers)
        .join(
            schema.entries,
            and_(
                entries.account_id == transfers.account_id,
                entries.seq == transfers.seq,
                entries.book == "spent",
            ),
        )
        .where(
            transfers.account_id == account_id,
            transfers.type.in_(SPEND_TYPES),
            transfers.created_at >= start,
            upper,
        )
        .group_by(transfers.pool)
    )
    for row in rows:
        totals[row.pool] += int(row.net)


# -- history ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TransactionQuery:
    limit: int
    before_seq: int | None
    offset: int | None
    types: tuple[str, ...]
    since: datetime | None
    until: datetime | None

    @classmethod
    def build(
        cls,
        limit: int,
        cursor: str | None,
        offset: int | None,
        types: Sequence[TransactionType | str] | None,
        since: datetime | None,
        until: datetime | None,
    ) -> TransactionQuery:
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise ValidationError(f"limit must be within 1..{MAX_PAGE_SIZE}", field="limit")
        if cursor is not None and offset is not None:
            raise ValidationError("give cursor or offset, not both", field="cursor")
        if offset is not None and not 0 <= offset <= 10**9:
            raise ValidationError("offset must not be negative", field="offset")
        try:
            kinds = (
                tuple(sorted(TransactionType(t).value for t in types))
                if types
                else tuple(sorted(t.value for t in CUSTOMER_VISIBLE_TYPES))
            )
        except ValueError:
            raise ValidationError(f"unknown transaction type in {types!r}", field="types") from None
        for name, value in (("since", since), ("until", until)):
            if value is not None:
                check_instant(name, value)
        return cls(limit, decode_cursor(cursor) if cursor else None, offset, kinds, since, until)


def encode_cursor(seq: int) -> str:
    return _encode_cursor("seq", str(seq))


def decode_cursor(cursor: str) -> int:
    body = _cursor_body(cursor, "seq")
    if not body.isascii() or not body.isdigit() or len(body) > 18:  # within BIGINT
        raise _malformed_cursor()
    return int(body)


def transactions(
    connection: Connection, account_id: str, query: TransactionQuery
) -> TransactionPage:
    account_row(connection, account_id)
    transfers = schema.transfers.c
    conditions = [transfers.account_id == account_id, transfers.type.in_(query.types)]
    if query.since is not None:
        conditions.append(transfers.created_at >= query.since)
    if query.until is not None:
        conditions.append(transfers.created_at <= query.until)
    total: int | None = None  # not counted again on a page reached by cursor
    if query.before_seq is None:
        total = int(
            connection.execute(
                select(func.count()).select_from(schema.transfers).where(*conditions)
            ).scalar_one()
        )
    else:
        conditions.append(transfers.seq < query.before_seq)
    linked = schema.transfers.alias("linked")
    statement = (
        select(schema.transfers, linked.c.transfer_id.label("linked_id"))
        .outerjoin(
            linked,
            and_(linked.c.account_id == transfers.account_id, linked.c.seq == transfers.linked_seq),
        )
        .where(*conditions)
        .order_by(transfers.seq.desc())
        .limit(query.limit + 1)
        .offset(query.offset or 0)
    )
    rows = connection.execute(statement).all()
    has_more = len(rows) > query.limit
    rows = rows[: query.limit]
    data = [
        Transaction(
            row.transfer_id,
            TransactionType(row.type),
            row.pool,
            Credits(row.amount),
            row.description,
            row.created_at,
            row.function,
            row.run_id,
            row.user_id,
            row.linked_id,
        )
        for row in rows
    ]
    next_cursor = encode_cursor(rows[-1].seq) if has_more and rows else None
    return TransactionPage(data, has_more, next_cursor, total)


# -- raw entries ------------------------------------------------------------------------------

MAX_ENTRIES_BATCH = 10_000
EntryKey = tuple[str, int, int]


def entry_count(connection: Connection, account_id: str | None) -> int:
    entries = schema.entries.c
    statement = select(func.count()).select_from(schema.entries)
    if account_id is not None:
        account_row(connection, account_id)  # not_found for an unknown account
        statement = statement.where(entries.account_id == account_id)
    return int(connection.execute(statement).scalar_one())


def entry_batch(
    connection: Connection, account_id: str | None, after: EntryKey | None, batch: int
) -> list[Entry]:
    """Up to `batch` entries in (account, seq, line) order after the key `after`."""
    if not 1 <= batch <= MAX_ENTRIES_BATCH:
        raise ValidationError(f"batch must be within 1..{MAX_ENTRIES_BATCH}", field="batch")
    entries, transfers = schema.entries.c, schema.transfers.c
    statement = (
        select(
            entries.account_id,
            entries.seq,
            entries.line,
            transfers.transfer_id,
            transfers.type,
            transfers.pool,
            transfers.created_at,
            entries.book,
            entries.grant_id,
            entries.hold_id,
            entries.amount,
        )
        .join(
            schema.transfers,
            and_(transfers.account_id == entries.account_id, transfers.seq == entries.seq),
        )
        .order_by(entries.account_id, entries.seq, entries.line)
        .limit(batch)
    )
    if account_id is not None:
        account_row(connection, account_id)
        statement = statement.where(entries.account_id == account_id)
    if after is not None:
        last_account, seq, line = after
        # Spelled out rather than a row-value comparison, which every backend plans well.
        statement = statement.where(
            or_(
                entries.account_id > last_account,
                and_(entries.account_id == last_account, entries.seq > seq),
                and_(entries.account_id == last_account, entries.seq == seq, entries.line > line),
            )
        )
    return [
        Entry(
            row.account_id,
            int(row.seq),
            int(row.line),
            row.transfer_id,
            row.type,
            row.pool,
            row.created_at,
            row.book,
            row.grant_id,
            row.hold_id,
            Credits(int(row.amount)),
        )
        for row in connection.execute(statement)
    ]


# -- stats ------------------------------------------------------------------------------------


def spend_between(connection: Connection, account_id: str, start: date, end: date) -> Credits:
    rollups = schema.rollups.c
    total = connection.execute(
        select(func.coalesce(func.sum(rollups.amount), 0)).where(
            rollups.account_id == account_id, rollups.day >= start, rollups.day <= end
        )
    ).scalar_one()
    return Credits(int(total))


def _grouped(
    connection: Connection, account_id: str, start: date, end: date, *columns: Any
) -> list[Any]:
    """Spend and units of the rollups in a range, grouped in SQL by `columns`."""
    rollups = schema.rollups.c
    statement = (
        select(
            *columns,
            func.sum(rollups.amount).label("amount"),
            func.sum(rollups.quantity).label("units"),
        )
        .where(rollups.account_id == account_id, rollups.day >= start, rollups.day <= end)
        .group_by(*columns)
    )
    return list(connection.execute(statement).all())


def stats(
    connection: Connection, account_id: str, start: date, end: date, group_by: str = "day"
) -> Stats:
    """Spend from the daily rollups, aggregated in the database: never scans entries.

    Four grouped passes over the range's rollups: (day, module, function) and (day, user)
    for the daily figures and the user totals, (pool, function, module, service), whose
    groups do not grow with the range, for the other totals, and (resource, module).
    """
    check_range(start, end)
    if group_by not in BUCKETS:
        raise ValidationError(f"group_by must be one of {', '.join(BUCKETS)}", field="group_by")
    account_row(connection, account_id)
    rollups = schema.rollups.c

    def totals(rows: list[Any], index: int) -> list[Total]:
        """Spend and units per non-empty key in column `index` of grouped rows."""
        sums: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for row in rows:
            if row[index]:
                found = sums[row[index]]
                found[0] += int(row.amount)
                found[1] += int(row.units)
        items = [Total(key, Credits(amount), units) for key, (amount, units) in sums.items()]
        return sorted(items, key=lambda item: (-item.amount.millicredits, item.key))

    by_day_module = _grouped(
        connection, account_id, start, end, rollups.day, rollups.module, rollups.function
    )
    by_day_user = _grouped(connection, account_id, start, end, rollups.day, rollups.user_id)
    by_kind = _grouped(
        connection,
        account_id,
        start,
        end,
        rollups.pool,
        rollups.function,
        rollups.module,
        rollups.service,
    )
    # Per day: [total, by module, by user, by function] in millicredits.
    days: dict[date, list[Any]] = defaultdict(lambda: [0, defaultdict(int), {}, defaultdict(int)])
    for row in by_day_module:
        day = days[row.day]
        day[0] += int(row.amount)
        if row.module:
            day[1][row.module] += int(row.amount)
        if row.function:
            day[3][row.function] += int(row.amount)
    for row in by_day_user:
        if row.user_id:
            days[row.day][2][row.user_id] = int(row.amount)

    def credits_of(sums: dict[str, int]) -> dict[str, Credits]:
        return {key: Credits(amount) for key, amount in sorted(sums.items())}

    daily = [
        Day(day, Credits(v[0]), credits_of(v[1]), credits_of(v[2]), credits_of(v[3]))
        for day, v in sorted(days.items())
    ]
    total = Credits(sum(day.amount.millicredits for day in daily))
    previous = spend_between(connection, account_id, *previous_range(start, end))
    resources = [
        row
        for row in _grouped(connection, account_id, start, end, rollups.resource_id, rollups.module)
        if row[0]
    ]
    names = _resource_names(connection, account_id, [row[0] for row in resources])
    by_resource = sorted(
        (
            ResourceTotal(
                row[0], names.get(row[0], ""), row[1], Credits(int(row.amount)), int(row.units)
            )
            for row in resources
        ),
        key=lambda item: (-item.amount.millicredits, item.resource_id),
    )
    return Stats(
        account_id,
        start,
        end,
        total,
        previous,
        change_percent(total, previous),
        daily,
        totals(by_kind, 2),
        totals(by_kind, 3),
        totals(by_day_user, 1),
        totals(by_kind, 1),
        totals(by_kind, 0),
        by_resource,
        buckets=_buckets(daily, group_by),
        by_run=_runs_in_range(connection, account_id, start, end),
    )


BUCKETS = ("day", "week", "month")
FORECAST_WINDOWS_DAYS = (7, 30)


def stats_plan(plan: Plan, balance: Balance) -> StatsPlan:
    credits = sum(plan.allowances.values(), Credits(0))
    currency = plan.currency()
    fee = plan.prices.get(currency) if currency else None
    return StatsPlan(
        plan_id=plan.plan_id,
        interval=plan.interval,
        credits_per_period=credits,
        period_end_at=balance.period_end_at,
        currency=currency,
        fee=fee,
        cost_per_credit=cost_per_credit(fee, credits) if fee is not None else None,
        prices=dict(sorted(plan.prices.items())),
    )


def forecast(
    connection: Connection, account_id: str, balance: Balance, now: datetime
) -> list[Forecast]:
    """When the account's credits run out at its trailing 7- and 30-day burn."""
    timezone = account_row(connection, account_id).timezone
    today = local_date(now, timezone)
    available = sum((max(p.available, Credits(0)) for p in balance.pools.values()), Credits(0))
    period_end = local_date(balance.period_end_at, timezone)
    result = []
    for window in FORECAST_WINDOWS_DAYS:
        spent = spend_between(connection, account_id, today - timedelta(days=window - 1), today)
        burn = spent.to_decimal() / window
        if burn <= 0:
            result.append(Forecast(window, Decimal(0), None, False))
            continue
        days = int((available.to_decimal() / burn).to_integral_value(rounding=ROUND_FLOOR))
        runs_out = today + timedelta(days=min(days, 36_500))
        result.append(
            Forecast(window, burn.quantize(Decimal("0.001")) + 0, runs_out, runs_out < period_end)
        )
    return result


MAX_RUNS_IN_STATS = 100


def bucket_start(day: date, group_by: str) -> date:
    """The first day of the bucket `day` falls in (ISO weeks start on Monday)."""
    if group_by == "week":
        return day - timedelta(days=day.weekday())
    if group_by == "month":
        return day.replace(day=1)
    return day


def _buckets(daily: list[Day], group_by: str) -> list[Bucket]:
    sums: dict[date, int] = defaultdict(int)
    for day in daily:
        sums[bucket_start(day.date, group_by)] += day.amount.millicredits
    return [Bucket(start, Credits(amount)) for start, amount in sorted(sums.items())]


def _runs_in_range(
    connection: Connection, account_id: str, start: date, end: date
) -> list[RunTotal]:
    """The runs started in the range (local dates), most expensive first."""
    account = account_row(connection, account_id)
    tz = zone(account.timezone)
    begin = datetime.combine(start, datetime.min.time(), tzinfo=tz)
    finish = datetime.combine(end + timedelta(days=1), datetime.min.time(), tzinfo=tz)
    runs = schema.runs.c
    rows = connection.execute(
        select(
            runs.run_id,
            runs.rate_card_id,
            runs.status,
            runs.rows_kept,
            runs.charged,
            runs.started_at,
        )
        .where(runs.account_id == account_id, runs.started_at >= begin, runs.started_at < finish)
        .order_by(runs.charged.desc(), runs.run_id)
        .limit(MAX_RUNS_IN_STATS)
    )
    return [
        RunTotal(
            row.run_id,
            row.rate_card_id,
            row.status,
            row.rows_kept,
            Credits(row.charged),
            row.started_at,
        )
        for row in rows
    ]


def _resource_names(connection: Connection, account_id: str, ids: list[str]) -> dict[str, str]:
    if not ids:
        return {}
    table = schema.resources.c
    rows = connection.execute(
        select(table.resource_id, table.name).where(
            table.account_id == account_id, table.resource_id.in_(sorted(set(ids)))
        )
    )
    return {row.resource_id: row.name for row in rows}


# -- verification -----------------------------------------------------------------------------


def verify(connection: Connection, account_id: str | None) -> VerifyReport:
    """Replay the entries and compare them with every materialised figure."""
    differences: list[str] = []
    scope = _Scope(account_id)
    entries = schema.entries.c

    for row in connection.execute(
        select(entries.account_id, entries.seq, func.sum(entries.amount).label("total"))
        .where(*scope.of(entries))
        .group_by(entries.account_id, entries.seq)
        .having(func.sum(entries.amount) != 0)
    ):
        differences.append(f"{row.account_id} transfer #{row.seq}: entries sum to {row.total}")
    total = connection.execute(
        select(func.coalesce(func.sum(entries.amount), 0)).where(*scope.of(entries))
    ).scalar_one()
    if int(total) != 0:
        differences.append(f"all entries sum to {total}, not 0")

    differences += _verify_books(connection, scope)
    differences += _verify_transfers(connection, scope)
    differences += _verify_rollups(connection, scope)
    differences += _verify_runs(connection, scope)

    counts = [
        connection.execute(
            select(func.count()).select_from(table).where(*scope.of(table.c))
        ).scalar_one()
        for table in (schema.accounts, schema.transfers, schema.entries)
    ]
    if account_id is not None and counts[0] == 0:
        raise NotFoundError("account", account_id)
    return VerifyReport(differences, int(counts[0]), int(counts[1]), int(counts[2]))


@dataclass(frozen=True, slots=True)
class _Scope:
    account_id: str | None

    def of(self, columns: Any) -> list[Any]:
        return [] if self.account_id is None else [columns.account_id == self.account_id]


def _verify_books(connection: Connection, scope: _Scope) -> list[str]:
    differences = []
    entries = schema.entries.c
    for table, id_name, book in (
        (schema.grants, "grant_id", "grant"),
        (schema.holds, "hold_id", "hold"),
    ):
        replayed = (
            select(
                entries.account_id,
                getattr(entries, id_name),
                func.sum(entries.amount).label("total"),
            )
            .where(entries.book == book, *scope.of(entries))
            .group_by(entries.account_id, getattr(entries, id_name))
            .subquery()
        )
        rows = connection.execute(
            select(
                table.c.account_id,
                table.c[id_name],
                table.c.remaining,
                func.coalesce(replayed.c.total, 0).label("total"),
            )
            .outerjoin(
                replayed,
                and_(
                    replayed.c.account_id == table.c.account_id,
                    replayed.c[id_name] == table.c[id_name],
                ),
            )
            .where(table.c.remaining != func.coalesce(replayed.c.total, 0), *scope.of(table.c))
        )
        for row in rows:
            differences.append(
                f"{row.account_id} {book} {row[1]}: stored {row.remaining}, replayed {row.total}"
            )
    grants = schema.grants.c
    for negative in connection.execute(
        select(grants.account_id, grants.grant_id, grants.remaining).where(
            grants.remaining < 0, grants.source != GrantSource.OVERDRAFT.value, *scope.of(grants)
        )
    ):
        differences.append(f"{negative.account_id} grant {negative.grant_id} is below zero")
    return differences


def _verify_transfers(connection: Connection, scope: _Scope) -> list[str]:
    differences = []
    entries, transfers = schema.entries.c, schema.transfers.c
    customer = func.sum(case((entries.book.in_(("grant", "hold")), entries.amount), else_=0))
    for row in connection.execute(
        select(transfers.account_id, transfers.seq, transfers.amount, customer.label("net"))
        .join(
            schema.entries,
            and_(entries.account_id == transfers.account_id, entries.seq == transfers.seq),
        )
        .where(*scope.of(transfers))
        .group_by(transfers.account_id, transfers.seq, transfers.amount)
        .having(customer != transfers.amount)
    ):
        differences.append(
            f"{row.account_id} transfer #{row.seq}: amount {row.amount}, entries {row.net}"
        )
    refunds = schema.transfers.alias("refunds")
    spent = schema.entries.alias("spent")
    refunded = (
        select(refunds.c.account_id, refunds.c.linked_seq, func.sum(-spent.c.amount).label("total"))
        .join(
            spent,
            and_(
                spent.c.account_id == refunds.c.account_id,
                spent.c.seq == refunds.c.seq,
                spent.c.book == "spent",
            ),
        )
        .where(refunds.c.type == TransactionType.REFUND.value, *scope.of(refunds.c))
        .group_by(refunds.c.account_id, refunds.c.linked_seq)
        .subquery()
    )
    for row in connection.execute(
        select(
            transfers.account_id,
            transfers.seq,
            transfers.refunded,
            func.coalesce(refunded.c.total, 0).label("total"),
        )
        .outerjoin(
            refunded,
            and_(
                refunded.c.account_id == transfers.account_id,
                refunded.c.linked_seq == transfers.seq,
            ),
        )
        .where(
            transfers.type == TransactionType.DEDUCTION.value,
            transfers.refunded != func.coalesce(refunded.c.total, 0),
            *scope.of(transfers),
        )
    ):
        differences.append(
            f"{row.account_id} charge #{row.seq}: refunded {row.refunded}, replayed {row.total}"
        )
    return differences


def _verify_rollups(connection: Connection, scope: _Scope) -> list[str]:
    entries, transfers, accounts = schema.entries.c, schema.transfers.c, schema.accounts.c
    timezones = dict(
        connection.execute(
            select(accounts.account_id, accounts.timezone).where(*scope.of(accounts))
        ).all()
    )
    dimensions = ("pool", "function", "module", "service", "user_id", "resource_id")
    replayed: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0, 0])
    rows = connection.execute(
        select(
            transfers.account_id,
            transfers.created_at,
            transfers.type,
            transfers.quantity,
            *[transfers[name] for name in dimensions],
            func.sum(entries.amount).label("spent"),
        )
        .join(
            schema.entries,
            and_(
                entries.account_id == transfers.account_id,
                entries.seq == transfers.seq,
                entries.book == "spent",
            ),
        )
        .where(transfers.type.in_(SPEND_TYPES), *scope.of(transfers))
        .group_by(
            transfers.account_id,
            transfers.seq,
            transfers.created_at,
            transfers.type,
            transfers.quantity,
            *[transfers[name] for name in dimensions],
        )
    )
    for row in rows:
        day = local_date(row.created_at, timezones[row.account_id])
        key = (row.account_id, day, *[getattr(row, name) for name in dimensions])
        values = replayed[key]
        values[0] += int(row.spent)
        values[1] += row.quantity
        values[2] += 1 if row.type == TransactionType.DEDUCTION.value else 0
    rollups = schema.rollups.c
    stored = {
        (row.account_id, row.day, *[getattr(row, name) for name in dimensions]): [
            row.amount,
            row.quantity,
            row.charges,
        ]
        for row in connection.execute(select(schema.rollups).where(*scope.of(rollups)))
    }
    differences = []
    for key in sorted(set(stored) | set(replayed), key=str):
        if stored.get(key, [0, 0, 0]) != replayed.get(key, [0, 0, 0]):
            differences.append(
                f"rollup {key}: stored {stored.get(key)}, replayed {replayed.get(key)}"
            )
    return differences


def _verify_runs(connection: Connection, scope: _Scope) -> list[str]:
    transfers, lines, runs = schema.transfers.c, schema.run_lines.c, schema.runs.c
    billed = {
        (row.account_id, row.run_id, row.function): -int(row.total)
        for row in connection.execute(
            select(
                transfers.account_id,
                transfers.run_id,
                transfers.function,
                func.sum(transfers.amount).label("total"),
            )
            .where(
                transfers.type == TransactionType.DEDUCTION.value,
                transfers.run_id != "",
                *scope.of(transfers),
            )
            .group_by(transfers.account_id, transfers.run_id, transfers.function)
        )
    }
    differences = []
    recorded: dict[tuple[str, str, str], int] = {}
    per_run: dict[tuple[str, str], int] = defaultdict(int)
    for row in connection.execute(select(schema.run_lines).where(*scope.of(lines))):
        function = row.name if row.kind == "function" else f"filter:{row.name}"
        if row.amount:
            recorded[(row.account_id, row.run_id, function)] = row.amount
        per_run[(row.account_id, row.run_id)] += row.amount
    for key in sorted(set(billed) | set(recorded)):
        if billed.get(key, 0) != recorded.get(key, 0):
            differences.append(
                f"run line {key}: recorded {recorded.get(key)}, billed {billed.get(key)}"
            )
    for row in connection.execute(
        select(runs.account_id, runs.run_id, runs.charged).where(*scope.of(runs))
    ):
        if per_run.get((row.account_id, row.run_id), 0) != row.charged:
            differences.append(
                f"run {row.run_id}: charged {row.charged}, lines "
                f"{per_run.get((row.account_id, row.run_id), 0)}"
            )
    return differences
