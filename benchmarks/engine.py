"""Charge throughput of the engine against a bare-driver floor, on SQLite and PostgreSQL.

    python benchmarks/engine.py [--seconds N | --charges N] [--sqlite-path P]
                                [--postgres-url URL] [--rounds N] [--verify] [--json]
    python benchmarks/engine.py --constraints [--seconds N | --charges N] [--rounds N]

Measures, in one run and per database:

- engine, one charge per commit (`Ledger.charge`, raw amount), with and without an
  idempotency key;
- engine, charges batched per commit (`Ledger.charge_batch`);
- the "floor": the least a safe ledger must do per charge, with the raw driver (sqlite3,
  psycopg 3) and the engine's durability settings (SQLite: WAL, synchronous=FULL,
  BEGIN IMMEDIATE; PostgreSQL: synchronous_commit as the server has it, on by default):
  a conditional decrement whose row count is checked, one entry insert, one rollup upsert,
  commit. Both one per commit and batched.

Every measurement is repeated over several rounds that alternate engine and floor (the
order rotates each round) and the median is reported, since a shared machine is noisy;
each ratio also shows its lowest and highest value within one round.
Next to throughput it reports this process's CPU time per charge (Python and drivers;
for SQLite also the database's own work), which is steadier than wall time when other
work competes for the disk, and how many statements and round trips one engine charge
issues (counted in separate, untimed calls).

With --constraints it measures instead what the schema's CHECK constraints cost a charge:
the engine's single-charge rate on a database at head against the same database with every
named CHECK constraint dropped (on SQLite the length checks too), in alternating rounds, and
prints the ratio of the medians (goal: the constraints cost under 5%) and this process's CPU
per charge on each side (on SQLite that includes evaluating the checks).

PostgreSQL comes from --postgres-url, else CREDITBOOK_BENCH_POSTGRES_URL, else
CREDITBOOK_TEST_POSTGRES_URL (a server URL; a scratch database is created on it and dropped
at the end). Without one, only SQLite runs. SQLite uses a temporary file unless
--sqlite-path names a (new) file.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import peer_hordak
import psycopg
from alembic.migration import MigrationContext
from alembic.operations import Operations
from peer_hordak import HordakPeer
from rich.console import Console
from rich.table import Table
from servers import POSTGRES_SKIPPED, POSTGRES_URL_HELP, postgres_database, postgres_server
from sqlalchemy import event

from creditbook import ChargeRequest, Credits, Ledger, Plan
from creditbook.store import schema
from creditbook.store.database import make_engine, migrate
from creditbook.store.queries import hot

PLAN_ID = "bench"
POOL = "credits"
HUGE_ALLOWANCE = Credits.of(10**11)  # far more than any run can spend
CHARGE = Credits.of(1)
FLOOR_START_BALANCE = HUGE_ALLOWANCE.millicredits
SINGLE_GOALS = {"SQLite": 0.5, "PostgreSQL": 0.7}  # engine / floor, one charge per commit
BATCH_GOAL = 10.0  # engine batched / engine one per commit, on PostgreSQL
SET_FLOOR_GOAL = 0.5  # engine batched / set-based floor, on PostgreSQL
HORDAK_SINGLE_GOAL = 5.0  # engine one per commit / django-hordak one per commit
HORDAK_BATCH_GOAL = 50.0  # engine batched / django-hordak one per commit
HOT_GOAL = 5.0  # one account charged by HOT_THREADS threads / the floor's one per commit
HOT_THREADS = 32
HOT_CHARGES_PER_THREAD = 4  # per step: every thread charges the hot account this often
HORDAK_ACCOUNTS = 100  # hordak's setup is slow (about 40 ms an account)
CHECKS_COST_GOAL = 0.05  # 1 - (with CHECK constraints / without), one charge per commit

ENGINE_SINGLE = "engine_single"
ENGINE_SINGLE_KEYED = "engine_single_idempotent"
ENGINE_BATCH = "engine_batch"
ENGINE_HOT = "engine_hot_account"
FLOOR_SINGLE = "floor_single"
FLOOR_BATCH = "floor_batch"
FLOOR_SET = "floor_set"
HORDAK_SINGLE = "hordak_single"
HORDAK_BATCH = "hordak_batch"
LABELS = {
    ENGINE_SINGLE: "engine, 1 charge/commit",
    ENGINE_SINGLE_KEYED: "engine, 1 charge/commit, idempotency key",
    ENGINE_BATCH: "engine, {batch} charges/commit (charge_batch)",
    FLOOR_SINGLE: "floor, 1 charge/commit",
    ENGINE_HOT: f"engine, one account, {HOT_THREADS} threads",
    FLOOR_BATCH: "floor, {batch} charges/commit",
    FLOOR_SET: "set-based floor, {batch} charges/commit",
    HORDAK_SINGLE: "django-hordak, 1 charge/commit",
    HORDAK_BATCH: "django-hordak, {batch} charges/commit",
}
# Alternating engine, floors and peer; each round starts one step further along. A database
# measures those of them it has.
ORDER = (
    ENGINE_SINGLE,
    FLOOR_SINGLE,
    ENGINE_BATCH,
    FLOOR_BATCH,
    HORDAK_SINGLE,
    ENGINE_SINGLE_KEYED,
    FLOOR_SET,
    ENGINE_HOT,
    HORDAK_BATCH,
)

Step = Callable[[], int]  # one commit; returns the number of charges it made


# -- floor: the bare driver ------------------------------------------------------------------

SQLITE_FLOOR_SCHEMA = (
    "CREATE TABLE floor_balances (id TEXT PRIMARY KEY, remaining INTEGER NOT NULL)",
    "CREATE TABLE floor_entries (id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " balance_id TEXT NOT NULL, amount INTEGER NOT NULL, created_at TEXT NOT NULL)",
    "CREATE TABLE floor_rollups (balance_id TEXT NOT NULL, day TEXT NOT NULL,"
    " amount INTEGER NOT NULL, charges INTEGER NOT NULL, PRIMARY KEY (balance_id, day))",
)
POSTGRES_FLOOR_SCHEMA = (
    "CREATE TABLE floor_balances (id TEXT PRIMARY KEY, remaining BIGINT NOT NULL)",
    "CREATE TABLE floor_entries (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " balance_id TEXT NOT NULL, amount BIGINT NOT NULL, created_at TIMESTAMP NOT NULL)",
    "CREATE TABLE floor_rollups (balance_id TEXT NOT NULL, day DATE NOT NULL,"
    " amount BIGINT NOT NULL, charges BIGINT NOT NULL, PRIMARY KEY (balance_id, day))",
)
DECREMENT = (
    "UPDATE floor_balances SET remaining = remaining - {x} WHERE id = {id} AND remaining >= {x}"
)
INSERT_ENTRY = "INSERT INTO floor_entries (balance_id, amount, created_at) VALUES ({id}, {x}, {at})"
UPSERT_ROLLUP = (
    "INSERT INTO floor_rollups (balance_id, day, amount, charges) VALUES ({id}, {day}, {x}, 1)"
    " ON CONFLICT (balance_id, day) DO UPDATE SET"
    " amount = floor_rollups.amount + excluded.amount,"
    " charges = floor_rollups.charges + excluded.charges"
)

SET_DECREMENT = (
    "UPDATE floor_balances b SET remaining = b.remaining - d.x"
    " FROM (SELECT f.id FROM floor_balances f WHERE f.id = ANY(%(ids)s::text[])"
    " ORDER BY f.id FOR UPDATE) o,"
    " unnest(%(ids)s::text[], %(xs)s::bigint[]) AS d(id, x)"
    " WHERE b.id = o.id AND b.id = d.id AND b.remaining >= d.x"
)
SET_ENTRIES = (
    "INSERT INTO floor_entries (balance_id, amount, created_at)"
    " SELECT * FROM unnest(%(ids)s::text[], %(xs)s::bigint[], %(ats)s::timestamp[])"
)
SET_ROLLUPS = (
    "INSERT INTO floor_rollups (balance_id, day, amount, charges)"
    " SELECT id, day, x, 1 FROM unnest(%(ids)s::text[], %(days)s::date[], %(xs)s::bigint[])"
    " AS d(id, day, x)"
    " ON CONFLICT (balance_id, day) DO UPDATE SET"
    " amount = floor_rollups.amount + excluded.amount,"
    " charges = floor_rollups.charges + excluded.charges"
)


class SqliteFloor:
    """Raw sqlite3 with the engine's settings: WAL, synchronous=FULL, BEGIN IMMEDIATE."""

    def __init__(self, path: Path, balance_ids: list[str]) -> None:
        self.connection = sqlite3.connect(path, isolation_level=None, timeout=30)
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "busy_timeout=30000"):
            self.connection.execute(f"PRAGMA {pragma}")
        for statement in SQLITE_FLOOR_SCHEMA:
            self.connection.execute(statement)
        self.connection.executemany(
            "INSERT INTO floor_balances (id, remaining) VALUES (?, ?)",
            [(balance_id, FLOOR_START_BALANCE) for balance_id in balance_ids],
        )
        named = {"x": ":x", "id": ":id", "at": ":at", "day": ":day"}
        self.decrement = DECREMENT.format(**named)
        self.insert_entry = INSERT_ENTRY.format(**named)
        self.upsert_rollup = UPSERT_ROLLUP.format(**named)

    def settings(self) -> dict[str, str]:
        return _sqlite_settings(self.connection.execute)

    def verify(self) -> str:
        return _verify_floor(lambda sql: self.connection.execute(sql).fetchone())

    def _charge(self, balance_id: str) -> None:
        now = datetime.now(UTC)
        params = {"x": CHARGE.millicredits, "id": balance_id}
        if self.connection.execute(self.decrement, params).rowcount != 1:
            raise RuntimeError(f"floor balance {balance_id} cannot pay")
        self.connection.execute(self.insert_entry, {**params, "at": now.isoformat(" ")})
        self.connection.execute(self.upsert_rollup, {**params, "day": now.date().isoformat()})

    def charge(self, balance_ids: list[str]) -> int:
        self.connection.execute("BEGIN IMMEDIATE")
        try:
            for balance_id in balance_ids:
                self._charge(balance_id)
        except BaseException:
            self.connection.execute("ROLLBACK")
            raise
        self.connection.execute("COMMIT")
        return len(balance_ids)

    def charge_set(self, balance_ids: list[str]) -> int:
        """The batch with one executemany per table (distinct balances)."""
        now = datetime.now(UTC)
        params = [{"x": CHARGE.millicredits, "id": balance_id} for balance_id in balance_ids]
        self.connection.execute("BEGIN IMMEDIATE")
        try:
            cursor = self.connection.executemany(self.decrement, params)
            if cursor.rowcount != len(balance_ids):
                raise RuntimeError("a floor balance cannot pay")
            at, day = now.isoformat(" "), now.date().isoformat()
            self.connection.executemany(self.insert_entry, [{**p, "at": at} for p in params])
            self.connection.executemany(self.upsert_rollup, [{**p, "day": day} for p in params])
        except BaseException:
            self.connection.execute("ROLLBACK")
            raise
        self.connection.execute("COMMIT")
        return len(balance_ids)

    def close(self) -> None:
        self.connection.close()


class PostgresFloor:
    """Raw psycopg 3 with the server's default durability (synchronous_commit)."""

    def __init__(self, url: str, balance_ids: list[str]) -> None:
        self.connection = psycopg.connect(url)
        with self.connection.transaction():
            for statement in POSTGRES_FLOOR_SCHEMA:
                self.connection.execute(statement)
            with self.connection.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO floor_balances (id, remaining) VALUES (%s, %s)",
                    [(balance_id, FLOOR_START_BALANCE) for balance_id in balance_ids],
                )
        _analyze(self.connection.execute)
        self.connection.commit()
        named = {"x": "%(x)s", "id": "%(id)s", "at": "%(at)s", "day": "%(day)s"}
        self.decrement = DECREMENT.format(**named)
        self.insert_entry = INSERT_ENTRY.format(**named)
        self.upsert_rollup = UPSERT_ROLLUP.format(**named)
        self.cursor = self.connection.cursor()

    def settings(self) -> dict[str, str]:
        return _postgres_settings(lambda sql: self.connection.execute(sql).fetchone())

    def verify(self) -> str:
        try:
            return _verify_floor(lambda sql: self.connection.execute(sql).fetchone())
        finally:
            self.connection.rollback()

    def _charge(self, balance_id: str) -> None:
        now = datetime.now(UTC)
        params: dict[str, Any] = {"x": CHARGE.millicredits, "id": balance_id}
        self.cursor.execute(self.decrement, params)
        if self.cursor.rowcount != 1:
            raise RuntimeError(f"floor balance {balance_id} cannot pay")
        self.cursor.execute(self.insert_entry, {**params, "at": now.replace(tzinfo=None)})
        self.cursor.execute(self.upsert_rollup, {**params, "day": now.date()})

    def charge(self, balance_ids: list[str]) -> int:
        # Not autocommit: psycopg opens the transaction (BEGIN) before the first statement.
        try:
            for balance_id in balance_ids:
                self._charge(balance_id)
        except BaseException:
            self.connection.rollback()
            raise
        self.connection.commit()
        return len(balance_ids)

    def charge_set(self, balance_ids: list[str]) -> int:
        """The batch with one statement per table over `unnest` arrays (distinct balances,
        locked in id order as the engine locks its accounts)."""
        now = datetime.now(UTC)
        ids = sorted(balance_ids)
        amounts = [CHARGE.millicredits] * len(ids)
        try:
            self.cursor.execute(SET_DECREMENT, {"ids": ids, "xs": amounts}, prepare=True)
            if self.cursor.rowcount != len(ids):
                raise RuntimeError("a floor balance cannot pay")
            at, day = now.replace(tzinfo=None), now.date()
            self.cursor.execute(
                SET_ENTRIES, {"ids": ids, "xs": amounts, "ats": [at] * len(ids)}, prepare=True
            )
            self.cursor.execute(
                SET_ROLLUPS, {"ids": ids, "xs": amounts, "days": [day] * len(ids)}, prepare=True
            )
        except BaseException:
            self.connection.rollback()
            raise
        self.connection.commit()
        return len(ids)

    def close(self) -> None:
        self.cursor.close()
        self.connection.close()


def _analyze(execute: Callable[[str], Any]) -> None:
    """Give PostgreSQL's planner statistics for the tables just filled, as autovacuum would
    soon after; a server may run without it, and plans chosen for tables it believes empty
    scan them whole. Like autovacuum, leave the empty tables alone: a table analysed while
    empty is planned as empty, and a statement prepared then keeps scanning it whole as it
    fills (keyed charges slowed by a third over their first 7,500 idempotency keys)."""
    tables = execute(
        "SELECT quote_ident(relname) FROM pg_class"
        " WHERE relkind = 'r' AND relnamespace = current_schema()::regnamespace"
    ).fetchall()
    for (table,) in tables:
        if execute(f"SELECT EXISTS (SELECT FROM {table})").fetchall()[0][0]:
            execute(f"ANALYZE {table}")


FLOOR_CHECK = (
    f"SELECT (SELECT sum({FLOOR_START_BALANCE} - remaining) FROM floor_balances),"
    " (SELECT coalesce(sum(amount), 0) FROM floor_entries),"
    " (SELECT coalesce(sum(amount), 0) FROM floor_rollups),"
    " (SELECT count(*) FROM floor_entries)"
)


def _verify_floor(fetch_one: Callable[[str], Any]) -> str:
    spent, entries, rollups, count = (int(value) for value in fetch_one(FLOOR_CHECK))
    if not spent == entries == rollups:
        raise RuntimeError(f"floor tables disagree: {spent} {entries} {rollups}")
    return f"floor: {count:,} entries, balances = entries = rollups"


def _sqlite_settings(execute: Callable[[str], Any]) -> dict[str, str]:
    return {
        "journal_mode": str(execute("PRAGMA journal_mode").fetchone()[0]),
        # 2 is FULL
        "synchronous": {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}.get(
            int(execute("PRAGMA synchronous").fetchone()[0]), "?"
        ),
    }


def _postgres_settings(fetch_one: Callable[[str], Any]) -> dict[str, str]:
    return {
        name: str(fetch_one(f"SHOW {name}")[0])
        for name in ("synchronous_commit", "fsync", "wal_sync_method")
    }


# -- the engine ----------------------------------------------------------------------------


class EngineBench:
    """The creditbook engine on one database, with accounts that can pay for anything."""

    def __init__(self, url: str, accounts: int) -> None:
        self.ledger = Ledger.open(url)
        self.ledger.put_plan(Plan(PLAN_ID, allowances={POOL: HUGE_ALLOWANCE}))
        self.account_ids = [
            self.ledger.open_account(PLAN_ID, account_id=f"bench-{index}").account_id
            for index in range(accounts)
        ]
        self.hot_account = self.ledger.open_account(PLAN_ID, account_id="bench-hot").account_id
        with self.ledger.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                _analyze(connection.exec_driver_sql)
        self._keys = itertools.count()
        self._threads = ThreadPoolExecutor(HOT_THREADS)

    def settings(self) -> dict[str, str]:
        with self.ledger.engine.connect() as connection:
            if connection.dialect.name == "sqlite":
                return _sqlite_settings(connection.exec_driver_sql)
            return _postgres_settings(lambda sql: connection.exec_driver_sql(sql).first())

    def charge(self, account_id: str, *, keyed: bool) -> int:
        key = f"bench-{next(self._keys)}" if keyed else None
        self.ledger.charge(account_id=account_id, amount=CHARGE, idempotency_key=key)
        return 1

    def charge_batch(self, account_ids: list[str]) -> int:
        results = self.ledger.charge_batch(
            [ChargeRequest(account_id=account_id, amount=CHARGE) for account_id in account_ids]
        )
        failed = [result for result in results if result.error_code is not None]
        if failed:
            raise RuntimeError(f"batch item refused: {failed[0].error_code}")
        return len(results)

    def charge_hot(self) -> int:
        """HOT_THREADS threads each charge the one hot account HOT_CHARGES_PER_THREAD times,
        through the library (one charge per call); returns when all are done."""

        def charger() -> int:
            for _ in range(HOT_CHARGES_PER_THREAD):
                self.ledger.charge(account_id=self.hot_account, amount=CHARGE)
            return HOT_CHARGES_PER_THREAD

        futures = [self._threads.submit(charger) for _ in range(HOT_THREADS)]
        return sum(future.result() for future in futures)

    def count_statements(self, batch_size: int) -> dict[str, dict[str, float]]:
        """Database calls per charge, counted on the engine's connections (not timed)."""
        engine = self.ledger.engine
        counts = {"statements": 0, "commits": 0, "pings": 0}

        def on_execute(*_: Any) -> None:
            counts["statements"] += 1

        def on_commit(connection: Any) -> None:
            # psycopg sends BEGIN, and then COMMIT, only for a transaction that ran a
            # statement in transaction mode: a charge whose statements each committed on
            # their own (autocommit) sends neither.
            driver = connection.connection.dbapi_connection
            if postgres and driver.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
                return
            counts["commits"] += 1

        dialect = engine.dialect
        original_ping = dialect.do_ping

        def counting_ping(dbapi_connection: Any) -> bool:
            counts["pings"] += 1
            return original_ping(dbapi_connection)

        postgres = dialect.name == "postgresql"
        accounts = itertools.cycle(self.account_ids)
        measured: dict[str, dict[str, float]] = {}
        cases: dict[str, tuple[Step, int]] = {
            ENGINE_SINGLE: (lambda: self.charge(next(accounts), keyed=False), 1),
            ENGINE_SINGLE_KEYED: (lambda: self.charge(next(accounts), keyed=True), 1),
            ENGINE_BATCH: (
                lambda: self.charge_batch([next(accounts) for _ in range(batch_size)]),
                batch_size,
            ),
        }
        # The hot path runs its statements on the driver, past SQLAlchemy's events.
        driver_calls = (hot.execute, hot.executemany)

        def counted(call: Callable[..., Any]) -> Callable[..., Any]:
            def counting(*args: Any, **kwargs: Any) -> Any:
                counts["statements"] += 1
                return call(*args, **kwargs)

            return counting

        hot.execute, hot.executemany = (counted(call) for call in driver_calls)
        event.listen(engine, "before_cursor_execute", on_execute)
        event.listen(engine, "commit", on_commit)
        dialect.do_ping = counting_ping  # type: ignore[method-assign]
        try:
            for name, (step, per_commit) in cases.items():
                for key in counts:
                    counts[key] = 0
                repeats = 10
                for _ in range(repeats):
                    step()
                charges = repeats * per_commit
                # psycopg sends BEGIN itself before a transaction's first statement; SQLite's
                # BEGIN IMMEDIATE is issued by the engine and counted among its statements.
                begins = counts["commits"] if postgres else 0
                round_trips = counts["statements"] + counts["commits"] + begins + counts["pings"]
                measured[name] = {
                    "sql_statements": counts["statements"] / charges,
                    "round_trips": round_trips / charges,
                    "pool_pings": counts["pings"] / charges,
                }
        finally:
            hot.execute, hot.executemany = driver_calls
            dialect.do_ping = original_ping  # type: ignore[method-assign]
            event.remove(engine, "commit", on_commit)
            event.remove(engine, "before_cursor_execute", on_execute)
        return measured

    def verify(self) -> str:
        report = self.ledger.verify()
        if report.differences:
            raise RuntimeError(f"engine ledger does not verify: {report.differences[:3]}")
        return f"engine: {report.transfers:,} transfers replayed, no differences"

    def close(self) -> None:
        self._threads.shutdown()
        self.ledger.close()


# -- measuring -------------------------------------------------------------------------------


@dataclass
class Figure:
    samples: list[float] = field(default_factory=list)  # charges per second
    cpu: list[float] = field(default_factory=list)  # this process's CPU µs per charge

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)


@dataclass
class DatabaseResult:
    name: str
    server: str
    settings: dict[str, dict[str, str]]
    figures: dict[str, Figure]
    statements: dict[str, dict[str, float]]
    checks: list[str]

    def rate(self, name: str) -> float:
        return self.figures[name].median


@dataclass(frozen=True)
class Budget:
    seconds: float | None
    charges: int | None
    rounds: int
    warmup_seconds: float
    batch_size: int
    verify: bool = False


def measure(step: Step, *, seconds: float | None, charges: int | None) -> tuple[float, float]:
    """Charges per second over `seconds` of commits, or over at least `charges` charges,
    and the CPU time this process spent per charge (µs): Python, the drivers and, for
    SQLite, the database itself; PostgreSQL's server time is not in it."""
    gc.collect()
    done = 0
    cpu_start = time.process_time()
    start = time.perf_counter()
    if charges is not None:
        while done < charges:
            done += step()
    else:
        assert seconds is not None
        deadline = start + seconds
        while time.perf_counter() < deadline:
            done += step()
    elapsed = time.perf_counter() - start
    return done / elapsed, (time.process_time() - cpu_start) * 1e6 / done


def steps(
    engine: EngineBench,
    floor: SqliteFloor | PostgresFloor,
    batch: int,
    hordak: HordakPeer | None = None,
) -> dict[str, Step]:
    """Each measurement's step. A batch takes the next `batch` accounts in turn, so with
    more accounts than `batch` it spans `batch` distinct accounts."""
    accounts = itertools.cycle(engine.account_ids)

    def many() -> list[str]:
        return [next(accounts) for _ in range(batch)]

    measured: dict[str, Step] = {
        ENGINE_SINGLE: lambda: engine.charge(next(accounts), keyed=False),
        ENGINE_SINGLE_KEYED: lambda: engine.charge(next(accounts), keyed=True),
        ENGINE_BATCH: lambda: engine.charge_batch(many()),
        ENGINE_HOT: engine.charge_hot,
        FLOOR_SINGLE: lambda: floor.charge([next(accounts)]),
        FLOOR_BATCH: lambda: floor.charge(many()),
        FLOOR_SET: lambda: floor.charge_set(many()),
    }
    if hordak is not None:
        peer = hordak
        customers = itertools.cycle(peer.customers)
        measured[HORDAK_SINGLE] = lambda: peer.charge([next(customers)])
        measured[HORDAK_BATCH] = lambda: peer.charge(
            [next(customers) for _ in range(min(batch, len(peer.customers)))]
        )
    return measured


def run_database(
    name: str,
    server: str,
    engine: EngineBench,
    floor: SqliteFloor | PostgresFloor,
    budget: Budget,
    progress: Console,
    hordak: HordakPeer | None = None,
) -> DatabaseResult:
    variants = steps(engine, floor, budget.batch_size, hordak)
    present = tuple(variant for variant in ORDER if variant in variants)
    progress.print(f"[bold]{name}[/]: warming up")
    for step in variants.values():
        measure(step, seconds=budget.warmup_seconds, charges=None)
    figures = {variant: Figure() for variant in present}
    for round_index in range(budget.rounds):
        shift = round_index % len(present)
        order = present[shift:] + present[:shift]
        for variant in order:
            rate, cpu = measure(variants[variant], seconds=budget.seconds, charges=budget.charges)
            figures[variant].samples.append(rate)
            figures[variant].cpu.append(cpu)
        progress.print(
            f"[bold]{name}[/]: round {round_index + 1}/{budget.rounds}: "
            + ", ".join(f"{v} {figures[v].samples[-1]:,.0f}/s" for v in present)
        )
    checks = [engine.verify(), floor.verify()] if budget.verify else []
    return DatabaseResult(
        name,
        server,
        {"engine": engine.settings(), "floor": floor.settings()},
        figures,
        engine.count_statements(budget.batch_size),
        checks,
    )


@contextmanager
def sqlite_database(path: Path | None) -> Iterator[Path]:
    with ExitStack() as stack:
        if path is None:
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cb-bench-")))
            path = directory / "bench.db"
        elif path.exists():
            raise SystemExit("--sqlite-path must name a file that does not exist yet")
        try:
            yield path
        finally:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)


def bench_sqlite(
    path: Path | None, accounts: int, budget: Budget, progress: Console
) -> DatabaseResult:
    with sqlite_database(path) as file:
        engine = EngineBench(f"sqlite:///{file}", accounts)
        floor = SqliteFloor(file, engine.account_ids)
        try:
            server = f"SQLite {sqlite3.sqlite_version}"
            return run_database("SQLite", server, engine, floor, budget, progress)
        finally:
            floor.close()
            engine.close()


def bench_postgres(
    url: str, accounts: int, budget: Budget, progress: Console, notes: list[str]
) -> DatabaseResult:
    with ExitStack() as stack:
        database = stack.enter_context(postgres_database(url))
        engine = EngineBench(database, accounts)
        stack.callback(engine.close)
        floor = PostgresFloor(database, engine.account_ids)
        stack.callback(floor.close)
        hordak = None
        if peer_hordak.available():
            progress.print("[bold]PostgreSQL[/]: setting up django-hordak")
            hordak_database = stack.enter_context(postgres_database(url))
            hordak = HordakPeer(hordak_database, min(accounts, HORDAK_ACCOUNTS))
            stack.callback(hordak.close)
        else:
            notes.append("django-hordak skipped: not installed (pip install -e '.[bench]').")
            progress.print(notes[-1], style="yellow", markup=False)
        version = floor.connection.execute("SHOW server_version").fetchone()
        server = f"PostgreSQL {version[0] if version else '?'}"
        return run_database("PostgreSQL", server, engine, floor, budget, progress, hordak)
    raise AssertionError("unreachable")


# -- reporting -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ratio:
    name: str
    numerator: str
    denominator: str
    goal: float | None

    def value(self, result: DatabaseResult) -> float:
        return result.rate(self.numerator) / result.rate(self.denominator)

    def per_round(self, result: DatabaseResult) -> list[float]:
        """The ratio within each round. A round measures both sides seconds apart, so the
        spread shows how far the machine's drift moves the ratio of medians."""
        numerator = result.figures[self.numerator].samples
        denominator = result.figures[self.denominator].samples
        return [n / d for n, d in zip(numerator, denominator, strict=True)]


def ratios(result: DatabaseResult) -> list[Ratio]:
    """The ratios the database has figures for, with the goals."""
    postgres = result.name == "PostgreSQL"
    every = [
        Ratio(
            "engine / floor, 1 per commit",
            ENGINE_SINGLE,
            FLOOR_SINGLE,
            SINGLE_GOALS.get(result.name),
        ),
        Ratio(
            "engine batched / engine 1 per commit",
            ENGINE_BATCH,
            ENGINE_SINGLE,
            BATCH_GOAL if postgres else None,
        ),
        Ratio(
            "engine batched / set-based floor",
            ENGINE_BATCH,
            FLOOR_SET,
            SET_FLOOR_GOAL if postgres else None,
        ),
        Ratio(
            f"engine one account {HOT_THREADS} threads / floor 1 per commit",
            ENGINE_HOT,
            FLOOR_SINGLE,
            HOT_GOAL,
        ),
        Ratio(
            "engine 1 per commit / django-hordak", ENGINE_SINGLE, HORDAK_SINGLE, HORDAK_SINGLE_GOAL
        ),
        Ratio("engine batched / django-hordak", ENGINE_BATCH, HORDAK_SINGLE, HORDAK_BATCH_GOAL),
        Ratio("django-hordak batched / its 1 per commit", HORDAK_BATCH, HORDAK_SINGLE, None),
        Ratio("floor batched / floor 1 per commit", FLOOR_BATCH, FLOOR_SINGLE, None),
        Ratio("set-based floor / floor batched", FLOOR_SET, FLOOR_BATCH, None),
        Ratio("engine batched / floor batched", ENGINE_BATCH, FLOOR_BATCH, None),
        Ratio("engine keyed / engine 1 per commit", ENGINE_SINGLE_KEYED, ENGINE_SINGLE, None),
    ]
    return [
        ratio
        for ratio in every
        if ratio.numerator in result.figures and ratio.denominator in result.figures
    ]


def as_json(results: list[DatabaseResult], budget: Budget, notes: list[str]) -> dict[str, Any]:
    return {
        "budget": {
            "seconds_per_measurement": budget.seconds,
            "charges_per_measurement": budget.charges,
            "rounds": budget.rounds,
            "batch_size": budget.batch_size,
        },
        "notes": notes,
        "databases": {
            result.name: {
                "server": result.server,
                "settings": result.settings,
                "charges_per_second": {
                    name: {
                        "median": figure.median,
                        "min": min(figure.samples),
                        "max": max(figure.samples),
                        "samples": figure.samples,
                        "client_cpu_us_per_charge": figure.cpu_median,
                    }
                    for name, figure in result.figures.items()
                },
                "ratios": {
                    ratio.name: {
                        "value": ratio.value(result),
                        "per_round": ratio.per_round(result),
                        "goal": ratio.goal,
                        "met": None if ratio.goal is None else ratio.value(result) >= ratio.goal,
                    }
                    for ratio in ratios(result)
                },
                "per_charge": result.statements,
                "checks": result.checks,
            }
            for result in results
        },
    }


def print_tables(
    console: Console, results: list[DatabaseResult], budget: Budget, notes: list[str]
) -> None:
    span = (
        f"{budget.seconds:g} s" if budget.charges is None else f"{budget.charges:,} charges"
    ) + f" per measurement, median of {budget.rounds} alternating rounds"
    figures = Table(title=f"Charges per second ({span})")
    for column in ("database", "measurement"):
        figures.add_column(column)
    for column in ("median /s", "min /s", "max /s", "client CPU µs/charge"):
        figures.add_column(column, justify="right")
    for result in results:
        for variant in LABELS:
            figure = result.figures.get(variant)
            if figure is None:
                continue
            figures.add_row(
                result.name,
                LABELS[variant].format(batch=budget.batch_size),
                f"{figure.median:,.0f}",
                f"{min(figure.samples):,.0f}",
                f"{max(figure.samples):,.0f}",
                f"{figure.cpu_median:,.0f}",
            )
        figures.add_section()
    console.print(figures)

    goals = Table(title="Ratios (of medians; and the lowest and highest within one round)")
    for column in ("database", "ratio"):
        goals.add_column(column)
    for column in ("value", "rounds", "goal"):
        goals.add_column(column, justify="right")
    goals.add_column("met")
    for result in results:
        for ratio in ratios(result):
            value = ratio.value(result)
            if ratio.goal is None:
                goal, met = "—", "(context)"
            else:
                goal = f"≥ {ratio.goal:g}"
                met = "[green]yes[/]" if value >= ratio.goal else "[red]NO[/]"
            rounds = ratio.per_round(result)
            spread = f"{min(rounds):.2f}–{max(rounds):.2f}"
            goals.add_row(result.name, ratio.name, f"{value:.2f}", spread, goal, met)
        goals.add_section()
    console.print(goals)

    calls = Table(title="Engine database calls per charge (counted outside the timed runs)")
    for column in ("database", "measurement"):
        calls.add_column(column)
    for column in ("SQL statements", "round trips", "pool pings"):
        calls.add_column(column, justify="right")
    for result in results:
        for variant, counted in result.statements.items():
            calls.add_row(
                result.name,
                LABELS[variant].format(batch=budget.batch_size),
                f"{counted['sql_statements']:.2f}",
                f"{counted['round_trips']:.2f}",
                f"{counted['pool_pings']:.2f}",
            )
        calls.add_section()
    console.print(calls)
    console.print(
        "Floor: 3 SQL statements per charge (decrement, entry, rollup) + BEGIN + COMMIT per commit."
    )
    for result in results:
        settings = "; ".join(
            f"{side}: " + ", ".join(f"{key}={value}" for key, value in values.items())
            for side, values in result.settings.items()
        )
        console.print(f"{result.server} — {settings}")
        for check in result.checks:
            console.print(f"{result.name} verified: {check}")
    for note in notes:
        console.print(note, style="yellow", markup=False)


# -- the CHECK constraints' cost ------------------------------------------------------------

WITH_CHECKS = "with CHECK constraints"
WITHOUT_CHECKS = "CHECK constraints dropped"


def drop_checks(url: str) -> int:
    """Migrate `url` to head, then drop every named CHECK constraint the schema declares;
    returns how many. SQLite drops a constraint by copying its table, which drops the
    table's triggers: those are created again as they were."""
    engine = make_engine(url)
    try:
        migrate(engine)
        sqlite = engine.dialect.name == "sqlite"
        tables = {name: list(checks) for name, checks in schema.CHECKS.items()}
        if sqlite:
            for name, checks in schema.SQLITE_LENGTH_CHECKS.items():
                tables.setdefault(name, []).extend(checks)
        with engine.begin() as connection:
            if not sqlite:
                for table, checks in tables.items():
                    for check in checks:
                        connection.exec_driver_sql(f"ALTER TABLE {table} DROP CONSTRAINT {check}")
                return sum(map(len, tables.values()))
            triggers = connection.exec_driver_sql(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"
            ).all()
            operations = Operations(MigrationContext.configure(connection))
            for table, checks in tables.items():
                with operations.batch_alter_table(table, recreate="always") as batch:
                    for check in checks:
                        batch.drop_constraint(check, type_="check")
            left = set(
                connection.exec_driver_sql(
                    "SELECT name FROM sqlite_master WHERE type = 'trigger'"
                ).scalars()
            )
            for name, sql in triggers:
                if name not in left:
                    connection.exec_driver_sql(sql)
        return sum(map(len, tables.values()))
    finally:
        engine.dispose()


def single_charges(bench: EngineBench) -> Step:
    accounts = itertools.cycle(bench.account_ids)
    return lambda: bench.charge(next(accounts), keyed=False)


@dataclass
class ChecksResult:
    name: str
    dropped: int
    figures: dict[str, Figure]

    @property
    def ratio(self) -> float:
        """Charges per second with the constraints over without: 1 means they cost nothing."""
        return self.figures[WITH_CHECKS].median / self.figures[WITHOUT_CHECKS].median


def compare_checks(
    name: str, urls: tuple[str, str], accounts: int, budget: Budget, progress: Console
) -> ChecksResult:
    """One charge per commit on two databases alike but for the CHECK constraints."""
    with_url, without_url = urls
    migrate_engine = make_engine(with_url)
    migrate(migrate_engine)
    migrate_engine.dispose()
    dropped = drop_checks(without_url)
    benches = {
        WITH_CHECKS: EngineBench(with_url, accounts),
        WITHOUT_CHECKS: EngineBench(without_url, accounts),
    }
    try:
        variants = {variant: single_charges(bench) for variant, bench in benches.items()}
        progress.print(f"[bold]{name}[/]: warming up ({dropped} constraints dropped on one side)")
        for step in variants.values():
            measure(step, seconds=budget.warmup_seconds, charges=None)
        figures = {variant: Figure() for variant in variants}
        order = list(variants)
        for round_index in range(budget.rounds):
            for variant in order if round_index % 2 == 0 else order[::-1]:
                rate, cpu = measure(
                    variants[variant], seconds=budget.seconds, charges=budget.charges
                )
                figures[variant].samples.append(rate)
                figures[variant].cpu.append(cpu)
            progress.print(
                f"[bold]{name}[/]: round {round_index + 1}/{budget.rounds}: "
                + ", ".join(f"{v} {figures[v].samples[-1]:,.0f}/s" for v in order)
            )
        return ChecksResult(name, dropped, figures)
    finally:
        for bench in benches.values():
            bench.close()


def run_checks(args: argparse.Namespace, budget: Budget, postgres_url: str | None) -> int:
    progress = Console(stderr=True)
    results: list[ChecksResult] = []
    with sqlite_database(None) as with_file, sqlite_database(None) as without_file:
        urls = (f"sqlite:///{with_file}", f"sqlite:///{without_file}")
        results.append(compare_checks("SQLite", urls, args.accounts, budget, progress))
    if postgres_url:
        with ExitStack() as stack:
            urls = (
                stack.enter_context(postgres_database(postgres_url)),
                stack.enter_context(postgres_database(postgres_url)),
            )
            results.append(compare_checks("PostgreSQL", urls, args.accounts, budget, progress))
    else:
        progress.print("[yellow]PostgreSQL skipped: no server URL. SQLite only.[/]")
    if args.json:
        print(json.dumps({r.name: checks_json(r) for r in results}, indent=2))
        return 0
    console = Console(width=None if sys.stdout.isatty() else 120)
    span = f"{budget.seconds:g} s" if budget.charges is None else f"{budget.charges:,} charges"
    table = Table(
        title=f"Engine, 1 charge/commit: the CHECK constraints' cost ({span} per measurement, "
        f"median of {budget.rounds} alternating rounds)"
    )
    for column in ("database", "constraints dropped"):
        table.add_column(column)
    for column in (
        f"{WITH_CHECKS} /s",
        f"{WITHOUT_CHECKS} /s",
        "with / without",
        "cost",
        "client CPU µs/charge with, without",
    ):
        table.add_column(column, justify="right")
    table.add_column(f"cost < {CHECKS_COST_GOAL:.0%}")
    for result in results:
        cost = 1 - result.ratio
        table.add_row(
            result.name,
            str(result.dropped),
            f"{result.figures[WITH_CHECKS].median:,.0f}",
            f"{result.figures[WITHOUT_CHECKS].median:,.0f}",
            f"{result.ratio:.3f}",
            f"{cost:.1%}",
            f"{result.figures[WITH_CHECKS].cpu_median:,.0f}, "
            f"{result.figures[WITHOUT_CHECKS].cpu_median:,.0f}",
            "[green]yes[/]" if cost < CHECKS_COST_GOAL else "[red]NO[/]",
        )
    console.print(table)
    return 0


def checks_json(result: ChecksResult) -> dict[str, Any]:
    return {
        "constraints_dropped": result.dropped,
        "charges_per_second": {
            variant: {
                "median": figure.median,
                "samples": figure.samples,
                "client_cpu_us_per_charge": figure.cpu_median,
            }
            for variant, figure in result.figures.items()
        },
        "with_over_without": result.ratio,
        "cost": 1 - result.ratio,
        "goal_cost_below": CHECKS_COST_GOAL,
    }


# -- command line ----------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--seconds", type=float, help="duration of each measurement (default 1.5)")
    size.add_argument("--charges", type=int, help="charges in each measurement instead")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    parser.add_argument(
        "--warmup", type=float, default=0.5, help="warm-up seconds per measurement (default 0.5)"
    )
    parser.add_argument(
        "--batch-size", type=int, default=100, help="charges per batched commit (default 100)"
    )
    parser.add_argument(
        "--accounts", type=int, default=1000, help="accounts charged in turn (default 1000)"
    )
    parser.add_argument("--sqlite-path", type=Path, help="SQLite file to create (default: temp)")
    parser.add_argument("--postgres-url", help=POSTGRES_URL_HELP)
    parser.add_argument(
        "--verify",
        action="store_true",
        help="afterwards, replay the engine's ledger (Ledger.verify) and check the floor tables",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument(
        "--constraints",
        action="store_true",
        help="measure the CHECK constraints' cost per charge (head vs constraints dropped)",
    )
    args = parser.parse_args(argv)
    if args.seconds is None and args.charges is None:
        args.seconds = 1.5
    for name in ("rounds", "batch_size", "accounts"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.accounts < args.batch_size:
        parser.error(
            f"--accounts ({args.accounts}) must be at least --batch-size ({args.batch_size}):"
            " a batch charges distinct accounts"
        )
    if args.charges is not None and args.charges < 1:
        parser.error("--charges must be at least 1")
    if args.seconds is not None and args.seconds <= 0:
        parser.error("--seconds must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    budget = Budget(
        args.seconds, args.charges, args.rounds, args.warmup, args.batch_size, args.verify
    )
    progress = Console(stderr=True)
    postgres_url = postgres_server(args.postgres_url)
    if args.constraints:
        return run_checks(args, budget, postgres_url)
    notes: list[str] = []
    results = [bench_sqlite(args.sqlite_path, args.accounts, budget, progress)]
    if postgres_url:
        results.append(bench_postgres(postgres_url, args.accounts, budget, progress, notes))
    else:
        notes.append(POSTGRES_SKIPPED)
        progress.print(f"[yellow]{notes[-1]}[/]")
    if args.json:
        print(json.dumps(as_json(results, budget, notes), indent=2))
    else:
        print_tables(Console(width=None if sys.stdout.isatty() else 120), results, budget, notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
