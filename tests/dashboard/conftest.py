"""Fixtures of the dashboard tests: one seeded SQLite ledger (see seed.py), the app over it
for TestClient tests, and the real server on a free loopback port for the browser tests."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import httpx2
import pytest
from fastapi.testclient import TestClient
from tests.dashboard.seed import NOW, World, seeded_ledger

from creditbook import Ledger, ManualClock
from creditbook.api.app import create_app
from creditbook.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SERVER_SCRIPT = Path(__file__).with_name("serve_fixed_clock.py")
SERVER_START_TIMEOUT_S = 60
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]*)"')


@dataclass(frozen=True)
class Seeded:
    url: str
    world: World


@pytest.fixture(scope="session")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    """The seeded database, built once (about two seconds) and shared read-only."""
    path = tmp_path_factory.mktemp("dashboard") / "seeded.db"
    ledger, world = seeded_ledger(f"sqlite:///{path}")
    ledger.close()
    return Seeded(f"sqlite:///{path}", world)


@pytest.fixture
def fresh(seeded: Seeded, tmp_path: Path) -> Seeded:
    """A private copy of the seeded database, for tests that change keys."""
    source = Path(seeded.url.removeprefix("sqlite:///"))
    target = tmp_path / "copy.db"
    shutil.copyfile(source, target)
    return Seeded(f"sqlite:///{target}", seeded.world)


@pytest.fixture
def ledger(seeded: Seeded) -> Iterator[Ledger]:
    opened = Ledger.open(seeded.url, clock=ManualClock(NOW))
    yield opened
    opened.close()


def app_client(ledger: Ledger, *, base_url: str = "http://testserver") -> TestClient:
    settings = Settings(rate_limit_per_s=10_000, rate_limit_burst=10_000)
    return TestClient(create_app(ledger, settings), base_url=base_url)


@pytest.fixture
def client(ledger: Ledger) -> Iterator[TestClient]:
    with app_client(ledger) as test_client:
        yield test_client


def sign_in(client: TestClient, key: str, *, next_url: str | None = None) -> httpx2.Response:
    """Fill in the sign-in form as a browser would (its CSRF token from the page)."""
    form = client.get("/dashboard/login")
    assert form.status_code == 200, form.text
    match = CSRF_INPUT.search(form.text)
    assert match is not None
    data = {"csrf_token": match.group(1), "api_key": key}
    if next_url is not None:
        data["next"] = next_url
    return client.post("/dashboard/login", data=data, follow_redirects=False)


# -- the real server ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class Server:
    base_url: str
    database_url: str
    world: World


def start_server(database_url: str, *options: str) -> tuple[subprocess.Popen[bytes], str]:
    """The server on `database_url`; `options` are more arguments of serve_fixed_clock.py."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            str(SERVER_SCRIPT),
            "--database-url",
            database_url,
            "--port",
            str(port),
            "--now",
            NOW.isoformat(),
            *options,
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return process, base_url
        except httpx.TransportError:
            time.sleep(0.2)
    process.terminate()
    raise RuntimeError("the server did not start")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=20)


@pytest.fixture(scope="session")
def server(seeded: Seeded, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """uvicorn on the app over a copy of the seeded database, clock at NOW."""
    source = Path(seeded.url.removeprefix("sqlite:///"))
    target = tmp_path_factory.mktemp("served") / "served.db"
    shutil.copyfile(source, target)
    database_url = f"sqlite:///{target}"
    process, base_url = start_server(database_url)
    try:
        yield Server(base_url, database_url, seeded.world)
    finally:
        stop_server(process)
