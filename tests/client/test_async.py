"""`AsyncClient` does what `Client` does: the same resources, retries, errors and pages."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI
from tests.api.conftest import PLAN, RATE_CARD
from tests.client.conftest import AsyncRecorder, Sleeps, make_async_client, run

from creditbook.client import (
    AsyncClient,
    AsyncPager,
    ConflictError,
    InsufficientCreditsError,
    KeySecretLostError,
    NotFoundError,
)


async def _setup(client: AsyncClient) -> None:
    await client.plans.put("pro", **PLAN)
    await client.rate_cards.put("maps", **RATE_CARD)
    await client.accounts.create(plan_id="pro", account_id="acme")


def test_every_resource(app: FastAPI, operator_key: str, sleeps: Sleeps) -> None:
    async def scenario() -> None:
        async with make_async_client(app, operator_key, sleeps) as client:
            assert (await client.health()).status == "ok"
            await _setup(client)
            assert [p.plan_id async for p in client.plans.list()] == ["pro"]
            assert [c.rate_card_id async for c in client.rate_cards.list()] == ["maps"]
            assert (await client.accounts.get("acme")).plan_id == "pro"
            updated = await client.accounts.update("acme", name="Acme", metadata={"a": 1})
            assert (updated.name, updated.metadata) == ("Acme", {"a": 1})
            key = await client.keys.create("acme", scope="write", user_id="u1")
            assert key.secret is not None

            await client.grants.create("acme", amount=50, source="top_up")
            charge = await client.charges.create("acme", amount="1.5", module="lasso")
            batch = await client.charges.batch([{"account_id": "acme", "amount": 1}])
            assert batch.data[0].ok
            refund = await client.charges.refund(charge.charge_id)
            assert refund.amount == charge.amount
            quote = await client.charges.estimate("acme", rate_card_id="maps", rows=2)
            assert quote.total == 8

            started = await client.runs.start(account_id="acme", rate_card_id="maps", hold=80)
            await client.runs.report_results(
                started.run_id,
                rows_kept=20,
                functions={"get_phone_numbers": {"attempts": 20, "successes": 6}},
            )
            finished = await client.runs.finish(started.run_id)
            assert finished.credits == 116
            assert (await client.runs.get(started.run_id)).status == "finished"
            assert (await client.runs.credits(started.run_id)).total_credits == 116
            assert [r.run_id async for r in client.runs.list("acme")] == [started.run_id]

            balance = await client.credits.balance("acme")
            assert balance.pools["credits"].available == 150 - 1 - 116
            past = await client.credits.balance("acme", at=datetime(2024, 1, 1, tzinfo=UTC))
            assert past.account_id == "acme"
            history = [t async for t in client.credits.transactions("acme")]
            assert {"REFUND", "TOP_UP"} <= {t.type for t in history}
            assert sum(t.amount for t in history) == balance.pools["credits"].available
            today = balance.at.date()
            stats = await client.credits.stats({"from": today, "to": today}, account_id="acme")
            assert stats.total == 1 + 116
            # As the sync client: `from_` defaults to the 30 days up to `to`.
            assert (await client.credits.stats(to=today, account_id="acme")).total == 1 + 116
            with pytest.raises(TypeError, match="a float"):
                await client.charges.create("acme", amount=0.5)
            assert (await client.ledger.verify()).ok
            revoked = await client.keys.revoke(key.key_id)
            assert revoked.revoked_at is not None

    run(scenario())


def test_pages(app: FastAPI, operator_key: str, sleeps: Sleeps) -> None:
    async def scenario() -> None:
        async with make_async_client(app, operator_key, sleeps) as client:
            await _setup(client)
            for n in range(4):
                await client.accounts.create(plan_id="pro", account_id=f"b-{n}")
            pager = client.accounts.list(limit=2)
            assert isinstance(pager, AsyncPager)
            ids = [a.account_id async for a in pager]
            assert ids == ["acme", "b-0", "b-1", "b-2", "b-3"]
            first = await pager.first_page()
            assert (first.has_more, first.next_cursor) == (True, "b-0")
            assert await pager.page is first  # fetched once, as the sync pager's `.page`
            fresh = client.accounts.list(limit=2)
            assert (await fresh.page).data == first.data
            assert await fresh.first_page() is await fresh.page
            sizes = [len(page.data) async for page in pager.pages()]
            assert sizes == [2, 2, 1]

            for amount in (1, 2, 3):
                await client.charges.create("acme", amount=amount)
            spent = client.credits.transactions("acme", type="DEDUCTION", limit=1)
            assert [t.amount async for t in spent] == [-3, -2, -1]

            started = []
            for _ in range(3):
                started_run = await client.runs.start(account_id="acme", rate_card_id="maps")
                await client.runs.finish(started_run.run_id)
                started.append(started_run.run_id)
            runs = client.runs.list("acme", limit=2)
            assert sorted([r.run_id async for r in runs]) == sorted(started)
            assert [len(page.data) async for page in runs.pages()] == [2, 1]

    run(scenario())


def test_a_lost_answer_is_billed_once(app: FastAPI, operator_key: str, sleeps: Sleeps) -> None:
    async def scenario() -> None:
        flaky = AsyncRecorder(httpx.ASGITransport(app=app))
        async with make_async_client(app, operator_key, sleeps, transport=flaky) as client:
            await _setup(client)
            flaky.drop = 1
            flaky.requests.clear()
            charge = await client.charges.create("acme", amount=9)
            assert len(flaky.requests) == 2 and len(set(flaky.keys())) == 1
            balance = await client.credits.balance("acme")
            assert balance.pools["credits"].available == 91
            history = [t async for t in client.credits.transactions("acme", type="DEDUCTION")]
            assert [(t.transaction_id, t.amount) for t in history] == [(charge.charge_id, -9)]
            flaky.drop = 1
            try:
                await client.keys.create("acme")
            except KeySecretLostError as lost:
                assert (await client.keys.revoke(lost.key_id)).revoked_at is not None
            else:
                raise AssertionError("a replayed key creation has no secret to give")

    run(scenario())
    assert len(sleeps.delays) == 2


def test_retry_after_is_honoured(app: FastAPI, operator_key: str, sleeps: Sleeps) -> None:
    async def scenario() -> None:
        limited = AsyncRecorder(
            httpx.ASGITransport(app=app),
            refuse=[(429, {"Retry-After": "2"}), (503, {"Retry-After": "0"})],
        )
        async with make_async_client(app, operator_key, sleeps, transport=limited) as client:
            assert (await client.health()).status == "ok"
            assert len(limited.requests) == 3

    run(scenario())
    assert sleeps.delays == [2.0, 0.0]


def test_errors(app: FastAPI, operator_key: str, sleeps: Sleeps) -> None:
    async def scenario() -> None:
        async with make_async_client(app, operator_key, sleeps) as client:
            await _setup(client)
            with pytest.raises(InsufficientCreditsError) as poor:
                await client.charges.create("acme", amount=1_000)
            assert poor.value.code == "insufficient_credits" and poor.value.request_id
            with pytest.raises(NotFoundError):
                await client.runs.get("0" * 32)
            await client.charges.create("acme", amount=1, idempotency_key="same")
            with pytest.raises(ConflictError):
                await client.charges.create("acme", amount=2, idempotency_key="same")
            with pytest.raises(ValueError, match="account_id is required"):
                await client.credits.balance()

    run(scenario())
    assert sleeps.delays == []
