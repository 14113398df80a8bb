"""Stats over a busy account's year: `Ledger.stats` (daily rollups) against a plain GROUP BY
over the raw charges, on SQLite and PostgreSQL.

    python benchmarks/stats.py [--charges N] [--backend sqlite|postgresql|both]
                               [--postgres-url URL] [--runs N] [--naive-runs N]
                               [--budget SECONDS] [--seed N] [--verify] [--json]

Per database it loads ONE busy account with a year of charges (default 10,000,000) and
prints:

- the latency of `Ledger.stats(...)` over the whole year and over the last complete
  calendar month (median of several warm runs, after one untimed call; calls slower than
  --budget / --runs get fewer runs, at least 3), and of its parts: the figures from the
  rollups (`reports.stats`) and the balance it adds (for the forecast);
- the latency of the same figures computed the naive way: one GROUP BY over the raw charges
  (transfers joined to their `spent` entries) by local day, pool, function, module, service,
  user and resource, folded in Python into the same totals;
- the ratio naive / `Ledger.stats` (goal ≥ 100×), and naive / rollup figures;
- whether both give identical figures, exactly in millicredits: the total, per day, per day
  and module, per day and user, per module, service, user, function and pool (with units)
  and per resource. Differences are printed and the exit status is 1.

The account is opened through the engine (`put_plan`, then `open_account` with an allowance
far above the year's spend, monthly, billing anchored 15 days before the year starts so the
current period is about half over, as it usually is) in America/New_York, so local days
differ from UTC days and two of them last 23 and 25 hours. The year is the 365 local days
before today. The charges have a plausible shape rather than independent uniform
dimensions: 60 resources, each tied to one of 5 services (so to one of 3 modules) and owned
by one of 25 users (some shared with a second user), with skewed popularity, some created or
retired during the year; 4 functions, each service billing some of them; a few percent of
the charges name no resource (users calling a service directly); fewer charges at weekends
and at night, and growth over the year.

Bulk loading: charging 10M times through the engine would take hours, so the charges are
generated in chunks (bounded memory) and written directly, as the engine writes them: per
charge a DEDUCTION transfer and two entries (`grant` -x on the allowance grant, `spent` +x),
and the rollups summed from the same generated charges per (local day, pool, function,
module, service, user, resource). PostgreSQL loads with COPY; SQLite with executemany in one
transaction, with journal_mode=OFF and synchronous=OFF for the load only (WAL is restored
after). The secondary indexes of transfers and entries are dropped before the load and
rebuilt from the declared schema after it; PostgreSQL then gets VACUUM ANALYZE, as
autovacuum would eventually do. Afterwards the account's last transfer number and the
grant's remaining credits are set so that `Ledger.verify` balances (`--verify` runs it; it
replays everything, so keep N small with it). Grant balances are NOT meaningful through
time and need not be for this benchmark: every charge of the year draws on the current
period's allowance grant, so balances at past instants are not what an account charged
through the engine would show. Only the spend (transfers, `spent` entries, rollups) is
exactly consistent.

PostgreSQL comes from --postgres-url, else CREDITBOOK_BENCH_POSTGRES_URL, else
CREDITBOOK_TEST_POSTGRES_URL (a server URL; a scratch database creditbook_bench_<random> is
created on it and dropped at the end). SQLite uses a temporary file.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import random
import resource
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as midnight_time
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import psycopg
from rich.console import Console
from rich.table import Table
from servers import (
    POSTGRES_ENVS,
    POSTGRES_SKIPPED,
    POSTGRES_URL_HELP,
    postgres_database,
    postgres_server,
)
from sqlalchemy import Date, Engine, TextClause, bindparam, select, text, update
from sqlalchemy.engine import Dialect
from sqlalchemy.schema import CreateIndex, DropIndex

from creditbook import Credits, Ledger, Plan
from creditbook.domain.grants import GrantSource, TransactionType
from creditbook.domain.periods import local_date
from creditbook.engine import reports
from creditbook.engine.results import Stats
from creditbook.store import schema
from creditbook.store.database import READ_ONLY

GOAL = 100.0  # naive GROUP BY latency / Ledger.stats latency

# -- the account and its year ------------------------------------------------------------------

TIMEZONE = "America/New_York"
DAYS = 365
POOL = "credits"
PLAN_ID = "bench-stats"
ACCOUNT_ID = "acct_bench_stats"
ALLOWANCE = Credits.of(10**11)  # the most a plan may grant a period; far above any spend here
# The billing anniversary is not the benchmark's day: the current period is about half over,
# so the balance Ledger.stats computes sums about two weeks of charges.
BILLING_ANCHOR_DAYS_BEFORE = 15
# service -> (module, the functions it bills with their shares of its charges)
SERVICES: dict[str, tuple[str, dict[str, int]]] = {
    "maps-export": ("scraping", {"base": 6, "get_phone_numbers": 3, "get_reviews": 1}),
    "profile-export": ("scraping", {"base": 8, "get_emails": 2}),
    "lead-search": ("leads", {"base": 5, "get_phone_numbers": 3, "get_emails": 2}),
    "email-finder": ("leads", {"get_emails": 1}),
    "enrichment": (
        "enrichment",
        {"base": 4, "get_phone_numbers": 2, "get_emails": 2, "get_reviews": 2},
    ),
}
SERVICE_SHARES = {
    "maps-export": 35,
    "profile-export": 20,
    "lead-search": 20,
    "email-finder": 10,
    "enrichment": 15,
}
RATES = {"base": 1_000, "get_phone_numbers": 3_000, "get_emails": 2_000, "get_reviews": 500}
USERS = 25
RESOURCES = 60
UNATTRIBUTED_SHARE = 0.04  # charges that name no resource
DIRECT_USERS = 0.4  # users who also call services directly, naming no resource
SHARED_RESOURCES = 0.3  # resources used by a second user too
SECOND_USER_SHARE = 0.25  # of a shared resource's charges
WEEKEND_FACTOR = 0.35
GROWTH = 0.6  # the last day is this much busier than the first, before noise
MEAN_QUANTITY = 12
MAX_QUANTITY = 2_000
HOUR_WEIGHTS = (1, 1, 1, 1, 1, 2, 3, 5, 8, 10, 10, 10, 9, 10, 10, 10, 9, 8, 6, 4, 3, 2, 2, 1)
CHUNK = 50_000  # charges generated and written at a time
MIN_RUNS = 3

TRANSFER_COLUMNS = (
    "account_id",
    "seq",
    "transfer_id",
    "type",
    "pool",
    "amount",
    "description",
    "created_at",
    "recorded_at",
    "linked_seq",
    "function",
    "module",
    "service",
    "user_id",
    "resource_id",
    "run_id",
    "hold_id",
    "quantity",
    "refunded",
)
ENTRY_COLUMNS = ("account_id", "seq", "line", "book", "grant_id", "hold_id", "amount")
ROLLUP_COLUMNS = (
    "account_id",
    "day",
    "pool",
    "function",
    "module",
    "service",
    "user_id",
    "resource_id",
    "amount",
    "quantity",
    "charges",
)
BULK_TABLES = (schema.transfers, schema.entries)  # their secondary indexes are rebuilt


@dataclass(frozen=True)
class Source:
    """Where charges come from: a resource, or (resource_id "") a user calling a service
    directly."""

    resource_id: str
    name: str
    service: str
    module: str
    owner: str
    second_user: str
    functions: tuple[str, ...]  # drawn uniformly: each function as often as its share
    first_day: int
    last_day: int
    weight: float


class Workload:
    """A year of one account's charges, deterministic for a seed."""

    def __init__(self, charges: int, seed: int, today: date) -> None:
        self.rng = random.Random(seed)
        self.first_day = today - timedelta(days=DAYS)
        self.last_day = today - timedelta(days=1)
        self.users = [f"user-{number:02d}" for number in range(1, USERS + 1)]
        self.sources = self._resources() + self._unattributed()
        self.per_day = self._day_counts(charges)

    def _resources(self) -> list[Source]:
        rng = self.rng
        services = list(SERVICE_SHARES)
        ownership = [1 / (rank + 1) ** 0.8 for rank in range(USERS)]
        sources = []
        for number in range(1, RESOURCES + 1):
            service = rng.choices(services, weights=list(SERVICE_SHARES.values()))[0]
            module, functions = SERVICES[service]
            owner = rng.choices(self.users, weights=ownership)[0]
            second = ""
            if rng.random() < SHARED_RESOURCES:
                second = rng.choice([user for user in self.users if user != owner])
            first = 0 if rng.random() < 0.7 else rng.randrange(1, DAYS - 60)
            last = DAYS - 1 if rng.random() < 0.85 else rng.randrange(first + 30, DAYS)
            sources.append(
                Source(
                    f"res-{number:03d}",
                    f"{service} task {number:03d}",
                    service,
                    module,
                    owner,
                    second,
                    _table(functions),
                    first,
                    last,
                    rng.lognormvariate(0, 1.0),
                )
            )
        total = sum(source.weight for source in sources)
        scale = (1 - UNATTRIBUTED_SHARE) / total
        return [_reweighted(source, source.weight * scale) for source in sources]

    def _unattributed(self) -> list[Source]:
        """Some users also call a service or two directly, naming no resource."""
        rng = self.rng
        services = list(SERVICE_SHARES)
        pairs = []
        for user in self.users:
            if rng.random() < DIRECT_USERS:
                chosen = rng.sample(services, rng.choice((1, 1, 2)))
                pairs += [(user, service) for service in chosen]
        pairs = pairs or [(self.users[0], services[0])]
        return [
            Source(
                "",
                "",
                service,
                SERVICES[service][0],
                user,
                "",
                _table(SERVICES[service][1]),
                0,
                DAYS - 1,
                UNATTRIBUTED_SHARE / len(pairs),
            )
            for user, service in pairs
        ]

    def _day_counts(self, charges: int) -> list[int]:
        weights = []
        for index in range(DAYS):
            day = self.first_day + timedelta(days=index)
            weight = 1 - GROWTH / 2 + GROWTH * index / (DAYS - 1)
            if day.weekday() >= 5:
                weight *= WEEKEND_FACTOR
            weights.append(weight * self.rng.lognormvariate(0, 0.15))
        total = sum(weights)
        exact = [charges * weight / total for weight in weights]
        counts = [int(value) for value in exact]
        by_remainder = sorted(range(DAYS), key=lambda index: counts[index] - exact[index])
        for index in by_remainder[: charges - sum(counts)]:
            counts[index] += 1
        return counts

    def active(self, index: int) -> tuple[list[Source], list[float]]:
        sources = [s for s in self.sources if s.first_day <= index <= s.last_day]
        cumulative, running = [], 0.0
        for source in sources:
            running += source.weight
            cumulative.append(running)
        return sources, cumulative

    def resource_names(self) -> list[dict[str, str]]:
        return [
            {"account_id": ACCOUNT_ID, "resource_id": s.resource_id, "name": s.name}
            for s in self.sources
            if s.resource_id
        ]


def _table(shares: dict[str, int]) -> tuple[str, ...]:
    return tuple(name for name, share in shares.items() for _ in range(share))


def _reweighted(source: Source, weight: float) -> Source:
    return dataclasses.replace(source, weight=weight)


@dataclass
class Chunk:
    transfers: list[tuple[Any, ...]] = field(default_factory=list)
    entries: list[tuple[Any, ...]] = field(default_factory=list)
    rollups: list[tuple[Any, ...]] = field(default_factory=list)


@dataclass
class Generated:
    """What was generated, per local day (index 0 is the first day of the year)."""

    charges: list[int] = field(default_factory=list)
    rollup_rows: list[int] = field(default_factory=list)
    total: int = 0  # millicredits
    last_seq: int = 0


def generate(
    workload: Workload,
    grant_id: str,
    first_seq: int,
    stamp: Callable[[datetime], Any],
    day_value: Callable[[date], Any],
    generated: Generated,
) -> Iterator[Chunk]:
    """The charges as the engine writes them, day by day, in chunks of about CHUNK charges.

    `stamp` turns a naive UTC datetime into what the loader writes, `day_value` a date.
    """
    rng = workload.rng
    tz = ZoneInfo(TIMEZONE)
    hours = range(24)
    hour_cumulative = [sum(HOUR_WEIGHTS[: hour + 1]) for hour in hours]
    deduction = TransactionType.DEDUCTION.value
    seq = first_seq - 1
    chunk = Chunk()
    for index, count in enumerate(workload.per_day):
        day = workload.first_day + timedelta(days=index)
        start = datetime.combine(day, midnight_time(), tzinfo=tz).astimezone(UTC)
        end = datetime.combine(day + timedelta(days=1), midnight_time(), tzinfo=tz).astimezone(UTC)
        length_us = (end - start) // timedelta(microseconds=1)
        start_naive = start.replace(tzinfo=None)
        sources, cumulative = workload.active(index)
        picks = rng.choices(sources, cum_weights=cumulative, k=count)
        offsets = sorted(
            int((hour + rng.random()) * length_us / 24)
            for hour in rng.choices(hours, cum_weights=hour_cumulative, k=count)
        )
        ids = rng.randbytes(12 * count).hex()
        sums: dict[tuple[str, ...], list[int]] = {}
        for number in range(count):
            source = picks[number]
            user = source.owner
            if source.second_user and rng.random() < SECOND_USER_SHARE:
                user = source.second_user
            functions = source.functions
            function = functions[rng.randrange(len(functions))]
            quantity = min(1 + int(rng.expovariate(1 / MEAN_QUANTITY)), MAX_QUANTITY)
            amount = RATES[function] * quantity
            at = stamp(start_naive + timedelta(microseconds=offsets[number]))
            seq += 1
            transfer_id = "txn_" + ids[24 * number : 24 * number + 24]
            chunk.transfers.append(
                (
                    ACCOUNT_ID,
                    seq,
                    transfer_id,
                    deduction,
                    POOL,
                    -amount,
                    f"{function} x {quantity}",
                    at,
                    at,
                    None,
                    function,
                    source.module,
                    source.service,
                    user,
                    source.resource_id,
                    "",
                    "",
                    quantity,
                    0,
                )
            )
            chunk.entries.append((ACCOUNT_ID, seq, 0, "grant", grant_id, "", -amount))
            chunk.entries.append((ACCOUNT_ID, seq, 1, "spent", "", "", amount))
            key = (function, source.module, source.service, user, source.resource_id)
            found = sums.get(key)
            if found is None:
                sums[key] = [amount, quantity, 1]
            else:
                found[0] += amount
                found[1] += quantity
                found[2] += 1
            generated.total += amount
            if len(chunk.transfers) >= CHUNK:
                yield chunk
                chunk = Chunk()
        local_day = day_value(day)
        for group, (amount, quantity, charges) in sorted(sums.items()):
            chunk.rollups.append((ACCOUNT_ID, local_day, POOL, *group, amount, quantity, charges))
        generated.charges.append(count)
        generated.rollup_rows.append(len(sums))
    generated.last_seq = seq
    yield chunk


# -- bulk loaders --------------------------------------------------------------------------------


class Loader(Protocol):
    def write(self, chunk: Chunk) -> None: ...

    def finish(self, timings: dict[str, float]) -> None: ...


def _index_ddl(dialect: Dialect) -> tuple[list[str], list[str]]:
    indexes = [index for table in BULK_TABLES for index in sorted(table.indexes, key=str)]
    drops = [str(DropIndex(index).compile(dialect=dialect)) for index in indexes]
    creates = [str(CreateIndex(index).compile(dialect=dialect)) for index in indexes]
    return drops, creates


class SqliteLoader:
    """executemany in one transaction; no journal and no syncing during the load only."""

    def __init__(self, path: Path, dialect: Dialect) -> None:
        self.connection = sqlite3.connect(path, isolation_level=None)
        for pragma in (
            "journal_mode=OFF",
            "synchronous=OFF",
            # 500 MiB of page cache while loading; index builds sort in temporary files.
            "cache_size=-512000",
        ):
            self.connection.execute(f"PRAGMA {pragma}")
        drops, self.creates = _index_ddl(dialect)
        for statement in drops:
            self.connection.execute(statement)
        self.statements = {
            name: f"INSERT INTO {name} ({', '.join(columns)}) "
            f"VALUES ({', '.join('?' for _ in columns)})"
            for name, columns in (
                ("transfers", TRANSFER_COLUMNS),
                ("entries", ENTRY_COLUMNS),
                ("rollups", ROLLUP_COLUMNS),
            )
        }
        self.connection.execute("BEGIN")

    def write(self, chunk: Chunk) -> None:
        self.connection.executemany(self.statements["transfers"], chunk.transfers)
        self.connection.executemany(self.statements["entries"], chunk.entries)
        self.connection.executemany(self.statements["rollups"], chunk.rollups)

    def finish(self, timings: dict[str, float]) -> None:
        self.connection.execute("COMMIT")
        start = time.perf_counter()
        self.connection.execute("BEGIN")
        for statement in self.creates:
            self.connection.execute(statement)
        self.connection.execute("COMMIT")
        timings["indexes"] = time.perf_counter() - start
        start = time.perf_counter()
        self.connection.execute("PRAGMA journal_mode=WAL")
        self.connection.execute("PRAGMA synchronous=FULL")
        self.connection.close()
        timings["restore_wal"] = time.perf_counter() - start


class PostgresLoader:
    """COPY in one transaction, then the indexes, then VACUUM ANALYZE."""

    def __init__(self, url: str, dialect: Dialect) -> None:
        self.url = url
        self.connection = psycopg.connect(url)
        self.connection.execute("SET maintenance_work_mem = '512MB'")
        drops, self.creates = _index_ddl(dialect)
        for statement in drops:
            self.connection.execute(statement)
        self.copies = {
            name: f"COPY {name} ({', '.join(columns)}) FROM STDIN"
            for name, columns in (
                ("transfers", TRANSFER_COLUMNS),
                ("entries", ENTRY_COLUMNS),
                ("rollups", ROLLUP_COLUMNS),
            )
        }

    def write(self, chunk: Chunk) -> None:
        with self.connection.cursor() as cursor:
            for name, rows in (
                ("transfers", chunk.transfers),
                ("entries", chunk.entries),
                ("rollups", chunk.rollups),
            ):
                if not rows:
                    continue
                with cursor.copy(self.copies[name]) as copy:
                    for row in rows:
                        copy.write_row(row)

    def finish(self, timings: dict[str, float]) -> None:
        start = time.perf_counter()
        for statement in self.creates:
            self.connection.execute(statement)
        self.connection.commit()
        timings["indexes"] = time.perf_counter() - start
        self.connection.close()
        start = time.perf_counter()
        with psycopg.connect(self.url, autocommit=True) as connection:
            for table in ("transfers", "entries", "rollups", "grants", "accounts", "resources"):
                connection.execute(f"VACUUM (ANALYZE) {table}")
        timings["vacuum_analyze"] = time.perf_counter() - start


@dataclass
class Loaded:
    account_id: str
    generated: Generated
    timings: dict[str, float]


def load(
    ledger: Ledger, loader_for: Callable[[Dialect], Loader], workload: Workload, progress: Console
) -> Loaded:
    """Open the account through the engine, then bulk-load its year of charges."""
    ledger.put_plan(Plan(PLAN_ID, name="Benchmark", allowances={POOL: ALLOWANCE}))
    tz = ZoneInfo(TIMEZONE)
    anchor_day = workload.first_day - timedelta(days=BILLING_ANCHOR_DAYS_BEFORE)
    anchor = datetime.combine(anchor_day, midnight_time(), tzinfo=tz)
    ledger.open_account(
        PLAN_ID,
        account_id=ACCOUNT_ID,
        name="Busy account",
        timezone=TIMEZONE,
        billing_anchor_at=anchor,
    )
    grants, accounts = schema.grants.c, schema.accounts.c
    with ledger.engine.connect() as connection:
        grant_id = connection.execute(
            select(grants.grant_id).where(
                grants.account_id == ACCOUNT_ID,
                grants.pool == POOL,
                grants.source == GrantSource.ALLOWANCE.value,
                grants.closed_at.is_(None),
            )
        ).scalar_one()
        last_seq = connection.execute(
            select(accounts.last_seq).where(accounts.account_id == ACCOUNT_ID)
        ).scalar_one()
    ledger.engine.dispose()  # SQLite changes journal mode only without other connections

    # SQLite gets the text SQLAlchemy would store; psycopg adapts datetimes and dates.
    on_sqlite = ledger.engine.dialect.name == "sqlite"
    stamp: Callable[[datetime], Any] = _sqlite_datetime if on_sqlite else _same
    day_value: Callable[[date], Any] = date.isoformat if on_sqlite else _same
    generated = Generated()
    timings: dict[str, float] = {"database_writes": 0.0}
    start = time.perf_counter()
    loader = loader_for(ledger.engine.dialect)
    written, report_every = 0, max(sum(workload.per_day) // 10, CHUNK)
    for chunk in generate(workload, grant_id, last_seq + 1, stamp, day_value, generated):
        begin = time.perf_counter()
        loader.write(chunk)
        timings["database_writes"] += time.perf_counter() - begin
        before, written = written, written + len(chunk.transfers)
        if written // report_every != before // report_every:
            progress.print(f"  {written:,} charges written ({time.perf_counter() - start:.0f} s)")
    timings["generate_and_write"] = time.perf_counter() - start
    loader.finish(timings)

    start = time.perf_counter()
    with ledger.engine.begin() as connection:
        connection.execute(
            update(schema.accounts)
            .where(accounts.account_id == ACCOUNT_ID)
            .values(last_seq=generated.last_seq)
        )
        connection.execute(
            update(schema.grants)
            .where(grants.account_id == ACCOUNT_ID, grants.grant_id == grant_id)
            .values(remaining=grants.remaining - generated.total)
        )
        connection.execute(schema.resources.insert(), workload.resource_names())
    timings["account_update"] = time.perf_counter() - start
    timings["total"] = sum(
        value for name, value in timings.items() if name not in ("database_writes",)
    )
    return Loaded(ACCOUNT_ID, generated, timings)


def _same(value: Any) -> Any:
    return value


def _sqlite_datetime(at: datetime) -> str:
    return at.isoformat(" ", "microseconds")


# -- the naive way: GROUP BY over the raw charges ------------------------------------------------

NAIVE_SQL = """
SELECT {day} AS day, t.pool, t.function, t.module, t.service, t.user_id, t.resource_id,
       SUM(e.amount) AS amount, SUM(t.quantity) AS units
FROM transfers AS t
JOIN entries AS e ON e.account_id = t.account_id AND e.seq = t.seq AND e.book = 'spent'
WHERE t.account_id = :account_id AND t.type IN ('{deduction}', '{refund}')
  AND t.created_at >= :begin AND t.created_at < :finish
GROUP BY 1, 2, 3, 4, 5, 6, 7
"""


def local_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """The UTC instants the local days start..end (inclusive) begin and end at."""
    tz = ZoneInfo(TIMEZONE)
    begin = datetime.combine(start, midnight_time(), tzinfo=tz).astimezone(UTC)
    finish = datetime.combine(end + timedelta(days=1), midnight_time(), tzinfo=tz)
    return begin, finish.astimezone(UTC)


def offset_changes(begin: datetime, finish: datetime) -> list[tuple[datetime, int]]:
    """(from instant, UTC offset in seconds) of the account's zone over [begin, finish)."""
    tz = ZoneInfo(TIMEZONE)

    def offset(at: datetime) -> int:
        delta = at.astimezone(tz).utcoffset()
        assert delta is not None
        return int(delta.total_seconds())

    changes = [(begin, offset(begin))]
    at = begin
    while at < finish:
        step = min(at + timedelta(hours=1), finish)
        if offset(step) != changes[-1][1]:
            low, high = int(at.timestamp()), int(step.timestamp())  # old offset .. new offset
            while high - low > 1:
                middle = (low + high) // 2
                if offset(datetime.fromtimestamp(middle, UTC)) == changes[-1][1]:
                    low = middle
                else:
                    high = middle
            moment = datetime.fromtimestamp(high, UTC)
            changes.append((moment, offset(moment)))
        at = step
    return changes


def naive_statement(dialect: str, begin: datetime, finish: datetime) -> TextClause:
    if dialect == "postgresql":
        day = "CAST((t.created_at AT TIME ZONE 'UTC') AT TIME ZONE CAST(:timezone AS TEXT) AS DATE)"
    else:
        # SQLite has no time zones: shift by the zone's offset, which changes at known instants.
        changes = offset_changes(begin, finish)
        shift = f"'{changes[-1][1]} seconds'"
        if len(changes) > 1:
            whens = " ".join(
                f"WHEN t.created_at < '{until.replace(tzinfo=None).isoformat(' ', 'microseconds')}'"
                f" THEN '{seconds} seconds'"
                for (_, seconds), (until, _) in itertools.pairwise(changes)
            )
            shift = f"CASE {whens} ELSE {shift} END"
        day = f"date(t.created_at, {shift})"
    sql = NAIVE_SQL.format(
        day=day,
        deduction=TransactionType.DEDUCTION.value,
        refund=TransactionType.REFUND.value,
    )
    statement = text(sql).bindparams(
        bindparam("begin", type_=schema.UTCDateTime()),
        bindparam("finish", type_=schema.UTCDateTime()),
    )
    return statement  # the day column is typed by naive_rows


def naive_rows(engine: Engine, account_id: str, start: date, end: date) -> list[Any]:
    begin, finish = local_bounds(start, end)
    dialect = engine.dialect.name
    statement = naive_statement(dialect, begin, finish).columns(day=Date)
    params: dict[str, Any] = {"account_id": account_id, "begin": begin, "finish": finish}
    if dialect == "postgresql":
        params["timezone"] = TIMEZONE
    with engine.connect() as connection:
        if dialect == "sqlite":
            connection = connection.execution_options(**{READ_ONLY: True})
        with connection.begin():
            return list(connection.execute(statement, params).all())


# -- comparing figures ---------------------------------------------------------------------------

Sections = dict[str, dict[Any, tuple[int, ...]]]
TOTALS = ("module", "service", "user", "function", "pool")


def figures_of_stats(stats: Stats) -> Sections:
    sections: Sections = {
        "total": {"": (stats.total.millicredits,)},
        "day": {day.date: (day.amount.millicredits,) for day in stats.daily},
        "day × module": {
            (day.date, module): (amount.millicredits,)
            for day in stats.daily
            for module, amount in day.by_module.items()
        },
        "day × user": {
            (day.date, user): (amount.millicredits,)
            for day in stats.daily
            for user, amount in day.by_user.items()
        },
        "resource": {
            (item.resource_id, item.module): (item.amount.millicredits, item.units)
            for item in stats.by_resource
        },
    }
    for name, totals in zip(
        TOTALS,
        (stats.by_module, stats.by_service, stats.by_user, stats.by_function, stats.by_pool),
        strict=True,
    ):
        sections[name] = {item.key: (item.amount.millicredits, item.units) for item in totals}
    return sections


def figures_of_rows(rows: list[Any]) -> Sections:
    """Fold the naive GROUP BY's rows into the same figures (groups without a key left out,
    as stats leaves them out)."""
    total = 0
    day: dict[Any, list[int]] = defaultdict(lambda: [0])
    day_module: dict[Any, list[int]] = defaultdict(lambda: [0])
    day_user: dict[Any, list[int]] = defaultdict(lambda: [0])
    by_resource: dict[Any, list[int]] = defaultdict(lambda: [0, 0])
    totals: dict[str, dict[Any, list[int]]] = {name: defaultdict(lambda: [0, 0]) for name in TOTALS}
    for row in rows:
        amount, units = int(row.amount), int(row.units)
        local = row.day if isinstance(row.day, date) else date.fromisoformat(row.day)
        total += amount
        day[local][0] += amount
        if row.module:
            day_module[(local, row.module)][0] += amount
        if row.user_id:
            day_user[(local, row.user_id)][0] += amount
        if row.resource_id:
            sums = by_resource[(row.resource_id, row.module)]
            sums[0] += amount
            sums[1] += units
        for name, key in zip(
            TOTALS, (row.module, row.service, row.user_id, row.function, row.pool), strict=True
        ):
            if key:
                sums = totals[name][key]
                sums[0] += amount
                sums[1] += units
    sections: Sections = {
        "total": {"": (total,)},
        "day": {key: tuple(value) for key, value in day.items()},
        "day × module": {key: tuple(value) for key, value in day_module.items()},
        "day × user": {key: tuple(value) for key, value in day_user.items()},
        "resource": {key: tuple(value) for key, value in by_resource.items()},
    }
    for name in TOTALS:
        sections[name] = {key: tuple(value) for key, value in totals[name].items()}
    return sections


def differences(stats: Sections, naive: Sections) -> list[str]:
    found = []
    for section, values in stats.items():
        other = naive[section]
        for key in sorted(set(values) | set(other), key=str):
            if values.get(key) != other.get(key):
                label = " / ".join(map(str, key)) if isinstance(key, tuple) else str(key)
                found.append(
                    f"{section} {label}".strip()
                    + f": Ledger.stats {_values(values.get(key))}, naive {_values(other.get(key))}"
                )
    return found


def _values(values: tuple[int, ...] | None) -> str:
    if values is None:
        return "missing"
    names = ("millicredits", "units")
    return ", ".join(f"{value} {name}" for value, name in zip(values, names, strict=False))


def compared_groups(sections: Sections) -> int:
    return sum(len(values) for values in sections.values())


# -- measuring -----------------------------------------------------------------------------------


@dataclass
class Timing:
    samples: list[float] = field(default_factory=list)  # seconds

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def as_json(self) -> dict[str, Any]:
        return {
            "median_ms": self.median * 1000,
            "min_ms": min(self.samples) * 1000,
            "max_ms": max(self.samples) * 1000,
            "samples_ms": [sample * 1000 for sample in self.samples],
        }


def timed(call: Callable[[], Any], runs: int, budget: float) -> tuple[Timing, Any]:
    """Up to `runs` timed calls after one untimed warm-up call, and the last result.

    Slow calls get fewer runs, as many as fit in `budget` seconds, but at least
    MIN_RUNS: a median of three 100-second calls says enough.
    """
    start = time.perf_counter()
    result = call()
    warm_up = time.perf_counter() - start
    runs = min(runs, max(MIN_RUNS, int(budget / max(warm_up, 1e-9))))
    timing = Timing()
    for _ in range(runs):
        start = time.perf_counter()
        result = call()
        timing.samples.append(time.perf_counter() - start)
    return timing, result


@dataclass
class RangeResult:
    name: str
    start: date
    end: date
    charges: int
    rollup_rows: int
    ledger_stats: Timing
    rollup_figures: Timing
    naive: Timing
    groups_compared: int
    differences: list[str]

    @property
    def ratio(self) -> float:
        return self.naive.median / self.ledger_stats.median

    @property
    def rollup_ratio(self) -> float:
        return self.naive.median / self.rollup_figures.median


@dataclass
class DatabaseResult:
    name: str
    server: str
    charges: int
    rollup_rows: int
    load: dict[str, float]
    size_bytes: int
    balance: Timing
    ranges: list[RangeResult]
    checks: list[str]


def ranges_of(workload: Workload) -> list[tuple[str, date, date]]:
    last = workload.last_day
    month_end = last if (last + timedelta(days=1)).day == 1 else last.replace(day=1) - timedelta(1)
    return [
        ("year", workload.first_day, last),
        ("month", month_end.replace(day=1), month_end),
    ]


def measure_range(
    ledger: Ledger,
    loaded: Loaded,
    workload: Workload,
    name: str,
    start: date,
    end: date,
    args: argparse.Namespace,
    progress: Console,
) -> RangeResult:
    account_id = loaded.account_id
    runs, budget = args.runs, args.budget

    def rollup_figures() -> Stats:
        connection = ledger.engine.connect().execution_options(**{READ_ONLY: True})
        with connection, connection.begin():
            return reports.stats(connection, account_id, start, end)

    progress.print(f"  {name}: Ledger.stats")
    stats_timing, stats = timed(lambda: ledger.stats(account_id, start, end), runs, budget)
    progress.print(f"  {name}: rollup figures alone (reports.stats)")
    figures_timing, _ = timed(rollup_figures, runs, budget)
    progress.print(f"  {name}: naive GROUP BY over the raw charges")
    naive_timing, rows = timed(
        lambda: figures_of_rows(naive_rows(ledger.engine, account_id, start, end)),
        args.naive_runs,
        budget,
    )
    ours = figures_of_stats(stats)
    first = (start - workload.first_day).days
    last = (end - workload.first_day).days + 1
    generated = loaded.generated
    return RangeResult(
        name,
        start,
        end,
        sum(generated.charges[first:last]),
        sum(generated.rollup_rows[first:last]),
        stats_timing,
        figures_timing,
        naive_timing,
        compared_groups(ours),
        differences(ours, rows),
    )


def server_of(engine: Engine) -> str:
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            return f"SQLite {sqlite3.sqlite_version}"
        version = connection.exec_driver_sql("SHOW server_version").scalar()
        return f"PostgreSQL {version}"


def size_of(engine: Engine, sqlite_path: Path | None) -> int:
    if sqlite_path is not None:
        return sum(
            Path(f"{sqlite_path}{suffix}").stat().st_size
            for suffix in ("", "-wal")
            if Path(f"{sqlite_path}{suffix}").exists()
        )
    with engine.connect() as connection:
        size = connection.exec_driver_sql("SELECT pg_database_size(current_database())").scalar()
        return int(size or 0)


def run_database(
    name: str,
    url: str,
    loader_for: Callable[[Dialect], Loader],
    sqlite_path: Path | None,
    args: argparse.Namespace,
    progress: Console,
) -> DatabaseResult:
    ledger = Ledger.open(url)
    try:
        today = local_date(ledger.now(), TIMEZONE)
        workload = Workload(args.charges, args.seed, today)
        progress.print(f"[bold]{name}[/]: loading {args.charges:,} charges")
        loaded = load(ledger, loader_for, workload, progress)
        progress.print(f"[bold]{name}[/]: loaded in {loaded.timings['total']:.1f} s")
        checks = []
        if args.verify:
            progress.print(f"[bold]{name}[/]: Ledger.verify")
            report = ledger.verify(loaded.account_id)
            if report.differences:
                checks += [f"Ledger.verify: {line}" for line in report.differences[:20]]
            else:
                checks.append(f"Ledger.verify: {report.transfers:,} transfers, no differences")
        progress.print(f"[bold]{name}[/]: balance (the part of Ledger.stats besides rollups)")
        balance_timing, _ = timed(lambda: ledger.balance(loaded.account_id), args.runs, args.budget)
        ranges = [
            measure_range(ledger, loaded, workload, label, start, end, args, progress)
            for label, start, end in ranges_of(workload)
        ]
        return DatabaseResult(
            name,
            server_of(ledger.engine),
            args.charges,
            sum(loaded.generated.rollup_rows),
            loaded.timings,
            size_of(ledger.engine, sqlite_path),
            balance_timing,
            ranges,
            checks,
        )
    finally:
        ledger.close()


@contextmanager
def sqlite_database() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="cb-stats-") as directory:
        yield Path(directory) / "stats.db"


# -- reporting -----------------------------------------------------------------------------------


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def as_json(results: list[DatabaseResult], args: argparse.Namespace) -> dict[str, Any]:
    return {
        "charges": args.charges,
        "runs": args.runs,
        "naive_runs": args.naive_runs,
        "seed": args.seed,
        "timezone": TIMEZONE,
        "goal_ratio": GOAL,
        "peak_rss_mb": peak_rss_mb(),
        "databases": {
            result.name: {
                "server": result.server,
                "charges": result.charges,
                "rollup_rows": result.rollup_rows,
                "load_seconds": result.load,
                "size_bytes": result.size_bytes,
                "balance": result.balance.as_json(),
                "checks": result.checks,
                "ranges": {
                    item.name: {
                        "start": item.start.isoformat(),
                        "end": item.end.isoformat(),
                        "charges": item.charges,
                        "rollup_rows": item.rollup_rows,
                        "ledger_stats": item.ledger_stats.as_json(),
                        "rollup_figures": item.rollup_figures.as_json(),
                        "naive_group_by": item.naive.as_json(),
                        "ratio": item.ratio,
                        "ratio_rollup_figures": item.rollup_ratio,
                        "goal_met": item.ratio >= GOAL,
                        "groups_compared": item.groups_compared,
                        "identical": not item.differences,
                        "differences": item.differences[:100],
                    }
                    for item in result.ranges
                },
            }
            for result in results
        },
    }


def _times(ratio: float) -> str:
    return f"{ratio:,.1f}×" if ratio < 10 else f"{ratio:,.0f}×"


def _ms(timing: Timing, runs: bool = True) -> str:
    value = timing.median * 1000
    shown = f"{value:,.1f}" if value < 100 else f"{value:,.0f}"
    return f"{shown} [dim]n={len(timing.samples)}[/]" if runs else shown


def print_tables(
    console: Console, results: list[DatabaseResult], args: argparse.Namespace, notes: list[str]
) -> None:
    load = Table(title=f"Bulk load of one account's year ({args.charges:,} charges)")
    load.add_column("database")
    for column in (
        "rollup rows",
        "generate + write s",
        "of which DB writes s",
        "indexes s",
        "vacuum analyze s",
        "total s",
        "size",
    ):
        load.add_column(column, justify="right")
    for result in results:
        timings = result.load
        load.add_row(
            result.server,
            f"{result.rollup_rows:,}",
            f"{timings['generate_and_write']:.1f}",
            f"{timings['database_writes']:.1f}",
            f"{timings['indexes']:.1f}",
            f"{timings['vacuum_analyze']:.1f}" if "vacuum_analyze" in timings else "—",
            f"{timings['total']:.1f}",
            f"{result.size_bytes / 2**30:.2f} GiB",
        )
    console.print(load)

    latency = Table(
        title="Stats latency, ms: median of n warm runs (up to --runs, --naive-runs; "
        f"fewer, at least {MIN_RUNS}, when calls are slow)"
    )
    for column in ("database", "range", "local days"):
        latency.add_column(column)
    for column in (
        "charges",
        "rollup rows",
        "Ledger.stats",
        "rollup figures",
        "naive GROUP BY",
        "ratio",
        "ratio to rollup figures",
    ):
        latency.add_column(column, justify="right")
    latency.add_column(f"≥ {GOAL:g}×")
    latency.add_column("identical")
    for result in results:
        for item in result.ranges:
            latency.add_row(
                result.name,
                item.name,
                f"{item.start} .. {item.end}",
                f"{item.charges:,}",
                f"{item.rollup_rows:,}",
                _ms(item.ledger_stats),
                _ms(item.rollup_figures),
                _ms(item.naive),
                _times(item.ratio),
                _times(item.rollup_ratio),
                "[green]yes[/]" if item.ratio >= GOAL else "[red]NO[/]",
                (
                    f"[green]OK[/] ({item.groups_compared:,} groups)"
                    if not item.differences
                    else f"[red]{len(item.differences)} differences[/]"
                ),
            )
        latency.add_section()
    console.print(latency)
    console.print(
        "Ledger.stats = rollup figures (reports.stats: totals, daily, resources, previous "
        "range, runs) + the balance it needs for the forecast + two forecast sums. "
        "Ratios: naive GROUP BY / Ledger.stats, and naive GROUP BY / rollup figures."
    )
    for result in results:
        console.print(
            f"{result.name}: Ledger.balance alone {_ms(result.balance, runs=False)} ms "
            f"(median of {len(result.balance.samples)})"
        )
        for check in result.checks:
            console.print(f"{result.name}: {check}")
        for item in result.ranges:
            for line in item.differences[:20]:
                console.print(f"[red]{result.name} {item.name}: {line}[/]")
    console.print(f"Peak memory of this process: {peak_rss_mb():,.0f} MiB")
    for note in notes:
        console.print(f"[yellow]{note}[/]")


# -- command line --------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--charges", type=int, default=10_000_000, help="charges in the year (default 10M)"
    )
    parser.add_argument(
        "--backend", choices=("sqlite", "postgresql", "both"), default="both", help="(both)"
    )
    parser.add_argument("--postgres-url", help=POSTGRES_URL_HELP)
    parser.add_argument("--runs", type=int, default=7, help="timed Ledger.stats runs (7)")
    parser.add_argument("--naive-runs", type=int, default=5, help="timed naive runs (5)")
    parser.add_argument(
        "--budget",
        type=float,
        default=60.0,
        help="seconds a measurement may take; slow calls get fewer runs, at least 3 (60)",
    )
    parser.add_argument("--seed", type=int, default=1, help="workload seed (1)")
    parser.add_argument(
        "--verify", action="store_true", help="run Ledger.verify after loading (slow when big)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    args = parser.parse_args(argv)
    if args.charges < 1:
        parser.error("--charges must be at least 1")
    for name in ("runs", "naive_runs"):
        if getattr(args, name) < MIN_RUNS:
            parser.error(f"--{name.replace('_', '-')} must be at least {MIN_RUNS}")
    if args.budget <= 0:
        parser.error("--budget must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Stopped by a signal: still drop the scratch database and the temporary file.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    progress = Console(stderr=True)
    postgres_url = postgres_server(args.postgres_url)
    notes: list[str] = []
    results: list[DatabaseResult] = []
    if args.backend in ("sqlite", "both"):
        with sqlite_database() as path:
            results.append(
                run_database(
                    "SQLite",
                    f"sqlite:///{path}",
                    lambda dialect: SqliteLoader(path, dialect),
                    path,
                    args,
                    progress,
                )
            )
    if args.backend in ("postgresql", "both"):
        if postgres_url:
            with postgres_database(postgres_url) as url:
                results.append(
                    run_database(
                        "PostgreSQL",
                        url,
                        lambda dialect: PostgresLoader(url, dialect),
                        None,
                        args,
                        progress,
                    )
                )
        elif args.backend == "postgresql":
            raise SystemExit(f"no --postgres-url and neither {' nor '.join(POSTGRES_ENVS)} is set")
        else:
            notes.append(POSTGRES_SKIPPED)
            progress.print(f"[yellow]{notes[-1]}[/]")
    if args.json:
        print(json.dumps(as_json(results, args), indent=2))
    else:
        print_tables(Console(width=None if sys.stdout.isatty() else 200), results, args, notes)
    mismatched = any(item.differences for result in results for item in result.ranges)
    failed_checks = any(
        check.startswith("Ledger.verify: ") and "no differences" not in check
        for result in results
        for check in result.checks
    )
    return 1 if mismatched or failed_checks else 0


if __name__ == "__main__":
    sys.exit(main())
