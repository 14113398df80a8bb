"""Failed authentications are throttled per client address, before any key is looked at:
unknown and revoked keys on the API and refused dashboard sign-ins, in process or shared
through Redis."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

from creditbook import Ledger
from creditbook.api.app import create_app
from creditbook.api.throttle import FailureCounter, MemoryFailures, RedisFailures
from creditbook.settings import Settings

LIMIT = 5
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]*)"')


def addressed(app: ASGIApp) -> ASGIApp:
    """The app, seeing each request come from the address in its `X-Test-Client` header."""

    async def wrapper(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"x-test-client":
                    scope["client"] = (value.decode(), 40000)
        await app(scope, receive, send)

    return wrapper


@pytest.fixture(params=["memory", "redis"])
def failures(request: pytest.FixtureRequest) -> FailureCounter:
    if request.param == "memory":
        return MemoryFailures()
    url = request.getfixturevalue("redis_url")
    return RedisFailures(url, prefix=f"creditbook-test:{secrets.token_hex(8)}:")


@pytest.fixture
def client(ledger: Ledger, failures: FailureCounter) -> Iterator[TestClient]:
    settings = Settings(
        rate_limit_per_s=10_000,
        rate_limit_burst=10_000,
        auth_failure_limit=LIMIT,
        auth_failure_window_s=600,
    )
    app = create_app(ledger, settings=settings, failures=failures)
    with TestClient(addressed(app)) as test_client:
        yield test_client


def get(client: TestClient, address: str, key: str | None) -> tuple[int, dict[str, str], str]:
    headers = {"X-Test-Client": address}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    response = client.get("/v1/api_keys/current", headers=headers)
    return response.status_code, dict(response.headers), response.text


def test_unknown_and_revoked_keys_are_refused_after_the_limit(
    client: TestClient, ledger: Ledger
) -> None:
    good = ledger.create_key(None, scope="operator").secret
    revoked = ledger.create_key(None, scope="operator")
    ledger.revoke_key(revoked.key.key_id)
    assert good is not None and revoked.secret is not None
    attempts = [f"cb_{secrets.token_hex(4)}_nope_x", revoked.secret] * LIMIT
    statuses = [get(client, "10.0.0.1", key)[0] for key in attempts[:LIMIT]]
    assert sorted(set(statuses)) == [401, 403]
    status, headers, body = get(client, "10.0.0.1", attempts[LIMIT])
    assert status == 429
    assert '"code":"rate_limited"' in body.replace(" ", "")
    assert 1 <= int(headers["retry-after"]) <= 600
    # Throttled before authentication: even a good key from that address waits.
    assert get(client, "10.0.0.1", good)[0] == 429
    # Another address is unaffected, with a good key or a wrong one.
    assert get(client, "10.0.0.2", good)[0] == 200
    assert get(client, "10.0.0.2", "cb_wrong")[0] == 401
    # Health stays reachable for the load balancer.
    assert client.get("/healthz", headers={"X-Test-Client": "10.0.0.1"}).status_code == 200


def test_requests_without_a_key_are_not_counted(client: TestClient, ledger: Ledger) -> None:
    for _ in range(LIMIT * 2):
        assert get(client, "10.0.0.3", None)[0] == 401
    good = ledger.create_key(None, scope="operator").secret
    assert get(client, "10.0.0.3", good)[0] == 200


def wrong_sign_in(client: TestClient, address: str) -> int:
    headers = {"X-Test-Client": address}
    form = client.get("/dashboard/login", headers=headers)
    if form.status_code == 429:
        return 429
    match = CSRF_INPUT.search(form.text)
    assert match is not None, form.text
    data = {"csrf_token": match.group(1), "api_key": f"cb_{secrets.token_hex(4)}_bad_x"}
    response = client.post("/dashboard/login", data=data, headers=headers, follow_redirects=False)
    return response.status_code


def test_wrong_dashboard_sign_ins_are_refused_after_the_limit(
    client: TestClient, ledger: Ledger
) -> None:
    assert [wrong_sign_in(client, "10.0.0.4") for _ in range(LIMIT)] == [401] * LIMIT
    assert wrong_sign_in(client, "10.0.0.4") == 429
    good = ledger.create_key(None, scope="operator").secret
    assert get(client, "10.0.0.5", good)[0] == 200
    assert wrong_sign_in(client, "10.0.0.5") == 401
