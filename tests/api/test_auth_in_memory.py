"""Authentication runs on the event loop when all it needs is in memory, and on a worker
thread only when it must read the database or ask a shared limiter; either way it answers
the same: the key, its revocation, its rate limit."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.api.conftest import Api, bearer

from creditbook.api import deps
from creditbook.api.app import create_app
from creditbook.api.ratelimit import Decision
from creditbook.engine import remembered
from creditbook.engine.ledger import Ledger
from creditbook.settings import Settings


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The functions authentication sent to a worker thread."""
    sent: list[str] = []
    real = deps.run_in_threadpool

    async def counting(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        sent.append(function.__name__)
        return await real(function, *args, **kwargs)

    monkeypatch.setattr(deps, "run_in_threadpool", counting)
    return sent


def test_a_key_seen_lately_is_answered_without_a_thread(api: Api, hops: list[str]) -> None:
    keys = api.account("mem-a")
    path = "/v1/accounts/mem-a/balance"
    answers = [api.client.get(path, headers=bearer(keys.read)).status_code for _ in range(3)]
    assert answers == [200, 200, 200]
    assert hops == ["principal"]  # the first read the key and the plan's limits


def test_a_revoked_key_is_refused_at_once(api: Api, hops: list[str]) -> None:
    keys = api.account("mem-b")
    path = "/v1/accounts/mem-b/balance"
    assert api.client.get(path, headers=bearer(keys.read)).status_code == 200
    key_id = api.client.get("/v1/api_keys/current", headers=bearer(keys.read)).json()["key_id"]
    api.ok("DELETE", f"/v1/api_keys/{key_id}")
    refused = api.client.get(path, headers=bearer(keys.read))
    assert (refused.status_code, refused.json()["code"]) == (403, "key_revoked")
    assert hops.count("principal") == 2  # the revocation made this process forget the key


def test_the_rate_limit_holds_in_memory(ledger: Ledger, hops: list[str]) -> None:
    settings = Settings(rate_limit_per_s=0.001, rate_limit_burst=3)
    app = create_app(ledger, settings=settings)
    secret = ledger.create_key(None, scope="operator").secret
    assert secret is not None
    with TestClient(app) as client:
        answers = [client.get("/v1/plans", headers=bearer(secret)).status_code for _ in range(5)]
    assert answers == [200, 200, 200, 429, 429]
    assert hops == ["principal"]


class SharedLimiter:
    """A limiter outside this process (as Redis is): every request takes its thread."""

    def take(self, key: str, rate: float, burst: int) -> Decision:
        return Decision(allowed=True, limit=burst, remaining=burst, reset_s=0, retry_after_s=0)

    def status(self) -> str:
        return "redis"


@pytest.fixture
def shared(ledger: Ledger) -> Iterator[tuple[TestClient, str]]:
    app = create_app(ledger, settings=Settings(), limiter=SharedLimiter())
    secret = ledger.create_key(None, scope="operator").secret
    assert secret is not None
    with TestClient(app) as client:
        yield client, secret


def test_a_shared_limiter_is_asked_from_a_thread(
    shared: tuple[TestClient, str], hops: list[str]
) -> None:
    client, secret = shared
    answers = [client.get("/v1/plans", headers=bearer(secret)).status_code for _ in range(3)]
    assert answers == [200, 200, 200]
    assert hops == ["principal"] * 3


def test_a_wrong_secret_for_a_remembered_key_is_refused(api: Api, hops: list[str]) -> None:
    keys = api.account("mem-c")
    path = "/v1/accounts/mem-c/balance"
    assert api.client.get(path, headers=bearer(keys.read)).status_code == 200
    prefix, key_id, secret, check = keys.read.split("_")
    forged = "_".join([prefix, key_id, secret[::-1], check])
    refused = api.client.get(path, headers=bearer(forged))
    assert refused.status_code == 401
    assert hops == ["principal", "principal"]  # the forged token found nothing in memory


def _refreshed_in_background() -> None:
    """Wait until the background reads the app started are done."""
    deadline = time.monotonic() + 10.0
    while deps._REFRESHING and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not deps._REFRESHING


def test_a_key_due_again_is_answered_and_looked_up_in_the_background(
    api: Api, hops: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A remembered key falls due before it expires (here: at once). The request that finds
    it due is answered from memory and its key looked up again on a thread, so a
    revocation by another process shows here within the key's lifetime, and no request
    waits for the lookup."""
    monkeypatch.setattr(remembered, "REFRESH_FROM", 0.0)
    monkeypatch.setattr(remembered, "REFRESH_TO", 0.0)
    keys = api.account("mem-d")
    path = "/v1/accounts/mem-d/balance"
    assert api.client.get(path, headers=bearer(keys.read)).status_code == 200
    assert hops == ["principal"]
    assert api.client.get(path, headers=bearer(keys.read)).status_code == 200
    _refreshed_in_background()
    assert hops == ["principal", "refresh_key", "refresh"]  # the key, the plan's limits
    key_id = api.client.get("/v1/api_keys/current", headers=bearer(keys.read)).json()["key_id"]
    _refreshed_in_background()
    elsewhere = Ledger(api.ledger.engine, api.ledger.clock)  # another process's revocation
    elsewhere.revoke_key(key_id)
    assert api.client.get(path, headers=bearer(keys.read)).status_code == 200  # remembered
    _refreshed_in_background()  # ... and looked up again: revoked, so forgotten
    refused = api.client.get(path, headers=bearer(keys.read))
    assert (refused.status_code, refused.json()["code"]) == (403, "key_revoked")
