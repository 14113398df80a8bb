"""Rate limits: a token bucket per API key, from the settings or from the account's plan.

A refused request answers 429 `rate_limited` with `Retry-After` and the `RateLimit-*`
headers, writes nothing and costs other keys nothing; the bucket refills at its rate. With
Redis, every app instance (every process) draws from one bucket per key.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Iterator

import httpx2
import pytest
import redis
from fastapi.testclient import TestClient
from tests.api.conftest import PLAN, AccountKeys, Api, bearer
from tests.api.state import snapshot

from creditbook.api import ratelimit
from creditbook.api.app import create_app
from creditbook.api.ratelimit import RedisLimiter
from creditbook.settings import Settings


class FakeTime:
    """Stands in for the `time` module of the in-process limiter: time moves when told."""

    def __init__(self) -> None:
        # Whole seconds (exact sums), not before the real clock (earlier buckets stay valid).
        self.now = float(math.ceil(time.monotonic()))

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def bucket_time(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    fake = FakeTime()
    monkeypatch.setattr(ratelimit, "time", fake)
    return fake


def limited_app(api: Api, rate: float, burst: int) -> TestClient:
    settings = Settings(rate_limit_per_s=rate, rate_limit_burst=burst)
    return TestClient(create_app(api.ledger, settings=settings))


def balance(client: TestClient, key: str, account_id: str = "acct-a") -> httpx2.Response:
    return client.get(f"/v1/accounts/{account_id}/balance", headers=bearer(key))


def assert_allowed(response: httpx2.Response, limit: int, remaining: int) -> None:
    assert response.status_code == 200, response.text
    assert response.headers["ratelimit-limit"] == str(limit)
    assert response.headers["ratelimit-remaining"] == str(remaining)
    assert int(response.headers["ratelimit-reset"]) >= 0
    assert "retry-after" not in response.headers


def assert_limited(response: httpx2.Response, limit: int, retry_after: int | None = None) -> int:
    """A 429 with its headers; returns Retry-After."""
    assert response.status_code == 429, response.text
    body = response.json()
    assert set(body) == {"detail", "code"} and body["code"] == "rate_limited", body
    (retry,) = response.headers.get_list("retry-after")  # once, not once per layer
    assert int(retry) >= 1
    if retry_after is not None:
        assert int(retry) == retry_after
    assert response.headers["ratelimit-limit"] == str(limit)
    assert response.headers["ratelimit-remaining"] == "0"
    assert int(response.headers["ratelimit-reset"]) >= int(retry)
    return int(retry)


def test_settings_limit_answers_429_per_key_and_refills(api: Api, bucket_time: FakeTime) -> None:
    a, b = api.account("acct-a"), api.account("acct-b")
    rate, burst = 0.5, 3  # a token every 2 s, 3 at most
    with limited_app(api, rate, burst) as client:
        for remaining in (2, 1, 0):
            response = balance(client, a.write)
            assert_allowed(response, burst, remaining)
            # Seconds until the bucket is full again.
            assert response.headers["ratelimit-reset"] == str(math.ceil((burst - remaining) / rate))
        # The next request, a write, is refused and writes nothing.
        before = snapshot(api.ledger)
        refused = client.post(
            "/v1/accounts/acct-a/charges", json={"amount": 1}, headers=bearer(a.write)
        )
        assert_limited(refused, burst, retry_after=2)
        assert refused.headers["ratelimit-reset"] == "6"
        assert snapshot(api.ledger) == before
        assert_limited(balance(client, a.write), burst, retry_after=2)

        # Other keys have buckets of their own: A's read key, B's key, the operator.
        assert_allowed(balance(client, a.read), burst, 2)
        assert_allowed(balance(client, b.write, "acct-b"), burst, 2)
        assert_allowed(balance(client, api.operator_key), burst, 2)

        # The bucket refills at its rate, up to its size.
        bucket_time.advance(1.5)
        assert_limited(balance(client, a.write), burst, retry_after=1)
        bucket_time.advance(0.5)
        assert_allowed(balance(client, a.write), burst, 0)
        bucket_time.advance(3600)
        assert_allowed(balance(client, a.write), burst, 2)


def test_unauthenticated_requests_take_no_token(api: Api, bucket_time: FakeTime) -> None:
    a = api.account("acct-a")
    with limited_app(api, 1, 1) as client:
        for _ in range(3):
            assert balance(client, a.write[:-1] + "x").status_code == 401
        assert_allowed(balance(client, a.write), 1, 0)


def test_plan_limit_overrides_the_default(api: Api, bucket_time: FakeTime) -> None:
    throttled = {**PLAN, "rate_limit_per_s": 1, "rate_limit_burst": 2}
    api.ok("PUT", "/v1/plans/throttled", json=throttled)
    api.ok("PUT", "/v1/plans/steady", json={**PLAN, "rate_limit_per_s": 3})
    slow: AccountKeys = api.account("acct-a", plan_id="throttled")
    steady = api.account("acct-s", plan_id="steady")
    other = api.account("acct-b")
    # The app's default (the `api` fixture's) is generous; the plan's is not.
    for remaining in (1, 0):
        assert_allowed(balance(api.client, slow.write), 2, remaining)
    assert_limited(balance(api.client, slow.write), 2, retry_after=1)
    assert_allowed(balance(api.client, slow.read), 2, 1)  # another key of the same account
    default_burst = api.client.app.state.plan_limits.default[1]  # type: ignore[attr-defined]
    response = balance(api.client, other.write, "acct-b")
    assert_allowed(response, default_burst, default_burst - 1)
    # Without a burst of its own, a plan's bucket holds one second of its rate.
    for remaining in (2, 1, 0):
        assert_allowed(balance(api.client, steady.write, "acct-s"), 3, remaining)
    assert_limited(balance(api.client, steady.write, "acct-s"), 3, retry_after=1)
    bucket_time.advance(1)
    assert_allowed(balance(api.client, slow.write), 2, 0)


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own on the shared Redis, cleaned up after."""
    prefix = f"creditbook-test:{secrets.token_hex(8)}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def test_redis_limit_holds_across_two_app_instances(
    api: Api, redis_url: str, redis_prefix: str
) -> None:
    a, b = api.account("acct-a"), api.account("acct-b")
    rate, burst = 0.5, 4
    settings = Settings(rate_limit_per_s=rate, rate_limit_burst=burst)
    # Two instances with limiters of their own on one Redis, as two processes would be.
    apps = [
        create_app(api.ledger, settings=settings, limiter=RedisLimiter(redis_url, redis_prefix))
        for _ in range(2)
    ]
    with TestClient(apps[0]) as one, TestClient(apps[1]) as two:
        clients = [one, two]
        before = snapshot(api.ledger)
        started = time.monotonic()
        for taken in range(burst):
            assert_allowed(balance(clients[taken % 2], a.write), burst, burst - 1 - taken)
        for client in clients:
            refused = client.post(
                "/v1/accounts/acct-a/charges", json={"amount": 1}, headers=bearer(a.write)
            )
            retry = assert_limited(refused, burst)
        assert time.monotonic() - started < 1 / rate, "too slow to see the bucket empty"
        assert snapshot(api.ledger) == before
        # Other keys are untouched, on both instances.
        assert_allowed(balance(two, b.write, "acct-b"), burst, burst - 1)
        assert_allowed(balance(one, a.read), burst, burst - 1)
        # After Retry-After, one token has come back: one request, on either instance.
        time.sleep(retry + 0.05)
        assert balance(two, a.write).status_code == 200
        assert_limited(balance(one, a.write), burst)
    # Each instance closed its Redis connection when it stopped.


def test_redis_limiter_from_settings(api: Api, redis_url: str) -> None:
    app = create_app(api.ledger, settings=Settings(redis_url=redis_url))
    with TestClient(app) as client:
        assert isinstance(app.state.limiter, RedisLimiter)
        assert client.get("/healthz").status_code == 200
