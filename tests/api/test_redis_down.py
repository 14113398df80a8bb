"""A shared rate limiter (Redis) that does not answer: a quick 503 `rate_limiter_unavailable`
(or, when configured, requests let through), and `/healthz` says so."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from tests.api.conftest import bearer
from tests.api.test_errors_and_limits import assert_error

from creditbook import Ledger
from creditbook.api.app import create_app
from creditbook.settings import Settings

TIMEOUT_S = 0.2
# The refusal comes soon after the timeout, never after the seconds an unbounded wait takes
# (5 s and more); the margin is for a machine busy with other tests.
WITHIN_S = 3.0


@pytest.fixture
def closed_port_url() -> str:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


@pytest.fixture
def silent_server_url() -> Iterator[str]:
    """A server that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.05)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"
    finally:
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()
        server.close()


def client_on(ledger: Ledger, redis_url: str, **settings: object) -> TestClient:
    app = create_app(
        ledger, settings=Settings(redis_url=redis_url, redis_timeout_s=TIMEOUT_S, **settings)
    )
    return TestClient(app)


@pytest.mark.parametrize("down", ["closed_port_url", "silent_server_url"])
def test_redis_down_answers_503_quickly(
    ledger: Ledger, request: pytest.FixtureRequest, down: str
) -> None:
    url = request.getfixturevalue(down)
    operator = ledger.create_key(None, scope="operator").secret
    assert operator is not None
    with client_on(ledger, url) as client:
        for method, path in (("GET", "/v1/plans"), ("POST", "/v1/accounts")):
            started = time.monotonic()
            response = client.request(
                method, path, headers={**bearer(operator), "X-Request-ID": "r-1"}, json={}
            )
            assert time.monotonic() - started < WITHIN_S
            assert_error(response, 503, "rate_limiter_unavailable")
            assert response.headers["X-Request-ID"] == "r-1"
        assert ledger.list_accounts() == []
        started = time.monotonic()
        health = client.get("/healthz")
        assert time.monotonic() - started < WITHIN_S
        assert health.status_code == 503
        assert health.json() == {
            "status": "unavailable",
            "database": ledger.engine.dialect.name,
            "rate_limiter": "unavailable",
        }


def test_redis_down_can_fail_open(ledger: Ledger, silent_server_url: str) -> None:
    operator = ledger.create_key(None, scope="operator").secret
    assert operator is not None
    with client_on(ledger, silent_server_url, rate_limit_fail_open=True) as client:
        response = client.get("/v1/plans", headers=bearer(operator))
        assert response.status_code == 200, response.text


def test_health_reports_the_rate_limiter(ledger: Ledger, redis_url: str) -> None:
    with client_on(ledger, redis_url) as client:
        assert client.get("/healthz").json()["rate_limiter"] == "redis"
    with TestClient(create_app(ledger, settings=Settings())) as client:
        health = client.get("/healthz")
        assert health.status_code == 200
        assert health.json()["rate_limiter"] == "memory"
