"""The SDK over real HTTP: uvicorn on a free loopback port, sync and async clients."""

from __future__ import annotations

import socket

import httpx
import pytest
from tests.api.conftest import PLAN, RATE_CARD
from tests.client.conftest import LiveServer, Recorder, Sleeps, run

from creditbook.client import (
    APIConnectionError,
    AsyncClient,
    AuthenticationError,
    Client,
    InsufficientCreditsError,
)


def test_a_day_of_usage(live_server: LiveServer, operator_key: str, sleeps: Sleeps) -> None:
    with Client(api_key=operator_key, base_url=live_server.base_url, sleep=sleeps) as operator:
        assert operator.health().status == "ok"
        operator.plans.put("pro", **PLAN)
        operator.rate_cards.put("maps", **RATE_CARD)
        operator.accounts.create(plan_id="pro", account_id="acme")
        operator.grants.create("acme", amount=100, source="top_up")
        secret = operator.keys.create("acme", scope="write", user_id="u1").secret
        assert secret is not None

    with Client(
        api_key=secret, base_url=live_server.base_url, account_id="acme", sleep=sleeps
    ) as own:
        run_ = own.runs.start(rate_card_id="maps", hold=120)
        own.runs.report_results(
            run_.run_id,
            rows_kept=20,
            functions={"get_phone_numbers": {"attempts": 20, "successes": 6}},
        )
        assert own.runs.finish(run_.run_id).credits == 116
        assert own.credits.balance().pools["credits"].available == 200 - 116
        with pytest.raises(InsufficientCreditsError):
            own.charges.create(amount=85)
        stats_day = own.credits.balance().at.date()
        assert own.credits.stats(from_=stats_day, to=stats_day).by_user[0].key == "u1"
    assert sleeps.delays == []


def test_a_lost_answer_over_a_real_connection(
    live_server: LiveServer, operator_key: str, sleeps: Sleeps
) -> None:
    """The server commits the charge; the client loses the answer and retries: one charge."""
    flaky = Recorder(httpx.HTTPTransport(), failure=httpx.RemoteProtocolError)
    with Client(
        api_key=operator_key, base_url=live_server.base_url, transport=flaky, sleep=sleeps
    ) as client:
        client.plans.put("pro", **PLAN)
        client.accounts.create(plan_id="pro", account_id="acme")
        flaky.drop = 1
        charge = client.charges.create("acme", amount=12)
        keys = flaky.keys()[-2:]
        assert keys[0] is not None and keys[0] == keys[1]
        assert client.credits.balance("acme").pools["credits"].available == 88
        history = list(client.credits.transactions("acme", type="DEDUCTION"))
        assert [(t.transaction_id, t.amount) for t in history] == [(charge.charge_id, -12)]
    assert len(sleeps.delays) == 1


def test_async_client(live_server: LiveServer, operator_key: str, sleeps: Sleeps) -> None:
    async def scenario() -> None:
        async with AsyncClient(
            api_key=operator_key, base_url=live_server.base_url, sleep=sleeps.asleep
        ) as client:
            await client.plans.put("pro", **PLAN)
            for n in range(5):
                await client.accounts.create(plan_id="pro", account_id=f"a-{n}")
            assert [a.account_id async for a in client.accounts.list(limit=2)] == [
                f"a-{n}" for n in range(5)
            ]
            await client.charges.create("a-0", amount=3)
            assert (await client.credits.balance("a-0")).pools["credits"].available == 97

        async with AsyncClient(api_key="cb_wrong", base_url=live_server.base_url) as stranger:
            with pytest.raises(AuthenticationError) as raised:
                await stranger.credits.balance("a-0")
            assert raised.value.request_id

    run(scenario())


def test_nobody_listening(sleeps: Sleeps) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again before the client connects
    client = Client(base_url=f"http://127.0.0.1:{port}", sleep=sleeps, timeout=5)
    with client, pytest.raises(APIConnectionError):
        client.health()
    assert len(sleeps.delays) == 2
