"""Two real server processes on one PostgreSQL (and one Redis): the production shape.

Each test starts two `uvicorn` processes that share nothing but the database (and, for the
rate limit, Redis), and drives them at once from many client threads:

- concurrent charges against both processes never spend more than the account has;
- a plan's rate limit is one bucket across both processes when they share Redis.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from creditbook import Credits, Ledger, Plan
from creditbook.domain.requests import Scope

pytestmark = pytest.mark.slow

STARTUP_TIMEOUT_S = 20.0
REQUEST_TIMEOUT_S = 20.0
# High enough that the in-process limiter of each server never interferes.
UNLIMITED = {"CREDITBOOK_RATE_LIMIT_PER_S": "1000000", "CREDITBOOK_RATE_LIMIT_BURST": "1000000"}


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base_url: str
    log: Path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _spawn(env: dict[str, str], workdir: Path, name: str) -> Server:
    port = _free_port()
    log = workdir / f"{name}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "creditbook.api.app:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            env=env,
            cwd=workdir,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    return Server(process, f"http://127.0.0.1:{port}", log)


def _wait_healthy(server: Server, deadline: float) -> bool:
    """True once /healthz answers 200; False if the process exited (e.g. port taken)."""
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        try:
            if httpx.get(f"{server.base_url}/healthz", timeout=1.0).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(
        f"server at {server.base_url} not healthy after {STARTUP_TIMEOUT_S} s:\n"
        + _log_tail(server.log)
    )


def _stop(server: Server) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=10)


StartServers = Callable[..., list[Server]]


@pytest.fixture
def start_servers(tmp_path: Path) -> Iterator[StartServers]:
    """Start N `uvicorn` processes on one database; all are stopped after the test."""
    started: list[Server] = []

    def start(database_url: str, count: int = 2, **extra_env: str) -> list[Server]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CREDITBOOK_")}
        env.update(UNLIMITED)
        env.update(extra_env)
        env["CREDITBOOK_DATABASE_URL"] = database_url
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        servers: list[Server] = []
        for index in range(count):
            for attempt in range(3):  # a free port can be taken before uvicorn binds it
                server = _spawn(env, tmp_path, f"server-{len(started)}-{attempt}")
                started.append(server)
                if _wait_healthy(server, deadline):
                    servers.append(server)
                    break
            else:
                raise AssertionError(f"server {index} did not start:\n{_log_tail(server.log)}")
        return servers

    try:
        yield start
    finally:
        for server in started:
            _stop(server)


@pytest.fixture
def pg_ledger(postgres_database_url: str) -> Iterator[Ledger]:
    ledger = Ledger.open(postgres_database_url)
    try:
        yield ledger
    finally:
        ledger.close()


def _bearer(secret: str | None) -> dict[str, str]:
    assert secret is not None
    return {"Authorization": f"Bearer {secret}"}


def _run_clients(
    count: int, body: Callable[[int, list[httpx.Client]], None], servers: list[Server]
) -> None:
    """Run `body(index, clients)` in `count` threads released together; re-raise failures."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        clients = [
            httpx.Client(base_url=server.base_url, timeout=REQUEST_TIMEOUT_S) for server in servers
        ]
        try:
            barrier.wait(timeout=REQUEST_TIMEOUT_S)
            body(index, clients)
        except BaseException as error:
            errors.append(error)
            barrier.abort()
        finally:
            for client in clients:
                client.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=45)
    assert not any(thread.is_alive() for thread in threads), "client threads did not finish"
    if errors:
        raise errors[0]


def test_concurrent_charges_on_two_processes_never_overspend(
    postgres_database_url: str, pg_ledger: Ledger, start_servers: StartServers
) -> None:
    credits, clients, attempts_each = 200, 30, 20  # 600 attempts for 200 credits
    suffix = secrets.token_hex(4)
    plan = pg_ledger.put_plan(Plan(f"mp-{suffix}", allowances={"credits": Credits.of(credits)}))
    account_id = pg_ledger.open_account(plan.plan_id, account_id=f"mp-{suffix}").account_id
    operator = _bearer(pg_ledger.create_key(None, scope=Scope.OPERATOR).secret)
    servers = start_servers(postgres_database_url)

    outcomes: list[tuple[int, int, str]] = []  # (server, status, code)
    lock = threading.Lock()
    path = f"/v1/accounts/{account_id}/charges"

    def charge(index: int, http: list[httpx.Client]) -> None:
        for attempt in range(attempts_each):
            which = (index + attempt) % len(http)  # alternate servers
            response = http[which].post(path, json={"amount": 1}, headers=operator)
            code = "" if response.status_code == 201 else response.json().get("code", "")
            with lock:
                outcomes.append((which, response.status_code, code))

    _run_clients(clients, charge, servers)

    by_status = Counter((status, code) for _, status, code in outcomes)
    assert len(outcomes) == clients * attempts_each
    assert by_status == {
        (201, ""): credits,
        (402, "insufficient_credits"): clients * attempts_each - credits,
    }, by_status
    served = Counter(which for which, status, _ in outcomes if status == 201)
    assert len(served) == len(servers), f"every process should have charged: {served}"

    available = pg_ledger.balance(account_id).pools["credits"].available
    assert available == Credits(0)
    report = pg_ledger.verify(account_id)
    assert report.ok, report.differences
    over_http = httpx.get(
        f"{servers[1].base_url}/v1/accounts/{account_id}/balance", headers=operator
    ).json()
    assert over_http["pools"]["credits"]["available"] == 0


def test_rate_limit_is_one_bucket_across_processes_with_redis(
    postgres_database_url: str, redis_url: str, pg_ledger: Ledger, start_servers: StartServers
) -> None:
    rate, burst, clients, requests_each = 1, 5, 20, 2  # 40 requests against 5 tokens
    suffix = secrets.token_hex(4)
    plan = pg_ledger.put_plan(
        Plan(
            f"rl-{suffix}",
            allowances={"credits": Credits.of(100)},
            rate_limit_per_s=rate,
            rate_limit_burst=burst,
        )
    )
    account_id = pg_ledger.open_account(plan.plan_id, account_id=f"rl-{suffix}").account_id
    key = _bearer(pg_ledger.create_key(account_id, scope=Scope.READ).secret)
    warm = _bearer(pg_ledger.create_key(account_id, scope=Scope.READ).secret)
    servers = start_servers(postgres_database_url, CREDITBOOK_REDIS_URL=redis_url)
    path = f"/v1/accounts/{account_id}/balance"
    # Warm each process (plan limits cached, Redis connected) with another key's bucket, so
    # the burst below measures the limiter and not first-request latency.
    for server in servers:
        assert httpx.get(server.base_url + path, headers=warm).status_code == 200

    outcomes: list[tuple[int, int, list[str]]] = []  # (server, status, Retry-After values)
    lock = threading.Lock()
    started: list[float] = []

    def burst_requests(index: int, http: list[httpx.Client]) -> None:
        with lock:
            started.append(time.monotonic())
        for attempt in range(requests_each):
            which = (index + attempt) % len(http)
            response = http[which].get(path, headers=key)
            assert response.status_code in (200, 429), response.text
            with lock:
                retry_after = response.headers.get_list("retry-after")
                outcomes.append((which, response.status_code, retry_after))

    _run_clients(clients, burst_requests, servers)
    elapsed = time.monotonic() - min(started)

    allowed = sum(1 for _, status, _ in outcomes if status == 200)
    refused = [retry for _, status, retry in outcomes if status == 429]
    assert allowed + len(refused) == clients * requests_each
    assert all(len(retry) == 1 and int(retry[0]) >= 1 for retry in refused), refused
    assert {which for which, _, _ in outcomes} == {0, 1}
    # One shared bucket: the burst plus what refilled meanwhile; one bucket per process
    # would have let through at least 2 × burst.
    ceiling = burst + int(rate * elapsed) + 1
    assert burst <= allowed <= ceiling, (allowed, elapsed)
    assert allowed < 2 * burst, (allowed, elapsed)
