"""The balance: now from the materialised grants and holds, or at a past instant replayed
from the entries; spend in the period per pool, and draws per source.

Its figures are sums of stored amounts, reported exactly however large
(`Credits.unbounded`): a database written before the amount bound may hold more."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta

from sqlalchemy import Connection

from creditbook.domain.amounts import Credits
from creditbook.domain.grants import GrantSource, TransactionType
from creditbook.domain.periods import PeriodCalendar, local_date, local_midnight
from creditbook.domain.plans import Plan
from creditbook.engine.reports.accounts import account_row
from creditbook.engine.reports.runs import used_slots
from creditbook.engine.results import Balance, PoolBalance
from creditbook.store.queries.reports import balance as queries

SPEND_TYPES = (TransactionType.DEDUCTION.value, TransactionType.REFUND.value)
PlanLoader = Callable[[Connection, str], Plan]
# Sources whose grants' draws in a period are reported: not the allowance (the plan says
# it) nor the overdraft (its debt is the figure).
DRAWN_SOURCES = tuple(
    s.value for s in GrantSource if s not in (GrantSource.ALLOWANCE, GrantSource.OVERDRAFT)
)
DRAW_TYPES = (*SPEND_TYPES, TransactionType.HOLD.value, TransactionType.RELEASE.value)

# Per pool, per source: credits.
BySource = dict[str, dict[str, Credits]]


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
    pools = {
        pool: PoolBalance(
            pool=pool,
            available=sum(by_source.get(pool, {}).values(), Credits(0)),
            held=held.get(pool, Credits(0)),
            allowance=plan.allowance(pool),
            consumed=consumed.get(pool, Credits(0)),
            by_source=_shown_sources(by_source.get(pool, {})),
            rollover_expires_at=rollover_expiry.get(pool),
            overdraft_limit=plan.overdraft,
            drawn_by_source=drawn.get(pool, {}),
        )
        for pool in sorted(set(plan.pools) | set(by_source) | set(held))
    }
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


def _shown_sources(sources: dict[str, Credits]) -> dict[str, Credits]:
    """The sources by name. The overdraft grant shows only when it holds credits (a refund
    after its debt was settled); its headroom is not credits."""
    return {s: a for s, a in sorted(sources.items()) if s != "overdraft" or a.is_positive()}


def _open_grant_totals(
    connection: Connection, account_id: str, at: datetime
) -> tuple[BySource, dict[str, datetime]]:
    """Spendable credits per pool and source from the grants' materialised balances."""
    rows = connection.execute(queries.open_grants(account_id, at))
    return _grant_sums((row.pool, row.source, int(row.remaining), row.expires_at) for row in rows)


def _grant_totals(
    connection: Connection, account_id: str, at: datetime
) -> tuple[BySource, dict[str, datetime]]:
    """Spendable credits per pool and source at `at`, replayed from entries."""
    rows = connection.execute(queries.grants_replayed(account_id, at))
    return _grant_sums(
        (row.pool, row.source, int(row.remaining), row.expires_at)
        for row in rows
        if int(row.remaining) != 0
    )


def _grant_sums(
    grants: Iterable[tuple[str, str, int, datetime | None]],
) -> tuple[BySource, dict[str, datetime]]:
    """Credits per pool and source of (pool, source, remaining, expires_at) grants, and per
    pool the earliest expiry of its rollover grants."""
    totals: BySource = defaultdict(dict)
    rollover_expiry: dict[str, datetime] = {}
    for pool, source, remaining, expires_at in grants:
        sources = totals[pool]
        sources[source] = sources.get(source, Credits(0)) + Credits.unbounded(remaining)
        if source == GrantSource.ROLLOVER.value and expires_at is not None:
            current = rollover_expiry.get(pool)
            if current is None or expires_at < current:
                rollover_expiry[pool] = expires_at
    return totals, rollover_expiry


def _open_holds(connection: Connection, account_id: str) -> dict[str, Credits]:
    rows = connection.execute(queries.active_holds(account_id))
    return {row.pool: Credits.unbounded(int(row.held)) for row in rows if int(row.held)}


def _held(connection: Connection, account_id: str, at: datetime) -> dict[str, Credits]:
    rows = connection.execute(queries.held_replayed(account_id, at))
    return {row.pool: Credits.unbounded(int(row.held)) for row in rows if int(row.held)}


def _drawn_by_source(
    connection: Connection, account_id: str, start: datetime, at: datetime
) -> BySource:
    """Credits drawn in [start, at] per pool and source (see `PoolBalance.drawn_by_source`).

    Two small reads instead of one join, so the plan cannot start from the period's
    transfers: the grants open at some point of the range (few), then only their entries
    from the range's first transfer on (`ix_entries_grant_seq`)."""
    drawable = {
        row.grant_id: (row.pool, row.source)
        for row in connection.execute(queries.drawable_grants(account_id, DRAWN_SOURCES, start, at))
    }
    if not drawable:
        return {}
    first_seq = connection.execute(queries.first_seq_since(account_id, start)).scalar_one()
    if first_seq is None:
        return {}
    rows = connection.execute(
        queries.grant_net_since(account_id, list(drawable), first_seq, DRAW_TYPES, at)
    )
    return _drawn(drawable, ((row.grant_id, int(row.net)) for row in rows))


def _drawn(drawable: dict[str, tuple[str, str]], nets: Iterable[tuple[str, int]]) -> BySource:
    """Draws per pool and source from each grant's net movement (a draw is negative); the
    sources drawn nothing on balance are left out."""
    drawn: BySource = defaultdict(dict)
    for grant_id, net in nets:
        pool, source = drawable[grant_id]
        sources = drawn[pool]
        sources[source] = sources.get(source, Credits(0)) - Credits.unbounded(net)
    return {pool: {s: a for s, a in sources.items() if a} for pool, sources in drawn.items()}


def _consumed(
    connection: Connection, account_id: str, timezone: str, start: datetime, at: datetime
) -> dict[str, Credits]:
    """Net spend (charges less refunds) per pool in [start, at]: the daily rollups for the
    local days wholly inside, the spent book of the transfers only for the partial days at
    either end. Both read the same figure, so the split never shows."""
    first, last = _whole_days(timezone, start, at)
    totals: dict[str, int] = defaultdict(int)
    if first > last:
        _add_spent(totals, connection, account_id, start, at, inclusive=True)
    else:
        for row in connection.execute(queries.rollup_spend_by_pool(account_id, first, last)):
            totals[row.pool] += int(row.net)
        _add_spent(totals, connection, account_id, start, local_midnight(first, timezone))
        last_end = local_midnight(last + timedelta(days=1), timezone)
        _add_spent(totals, connection, account_id, last_end, at, inclusive=True)
    return {pool: Credits.unbounded(net) for pool, net in totals.items()}


def _whole_days(timezone: str, start: datetime, at: datetime) -> tuple[date, date]:
    """The first and last local days wholly inside [start, at] (first > last: none)."""
    first = local_date(start, timezone)
    if local_midnight(first, timezone) < start:
        first += timedelta(days=1)
    return first, local_date(at, timezone) - timedelta(days=1)


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
    statement = queries.spent_by_pool(account_id, SPEND_TYPES, start, end, inclusive=inclusive)
    for row in connection.execute(statement):
        totals[row.pool] += int(row.net)
