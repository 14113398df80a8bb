"""The charge endpoint runs on the event loop: a charge whose key is in memory sends nothing to
a worker thread (it waits for its group commit without one) and answers as before; only a
refusal's `balance.depleted`, written after it, takes a thread."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio.to_thread
import pytest
from tests.api.conftest import Api, bearer


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The functions anything in the process sent to a worker thread."""
    sent: list[str] = []
    real = anyio.to_thread.run_sync

    async def counting(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        called = getattr(function, "func", function)  # run_in_threadpool sends a partial
        sent.append(getattr(called, "__name__", repr(called)))
        return await real(function, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    return sent


def test_a_charge_takes_no_worker_thread(api: Api, hops: list[str]) -> None:
    keys = api.account("loop-a")
    path = "/v1/accounts/loop-a/charges"
    headers = bearer(keys.write)
    assert api.client.post(path, json={"amount": 1}, headers=headers).status_code == 201
    hops.clear()  # the first read the key from the database
    answers = [api.client.post(path, json={"amount": 2}, headers=headers) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [201, 201, 201]
    assert len({answer.json()["charge_id"] for answer in answers}) == 3
    assert hops == []
    balance = api.client.get("/v1/accounts/loop-a/balance", headers=bearer(keys.read)).json()
    assert balance["pools"]["credits"]["available"] == 100 - 1 - 3 * 2


def test_a_refused_charge_records_the_depletion_on_a_thread(api: Api, hops: list[str]) -> None:
    keys = api.account("loop-b")
    path = "/v1/accounts/loop-b/charges"
    headers = bearer(keys.write)
    assert api.client.post(path, json={"amount": 60}, headers=headers).status_code == 201
    hops.clear()
    refused = api.client.post(path, json={"amount": 60}, headers=headers)
    assert (refused.status_code, refused.json()["code"]) == (402, "insufficient_credits")
    assert hops == ["record_refusal"]
    events = api.ok("GET", "/v1/events", params={"account_id": "loop-b"})["data"]
    assert [event["type"] for event in events] == ["balance.depleted"]
