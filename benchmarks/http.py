"""HTTP throughput and latency of a real creditbook server on loopback.

    python benchmarks/http.py [--workers N] [--postgres-url URL | --sqlite]
                              [--clients N] [--seconds S] [--rounds N] [--json] [--hot]

Starts `uvicorn creditbook.api.app:create_app --factory` (1 worker by default) in a
subprocess, opens one account per client with an allowance no run can spend and a write key
each, then drives the server with concurrent asyncio clients (aiohttp, from the `bench` extra:
`pip install -e '.[bench]'`; it costs the client about 0.2 ms of CPU a request where httpx
costs over 3 ms, and a client that takes more of the machine than the server measures itself):

- closed loop (each client sends its next request when the last one answered), in rounds
  that alternate the order, median reported:
  - single charges: `POST /v1/accounts/{id}/charges` of 1 credit, requests/s, p50/p99;
  - batch charges: `POST /v1/charges/batch` of 100 items, charges/s (fewer clients);
  - the ceiling: `GET /healthz` (one `SELECT 1`) on the same server, requests/s;
- open loop at 70% of the measured single-charge peak: requests are sent on a fixed
  schedule whatever the answers, and latency counts from the scheduled instant, so a slow
  server cannot slow the offered load down (no coordinated omission).

With --hot (PostgreSQL only, 2 workers by default) it runs the hot-account run instead:
every client charges ONE account, on a server with group commit on and one with it off, in
alternating rounds, sampling `pg_stat_activity` for backends waiting on a lock. Goals (group
commit on): charge rps / that server's healthz rps ≥ 0.5, p99 / p50 ≤ 4, server CPU per
charge / per healthz ≤ 2, zero errors.

Goals: single-charge rps / healthz rps ≥ 0.25; p99 / p50 at 70% of peak ≤ 4. The first ratio
is also given from the server's CPU per request (healthz / charge), which is what bounds a
CPU-bound server and, unlike rates, holds when other processes load the machine.

The database is a temporary SQLite file, or PostgreSQL when --postgres-url or
CREDITBOOK_BENCH_POSTGRES_URL names a server (a scratch database is created there and
dropped at the end; --sqlite ignores the variable). The server's rate limit is set far above
anything reached. Server, client and machine CPU use is reported per measurement (Linux
/proc), because the clients share the machine with the server: a saturated machine means the
figures are a lower bound.
"""

# ruff: noqa: E402
# This file is named like the standard library's `http` package; run as a script its
# directory comes first on sys.path and would shadow `http` for httpx. Drop it first.
from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry or os.curdir) != _HERE]

import argparse
import asyncio
import gc
import json
import socket
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url

from creditbook import Credits, Ledger, Plan
from creditbook.domain.requests import Scope

try:
    import aiohttp
except ImportError:  # pragma: no cover - told at start-up, see main()
    aiohttp = None

# The scripts beside this one, last on the path: the standard library's `http` is loaded.
sys.path.append(_HERE)
from servers import postgres_database

POSTGRES_ENV = "CREDITBOOK_BENCH_POSTGRES_URL"
PLAN_ID = "bench"
HUGE_ALLOWANCE = Credits.of(10**11)
SINGLE_RATIO_GOAL = 0.25  # single charge rps / healthz rps, at least
TAIL_RATIO_GOAL = 4.0  # p99 / p50 at 70% of the peak charge rate, at most
LOAD_FRACTION = 0.7
STARTUP_TIMEOUT_S = 30.0
UNLIMITED = "1000000000"
APP = "creditbook.api.app:create_app"

SINGLE = "single"
BATCH = "batch"
HEALTH = "health"
LABELS = {
    SINGLE: "single charge, POST /v1/accounts/{id}/charges",
    BATCH: "batch of {batch}, POST /v1/charges/batch",
    HEALTH: "ceiling, GET /healthz",
}


# -- CPU accounting (Linux /proc; absent elsewhere) ----------------------------------------


def _clock_ticks() -> int:
    try:
        return int(os.sysconf("SC_CLK_TCK"))
    except (ValueError, OSError, AttributeError):
        return 100


TICKS = _clock_ticks()


def _descendants(pid: int) -> list[int]:
    found = [pid]
    for current in found:
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{current}/task/{task}/children") as children:
                    found.extend(int(child) for child in children.read().split())
            except OSError:
                continue
    return found


def process_tree_cpu_s(pid: int) -> float | None:
    """CPU seconds used so far by a process and its descendants (None without /proc)."""
    total = 0
    seen = False
    for member in _descendants(pid):
        try:
            with open(f"/proc/{member}/stat") as stat:
                fields = stat.read().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
        seen = True
    return total / TICKS if seen else None


def machine_busy_s() -> float | None:
    """CPU seconds all cores spent busy so far (None without /proc)."""
    try:
        with open("/proc/stat") as stat:
            values = [int(value) for value in stat.readline().split()[1:]]
    except OSError:
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return (sum(values[:8]) - idle) / TICKS


@dataclass
class CpuUse:
    """Average cores busy over a measurement."""

    server: float | None
    client: float
    machine: float | None


class CpuMeter:
    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.start = self._read()

    def _read(self) -> tuple[float, float | None, float, float | None]:
        return (
            time.perf_counter(),
            process_tree_cpu_s(self.server_pid),
            time.process_time(),
            machine_busy_s(),
        )

    def stop(self) -> CpuUse:
        end = self._read()
        elapsed = end[0] - self.start[0]

        def rate(first: float | None, last: float | None) -> float | None:
            return None if first is None or last is None else (last - first) / elapsed

        return CpuUse(
            server=rate(self.start[1], end[1]),
            client=(end[2] - self.start[2]) / elapsed,
            machine=rate(self.start[3], end[3]),
        )


# -- the server ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base_url: str
    log: Path


@contextmanager
def server(
    database_url: str,
    workers: int,
    workdir: Path,
    app: str,
    extra_env: dict[str, str] | None = None,
    name: str = "server",
) -> Iterator[Server]:
    """`uvicorn` on loopback with the limiter out of the way; stopped on exit."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDITBOOK_")}
    env.update(
        CREDITBOOK_DATABASE_URL=database_url,
        CREDITBOOK_RATE_LIMIT_PER_S=UNLIMITED,
        CREDITBOOK_RATE_LIMIT_BURST=UNLIMITED,
    )
    env.update(extra_env or {})
    port = free_port()
    log = workdir / f"{name}.log"
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",  # as `creditbook serve`
    ]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, env=env, cwd=workdir, stdout=output, stderr=subprocess.STDOUT
        )
    running = Server(process, f"http://127.0.0.1:{port}", log)
    try:
        wait_healthy(running)
        yield running
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)


def wait_healthy(running: Server) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if running.process.poll() is not None:
            break
        try:
            if httpx.get(f"{running.base_url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    tail = "\n".join(running.log.read_text(errors="replace").splitlines()[-20:])
    raise SystemExit(f"the server did not become healthy:\n{tail}")


@contextmanager
def sqlite_database() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="cb-http-bench-") as directory:
        yield f"sqlite:///{Path(directory) / 'bench.db'}"


def describe(url: str) -> str:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return "SQLite (temporary file)"
    return f"PostgreSQL at {parsed.host}:{parsed.port or 5432} (scratch database)"


# -- the accounts --------------------------------------------------------------------------


@dataclass
class Accounts:
    """One account and write key per client, with pre-encoded requests."""

    ids: list[str]
    headers: list[dict[str, str]]
    single_body: bytes
    batch_bodies: list[bytes]


def set_up_accounts(ledger: Ledger, count: int, batch_size: int) -> Accounts:
    ledger.put_plan(Plan(PLAN_ID, allowances={"credits": HUGE_ALLOWANCE}))
    ids: list[str] = []
    headers: list[dict[str, str]] = []
    for index in range(count):
        account_id = ledger.open_account(PLAN_ID, account_id=f"bench-{index}").account_id
        secret = ledger.create_key(account_id, scope=Scope.WRITE).secret
        assert secret is not None
        ids.append(account_id)
        headers.append({"Authorization": f"Bearer {secret}", "Content-Type": "application/json"})
    batch_bodies = [
        json.dumps({"items": [{"account_id": account_id, "amount": 1}] * batch_size}).encode()
        for account_id in ids
    ]
    return Accounts(ids, headers, json.dumps({"amount": 1}).encode(), batch_bodies)


def consumed_credits(ledger: Ledger, account_ids: list[str]) -> Credits:
    total = Credits(0)
    for account_id in account_ids:
        total = total + ledger.balance(account_id).pools["credits"].consumed
    return total


# -- the clients ---------------------------------------------------------------------------


@dataclass
class Outcome:
    ok: bool
    units: int  # charges made (or requests, for health)
    status: int


Send = Callable[[int], Awaitable[Outcome]]


@dataclass
class Measurement:
    name: str
    seconds: float
    requests: int
    units: int
    latencies_ms: list[float] = field(repr=False)
    statuses: Counter[int]
    cpu: CpuUse
    offered_rps: float | None = None
    dropped: int = 0
    late_p99_ms: float | None = None  # how late the client sent, open loop only

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def units_per_s(self) -> float:
        return self.units / self.seconds

    def percentile(self, fraction: float) -> float:
        return percentile(self.latencies_ms, fraction)

    @property
    def server_cpu_ms(self) -> float | None:
        """Server CPU per request: robust to other load on the machine, unlike rates."""
        if self.cpu.server is None or not self.requests:
            return None
        return self.cpu.server * self.seconds * 1000 / self.requests


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[index]


class Driver:
    """The requests of each measurement, on one shared aiohttp session."""

    def __init__(self, client: aiohttp.ClientSession, accounts: Accounts, batch_size: int) -> None:
        self.client = client
        self.accounts = accounts
        self.batch_size = batch_size
        self.charged = 0  # every charge the server confirmed, warm-ups included
        self.refused: Counter[str] = Counter()

    def sender(self, name: str) -> Send:
        return {SINGLE: self.single, BATCH: self.batch, HEALTH: self.health}[name]

    async def _send(
        self, method: str, path: str, body: bytes | None = None, slot: int | None = None
    ) -> tuple[int, bytes]:
        headers = None if slot is None else self.accounts.headers[slot]
        async with self.client.request(method, path, data=body, headers=headers) as response:
            return response.status, await response.read()

    def _refused(self, status: int, body: bytes) -> None:
        self.refused[f"{status} {body[:120].decode(errors='replace')}"] += 1

    async def single(self, index: int) -> Outcome:
        slot = index % len(self.accounts.ids)
        path = f"/v1/accounts/{self.accounts.ids[slot]}/charges"
        status, body = await self._send("POST", path, self.accounts.single_body, slot)
        ok = status == 201
        if ok:
            self.charged += 1
        else:
            self._refused(status, body)
        return Outcome(ok, 1 if ok else 0, status)

    async def batch(self, index: int) -> Outcome:
        slot = index % len(self.accounts.ids)
        body = self.accounts.batch_bodies[slot]
        status, answer = await self._send("POST", "/v1/charges/batch", body, slot)
        if status != 200:
            self._refused(status, answer)
            return Outcome(False, 0, status)
        done = sum(1 for item in json.loads(answer)["data"] if item["ok"])
        self.charged += done
        if done != self.batch_size:
            self.refused["batch items refused"] += self.batch_size - done
        return Outcome(done == self.batch_size, done, status)

    async def health(self, index: int) -> Outcome:
        status, body = await self._send("GET", "/healthz")
        ok = status == 200
        if not ok:
            self._refused(status, body)
        return Outcome(ok, 1 if ok else 0, status)


def _session(base_url: str, connections: int) -> aiohttp.ClientSession:
    """The clients' shared session: up to `connections` kept-alive connections."""
    return aiohttp.ClientSession(
        base_url,
        connector=aiohttp.TCPConnector(limit=connections),
        timeout=aiohttp.ClientTimeout(total=30.0),
    )


async def closed_loop(
    name: str, send: Send, clients: int, seconds: float, warmup: float, server_pid: int
) -> Measurement:
    """`clients` loops, each sending its next request when the previous one answered."""
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    totals = {"requests": 0, "units": 0}
    recording = False

    async def loop(index: int, deadline: float) -> None:
        sequence = index
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            outcome = await send(sequence)
            sequence += clients
            if recording:
                latencies.append((time.perf_counter() - started) * 1000)
                statuses[outcome.status] += 1
                totals["requests"] += 1
                totals["units"] += outcome.units

    if warmup > 0:
        deadline = time.perf_counter() + warmup
        await asyncio.gather(*(loop(i, deadline) for i in range(clients)))
    gc.collect()
    recording = True
    meter = CpuMeter(server_pid)
    started = time.perf_counter()
    await asyncio.gather(*(loop(i, started + seconds) for i in range(clients)))
    elapsed = time.perf_counter() - started
    return Measurement(
        name, elapsed, totals["requests"], totals["units"], latencies, statuses, meter.stop()
    )


async def open_loop(
    name: str, send: Send, rate: float, seconds: float, max_in_flight: int, server_pid: int
) -> Measurement:
    """Requests on a fixed schedule of `rate` per second; latency from the scheduled time."""
    latencies: list[float] = []
    lateness: list[float] = []
    statuses: Counter[int] = Counter()
    totals = {"requests": 0, "units": 0, "dropped": 0}
    in_flight: set[asyncio.Task[None]] = set()

    async def one(sequence: int, due: float) -> None:
        lateness.append((time.perf_counter() - due) * 1000)
        outcome = await send(sequence)
        latencies.append((time.perf_counter() - due) * 1000)
        statuses[outcome.status] += 1
        totals["requests"] += 1
        totals["units"] += outcome.units

    gc.collect()
    meter = CpuMeter(server_pid)
    started = time.perf_counter()
    total = max(1, int(rate * seconds))
    for sequence in range(total):
        due = started + sequence / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if len(in_flight) >= max_in_flight:
            totals["dropped"] += 1  # the server is far behind: count, do not queue more
            continue
        task = asyncio.create_task(one(sequence, due))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    if in_flight:
        await asyncio.gather(*in_flight)
    elapsed = time.perf_counter() - started
    return Measurement(
        name,
        elapsed,
        totals["requests"],
        totals["units"],
        latencies,
        statuses,
        meter.stop(),
        offered_rps=rate,
        dropped=totals["dropped"],
        late_p99_ms=percentile(lateness, 0.99),
    )


# -- one run -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Budget:
    clients: int
    seconds: float
    warmup: float
    rounds: int
    batch_size: int
    batch_clients: int
    load_seconds: float
    load_rps: float | None
    workers: int
    app: str


@dataclass
class Result:
    database: str
    budget: Budget
    rounds: dict[str, list[Measurement]]
    load: Measurement
    checks: list[str]
    problems: list[str]
    background_cores: float | None

    def median(self, name: str, value: Callable[[Measurement], float]) -> float:
        return statistics.median(value(m) for m in self.rounds[name])

    def closed(self, name: str) -> Measurement:
        """The round whose throughput is the median one (for latency and CPU figures)."""
        ordered = sorted(self.rounds[name], key=lambda m: m.units_per_s)
        return ordered[(len(ordered) - 1) // 2]

    @property
    def single_rps(self) -> float:
        return self.median(SINGLE, lambda m: m.rps)

    @property
    def health_rps(self) -> float:
        return self.median(HEALTH, lambda m: m.rps)

    @property
    def single_ratio(self) -> float:
        return self.single_rps / self.health_rps

    @property
    def cpu_ratio(self) -> float | None:
        """healthz CPU / single-charge CPU of the server: the rps ratio of a CPU-bound
        server, and unlike rates it holds when other processes load the machine."""
        health = statistics.median(m.server_cpu_ms or 0 for m in self.rounds[HEALTH])
        single = statistics.median(m.server_cpu_ms or 0 for m in self.rounds[SINGLE])
        return health / single if health and single else None

    @property
    def tail_ratio(self) -> float:
        return self.load.percentile(0.99) / self.load.percentile(0.50)


async def drive(
    base_url: str, server_pid: int, accounts: Accounts, budget: Budget, progress: Console
) -> tuple[dict[str, list[Measurement]], Measurement, Driver]:
    # Open loop may have many requests in flight; closed loop has exactly `clients`.
    max_in_flight = max(4 * budget.clients, 64)
    async with _session(base_url, max_in_flight) as client:
        driver = Driver(client, accounts, budget.batch_size)
        names = [SINGLE, HEALTH, BATCH]
        rounds: dict[str, list[Measurement]] = {name: [] for name in names}
        for round_index in range(budget.rounds):
            order = names[round_index % 3 :] + names[: round_index % 3]
            for name in order:
                measured = await closed_loop(
                    name,
                    driver.sender(name),
                    budget.batch_clients if name == BATCH else budget.clients,
                    budget.seconds,
                    budget.warmup,
                    server_pid,
                )
                rounds[name].append(measured)
                progress.print(
                    f"round {round_index + 1}/{budget.rounds} {name:>6}: "
                    f"{measured.rps:,.0f} req/s, {measured.units_per_s:,.0f} units/s, "
                    f"p50 {measured.percentile(0.5):.1f} ms, p99 {measured.percentile(0.99):.1f} ms"
                )
        peak = statistics.median(m.rps for m in rounds[SINGLE])
        rate = budget.load_rps or LOAD_FRACTION * peak
        progress.print(f"open loop at {rate:,.0f} req/s (measured peak {peak:,.0f})")
        load = await open_loop(
            "load", driver.single, rate, budget.load_seconds, max_in_flight, server_pid
        )
    return rounds, load, driver


def run(database_url: str, budget: Budget, progress: Console) -> Result:
    checks: list[str] = []
    problems: list[str] = []
    background = background_load()
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cb-http-")))
        ledger = Ledger.open(database_url)
        stack.callback(ledger.close)
        accounts = set_up_accounts(ledger, budget.clients, budget.batch_size)
        running = stack.enter_context(server(database_url, budget.workers, workdir, budget.app))
        progress.print(
            f"{describe(database_url)}: server pid {running.process.pid}, "
            f"{budget.workers} worker(s), {budget.clients} clients, app {budget.app}"
        )
        rounds, load, driver = asyncio.run(
            drive(running.base_url, running.process.pid, accounts, budget, progress)
        )
        consumed = consumed_credits(ledger, accounts.ids)
        if consumed != Credits.of(driver.charged):
            problems.append(f"server confirmed {driver.charged:,} charges, ledger has {consumed}")
        else:
            checks.append(f"{driver.charged:,} confirmed charges = credits consumed in the ledger")
        report = ledger.verify()
        if report.ok:
            checks.append(
                f"Ledger.verify: {report.transfers:,} transfers, {report.entries:,} entries, "
                "no differences"
            )
        else:
            problems.append(f"Ledger.verify: {report.differences[:3]}")
        problems.extend(f"{count} × {what}" for what, count in driver.refused.most_common(5))
        if load.dropped:
            problems.append(f"open loop dropped {load.dropped} requests (too many in flight)")
    return Result(describe(database_url), budget, rounds, load, checks, problems, background)


def background_load(seconds: float = 1.0) -> float | None:
    """Cores other processes keep busy before the benchmark starts."""
    first = machine_busy_s()
    time.sleep(seconds)
    last = machine_busy_s()
    return None if first is None or last is None else (last - first) / seconds


# -- the hot account -----------------------------------------------------------------------

HOT_RATIO_GOAL = 0.5  # hot-account charge rps / healthz rps of the same server, at least
HOT_TAIL_GOAL = 4.0  # p99 / p50 of the hot-account charges, at most
HOT_CPU_GOAL = 2.0  # server CPU per charge / per healthz, at most
HOT_WORKERS = 2
LOCK_SAMPLE_S = 0.05
GROUP_MODES = {"on": {}, "off": {"CREDITBOOK_GROUP_COMMIT": "false"}}
SPARE_CONNECTIONS = 10  # for the benchmark itself, its lock sampler and the server's own
MAX_POOL_SIZE = 30  # the server's default


def hot_pool_size(ledger: Ledger, workers: int) -> int:
    """Connections per worker, so that both servers of the hot run together fit within the
    PostgreSQL server's `max_connections` (a fixed pool keeps what it opened, and each worker
    has one more, its group commit's)."""
    with ledger.engine.connect() as connection:
        limit = int(connection.exec_driver_sql("SHOW max_connections").scalar_one())
    per_worker = (limit - SPARE_CONNECTIONS) // (len(GROUP_MODES) * workers)
    return max(1, min(MAX_POOL_SIZE, per_worker - 1))


class LockSampler:
    """Samples `pg_stat_activity` while a measurement runs: how many client backends of the
    database wait on a lock (the hot account's row lock, in practice), of how many."""

    def __init__(self, database_url: str) -> None:
        self.url = make_url(database_url).set(drivername="postgresql")
        self.samples: list[tuple[int, int]] = []  # (waiting on a lock, client backends)
        self._stop = asyncio.Event()

    def _sample(self, connection: psycopg.Connection[Any]) -> tuple[int, int]:
        row = connection.execute(
            "SELECT count(*) FILTER (WHERE wait_event_type = 'Lock'), count(*)"
            " FROM pg_stat_activity WHERE datname = current_database()"
            " AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
        ).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])

    async def run(self) -> None:
        url = self.url.render_as_string(hide_password=False)
        with psycopg.connect(url, autocommit=True) as connection:
            while not self._stop.is_set():
                self.samples.append(await asyncio.to_thread(self._sample, connection))
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), LOCK_SAMPLE_S)

    def stop(self) -> None:
        self._stop.set()

    def waiting(self) -> tuple[float, int, float]:
        """Mean and most backends waiting on a lock, and the mean of client backends."""
        if not self.samples:
            return float("nan"), 0, float("nan")
        waits = [waiting for waiting, _ in self.samples]
        return statistics.mean(waits), max(waits), statistics.mean(b for _, b in self.samples)


@dataclass
class HotRound:
    mode: str  # group commit "on" or "off"
    hot: Measurement
    health: Measurement
    locks: tuple[float, int, float]


def _cpu_per(measured: Measurement) -> float:
    return measured.server_cpu_ms or float("nan")


@dataclass
class HotResult:
    budget: Budget
    rounds: list[HotRound]
    errors: dict[str, Counter[str]]
    checks: list[str]
    problems: list[str]
    background_cores: float | None

    def of(self, mode: str) -> list[HotRound]:
        return [r for r in self.rounds if r.mode == mode]

    def median(self, mode: str, value: Callable[[HotRound], float]) -> float:
        return statistics.median(value(r) for r in self.of(mode))

    def ratios(self, mode: str) -> dict[str, float]:
        return {
            "rps": self.median(mode, lambda r: r.hot.rps / r.health.rps),
            "tail": self.median(mode, lambda r: r.hot.percentile(0.99) / r.hot.percentile(0.5)),
            "cpu": self.median(mode, lambda r: _cpu_per(r.hot) / _cpu_per(r.health)),
        }


async def _hot_round(
    mode: str, running: Server, accounts: Accounts, budget: Budget, database_url: str
) -> tuple[HotRound, Driver]:
    async with _session(running.base_url, budget.clients) as client:
        driver = Driver(client, accounts, budget.batch_size)
        health = await closed_loop(
            HEALTH,
            driver.health,
            budget.clients,
            budget.seconds,
            budget.warmup,
            running.process.pid,
        )
        sampler = LockSampler(database_url)
        sampling = asyncio.create_task(sampler.run())
        try:
            hot = await closed_loop(
                SINGLE,
                driver.single,
                budget.clients,
                budget.seconds,
                budget.warmup,
                running.process.pid,
            )
        finally:
            sampler.stop()
            await sampling
    return HotRound(mode, hot, health, sampler.waiting()), driver


def run_hot(database_url: str, budget: Budget, progress: Console) -> HotResult:
    """Every client charges ONE account with its one write key, on a server with group
    commit on and one with it off, in alternating rounds; each round also measures that
    server's /healthz."""
    background = background_load()
    errors: dict[str, Counter[str]] = {mode: Counter() for mode in GROUP_MODES}
    rounds: list[HotRound] = []
    charged = 0
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cb-http-")))
        ledger = Ledger.open(database_url)
        stack.callback(ledger.close)
        accounts = set_up_accounts(ledger, 1, budget.batch_size)
        pool_size = hot_pool_size(ledger, budget.workers)
        servers = {
            mode: stack.enter_context(
                server(
                    database_url,
                    budget.workers,
                    workdir,
                    budget.app,
                    {**env, "CREDITBOOK_DATABASE_POOL_SIZE": str(pool_size)},
                    f"server-{mode}",
                )
            )
            for mode, env in GROUP_MODES.items()
        }
        progress.print(
            f"{describe(database_url)}: hot account, {budget.clients} clients, "
            f"{budget.workers} worker(s) per server with {pool_size} connections each, "
            "group commit on and off"
        )
        modes = list(GROUP_MODES)
        for index in range(budget.rounds):
            for mode in modes[index % 2 :] + modes[: index % 2]:
                measured, driver = asyncio.run(
                    _hot_round(mode, servers[mode], accounts, budget, database_url)
                )
                rounds.append(measured)
                errors[mode].update(driver.refused)
                charged += driver.charged
                hot = measured.hot
                progress.print(
                    f"round {index + 1}/{budget.rounds} group commit {mode:>3}: "
                    f"{hot.rps:,.0f} charges/s (healthz {measured.health.rps:,.0f}/s), "
                    f"p50 {hot.percentile(0.5):.1f} ms, p99 {hot.percentile(0.99):.1f} ms, "
                    f"{measured.locks[0]:.1f} of {measured.locks[2]:.1f} backends on a lock"
                )
        consumed = consumed_credits(ledger, accounts.ids)
    checks, problems = [], []
    if consumed == Credits.of(charged):
        checks.append(f"{charged:,} confirmed charges = credits consumed in the ledger")
    else:
        problems.append(f"server confirmed {charged:,} charges, ledger has {consumed}")
    for mode, refused in errors.items():
        problems.extend(f"group commit {mode}: {n} × {what}" for what, n in refused.items())
    return HotResult(budget, rounds, errors, checks, problems, background)


def print_hot(console: Console, result: HotResult) -> None:
    budget = result.budget
    table = Table(
        title=f"hot account: {budget.clients} clients charging ONE account, "
        f"{budget.workers} workers, PostgreSQL, {budget.seconds:g} s × {budget.rounds} "
        "alternating rounds (medians)"
    )
    table.add_column("group commit")
    for column in (
        "charges/s",
        "healthz/s",
        "p50 ms",
        "p99 ms",
        "CPU ms/charge",
        "CPU ms/healthz",
        "lock waiters mean",
        "max",
        "backends",
        "errors",
    ):
        table.add_column(column, justify="right")
    for mode in GROUP_MODES:
        table.add_row(
            mode,
            f"{result.median(mode, lambda r: r.hot.rps):,.0f}",
            f"{result.median(mode, lambda r: r.health.rps):,.0f}",
            f"{result.median(mode, lambda r: r.hot.percentile(0.5)):.1f}",
            f"{result.median(mode, lambda r: r.hot.percentile(0.99)):.1f}",
            f"{result.median(mode, lambda r: _cpu_per(r.hot)):.2f}",
            f"{result.median(mode, lambda r: _cpu_per(r.health)):.2f}",
            f"{result.median(mode, lambda r: r.locks[0]):.1f}",
            f"{max(r.locks[1] for r in result.of(mode))}",
            f"{result.median(mode, lambda r: r.locks[2]):.1f}",
            f"{sum(result.errors[mode].values())}",
        )
    console.print(table)
    goals = Table(title="hot account: ratios (within each round, medians)")
    for column in ("ratio", "group commit on", "off", "goal (on)", "met"):
        goals.add_column(column, justify="left" if column == "ratio" else "right")
    on, off = result.ratios("on"), result.ratios("off")
    rows = [
        ("charge rps / healthz rps", "rps", f"≥ {HOT_RATIO_GOAL:g}", on["rps"] >= HOT_RATIO_GOAL),
        ("p99 / p50", "tail", f"≤ {HOT_TAIL_GOAL:g}", on["tail"] <= HOT_TAIL_GOAL),
        ("server CPU per charge / per healthz", "cpu", f"≤ {HOT_CPU_GOAL:g}", on["cpu"] <= 2),
    ]
    for label, name, goal, met in rows:
        goals.add_row(
            label,
            f"{on[name]:.2f}",
            f"{off[name]:.2f}",
            goal,
            "[green]yes[/]" if met else "[red]NO[/]",
        )
    errors = sum(result.errors["on"].values())
    goals.add_row(
        "errors",
        str(errors),
        str(sum(result.errors["off"].values())),
        "0",
        "[green]yes[/]" if errors == 0 else "[red]NO[/]",
    )
    console.print(goals)
    if result.background_cores is not None:
        console.print(f"machine: {result.background_cores:.2f} cores busy before the run")
    for check in result.checks:
        console.print(f"verified: {check}")
    for problem in result.problems:
        console.print(f"[red]problem: {problem}[/]")


# -- output --------------------------------------------------------------------------------


def load_point(budget: Budget) -> str:
    return "a fixed rate" if budget.load_rps else f"{LOAD_FRACTION:.0%} of peak"


def _cores(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def print_result(console: Console, result: Result) -> None:
    budget = result.budget
    machine_cores = os.cpu_count() or 1
    table = Table(
        title=f"{result.database}: closed loop, {budget.clients} clients "
        f"({budget.batch_clients} for batches), "
        f"{budget.seconds:g} s × {budget.rounds} alternating rounds (median round shown)"
    )
    table.add_column("measurement")
    for column in (
        "req/s",
        "charges/s",
        "p50 ms",
        "p99 ms",
        "server CPU ms/req",
        "server cores",
        "client cores",
        f"machine cores (of {machine_cores})",
    ):
        table.add_column(column, justify="right")
    for name in (SINGLE, BATCH, HEALTH):
        measured = result.closed(name)
        table.add_row(
            LABELS[name].replace("{batch}", str(budget.batch_size)),
            f"{result.median(name, lambda m: m.rps):,.0f}",
            "—" if name == HEALTH else f"{result.median(name, lambda m: m.units_per_s):,.0f}",
            f"{measured.percentile(0.5):.1f}",
            f"{measured.percentile(0.99):.1f}",
            _ms(measured.server_cpu_ms),
            _cores(measured.cpu.server),
            f"{measured.cpu.client:.2f}",
            _cores(measured.cpu.machine),
        )
    load = result.load
    table.add_section()
    table.add_row(
        f"open loop, single charge at {load_point(budget)} "
        f"({load.offered_rps or 0:,.0f} req/s offered, {budget.load_seconds:g} s)",
        f"{load.rps:,.0f}",
        f"{load.units_per_s:,.0f}",
        f"{load.percentile(0.5):.1f}",
        f"{load.percentile(0.99):.1f}",
        _ms(load.server_cpu_ms),
        _cores(load.cpu.server),
        f"{load.cpu.client:.2f}",
        _cores(load.cpu.machine),
    )
    console.print(table)

    goals = Table(title=f"{result.database}: ratios")
    goals.add_column("ratio")
    for column in ("value", "goal"):
        goals.add_column(column, justify="right")
    goals.add_column("met")
    single_met = result.single_ratio >= SINGLE_RATIO_GOAL
    tail_met = result.tail_ratio <= TAIL_RATIO_GOAL
    goals.add_row(
        "single charge rps / healthz rps",
        f"{result.single_ratio:.2f}",
        f"≥ {SINGLE_RATIO_GOAL:g}",
        "[green]yes[/]" if single_met else "[red]NO[/]",
    )
    cpu_ratio = result.cpu_ratio
    if cpu_ratio is not None:
        goals.add_row(
            "  the same from server CPU ms/req (healthz / charge)",
            f"{cpu_ratio:.2f}",
            f"≥ {SINGLE_RATIO_GOAL:g}",
            "[green]yes[/]" if cpu_ratio >= SINGLE_RATIO_GOAL else "[red]NO[/]",
        )
    goals.add_row(
        f"p99 / p50 at {load_point(budget)}",
        f"{result.tail_ratio:.2f}",
        f"≤ {TAIL_RATIO_GOAL:g}",
        "[green]yes[/]" if tail_met else "[red]NO[/]",
    )
    console.print(goals)
    console.print(
        f"open loop: p99 send lateness {load.late_p99_ms or 0:.1f} ms (client-side delay before"
        f" a request left), {load.dropped} dropped, max latency {max(load.latencies_ms):.1f} ms"
    )
    if result.background_cores is not None:
        busy = result.background_cores
        note = f"machine: {busy:.2f} of {machine_cores} cores busy before the run"
        if busy > 0.25:
            note += " (other load: rates and latencies are pessimistic; CPU ms/req holds)"
        console.print(note)
    for check in result.checks:
        console.print(f"verified: {check}")
    for problem in result.problems:
        console.print(f"[red]problem: {problem}[/]")


def as_json(result: Result) -> dict[str, Any]:
    def summary(m: Measurement) -> dict[str, Any]:
        return {
            "seconds": m.seconds,
            "requests_per_s": m.rps,
            "units_per_s": m.units_per_s,
            "p50_ms": m.percentile(0.5),
            "p99_ms": m.percentile(0.99),
            "statuses": {str(k): v for k, v in m.statuses.items()},
            "cpu_cores": asdict(m.cpu),
            "server_cpu_ms_per_request": m.server_cpu_ms,
            "offered_rps": m.offered_rps,
            "dropped": m.dropped,
            "late_p99_ms": m.late_p99_ms,
        }

    return {
        "database": result.database,
        "budget": asdict(result.budget),
        "rounds": {name: [summary(m) for m in ms] for name, ms in result.rounds.items()},
        "load": summary(result.load),
        "ratios": {
            "single_over_health": {
                "value": result.single_ratio,
                "goal": f">= {SINGLE_RATIO_GOAL}",
                "met": result.single_ratio >= SINGLE_RATIO_GOAL,
            },
            "single_over_health_by_server_cpu": {
                "value": result.cpu_ratio,
                "goal": f">= {SINGLE_RATIO_GOAL}",
                "met": None if result.cpu_ratio is None else result.cpu_ratio >= SINGLE_RATIO_GOAL,
            },
            "p99_over_p50_at_70pct": {
                "value": result.tail_ratio,
                "goal": f"<= {TAIL_RATIO_GOAL}",
                "met": result.tail_ratio <= TAIL_RATIO_GOAL,
            },
        },
        "background_cores": result.background_cores,
        "checks": result.checks,
        "problems": result.problems,
    }


# -- command line --------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--workers", type=int, help=f"uvicorn workers (default 1; {HOT_WORKERS} with --hot)"
    )
    parser.add_argument(
        "--hot",
        action="store_true",
        help="the hot-account run instead: every client charges one account (PostgreSQL)",
    )
    database = parser.add_mutually_exclusive_group()
    database.add_argument(
        "--postgres-url", help=f"PostgreSQL server URL (default: ${POSTGRES_ENV})"
    )
    database.add_argument("--sqlite", action="store_true", help=f"SQLite even if ${POSTGRES_ENV}")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients (default 32)")
    parser.add_argument(
        "--seconds", type=float, default=4.0, help="seconds per measurement (default 4)"
    )
    parser.add_argument(
        "--warmup", type=float, default=1.0, help="warm-up seconds per measurement (default 1)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument(
        "--batch-size", type=int, default=100, help="charges per batch request (default 100)"
    )
    parser.add_argument(
        "--batch-clients",
        type=int,
        default=4,
        help="concurrent batch clients (default 4: a few large requests keep a server busy)",
    )
    parser.add_argument(
        "--load-seconds", type=float, default=10.0, help="open-loop seconds (default 10)"
    )
    parser.add_argument(
        "--load-rps",
        type=float,
        help=f"open-loop rate instead of {LOAD_FRACTION * 100:.0f}%% of the measured peak"
        " (to compare variants at one rate)",
    )
    parser.add_argument(
        "--app",
        default=APP,
        help=f"the app factory to serve, e.g. a prototype on PYTHONPATH (default {APP})",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    args = parser.parse_args(argv)
    if args.workers is None:
        args.workers = HOT_WORKERS if args.hot else 1
    if args.hot and args.sqlite:
        parser.error("--hot samples PostgreSQL's lock waits: give --postgres-url")
    for name in ("workers", "clients", "rounds", "batch_size", "batch_clients"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.load_rps is not None and args.load_rps <= 0:
        parser.error("--load-rps must be positive")
    for name in ("seconds", "load_seconds"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    if args.warmup < 0:
        parser.error("--warmup must not be negative")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if aiohttp is None:
        raise SystemExit("the load comes from aiohttp: pip install -e '.[bench]'")
    budget = Budget(
        clients=args.clients,
        seconds=args.seconds,
        warmup=args.warmup,
        rounds=args.rounds,
        batch_size=args.batch_size,
        batch_clients=args.batch_clients,
        load_seconds=args.load_seconds,
        load_rps=args.load_rps,
        workers=args.workers,
        app=args.app,
    )
    progress = Console(stderr=True)
    postgres_url = None if args.sqlite else args.postgres_url or os.environ.get(POSTGRES_ENV)
    with ExitStack() as stack:
        if postgres_url:
            url = stack.enter_context(postgres_database(postgres_url))
        elif args.hot:
            raise SystemExit(f"--hot needs PostgreSQL: --postgres-url or ${POSTGRES_ENV}")
        else:
            url = stack.enter_context(sqlite_database())
        if args.hot:
            hot = run_hot(url, budget, progress)
        else:
            result = run(url, budget, progress)
    if args.hot:
        print_hot(Console(width=None if sys.stdout.isatty() else 160), hot)
        return 1 if hot.problems else 0
    if args.json:
        print(json.dumps(as_json(result), indent=2))
    else:
        print_result(Console(width=None if sys.stdout.isatty() else 140), result)
    return 1 if result.problems else 0


if __name__ == "__main__":
    sys.exit(main())
