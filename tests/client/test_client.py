"""What `BaseClient` gives both clients: settings, the default account and when each client
learns it, and the public names of the environment variables."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from tests.client.conftest import (
    AsyncRecorder,
    MakeClient,
    Recorder,
    Sleeps,
    make_async_client,
    run,
)

from creditbook.cli import target
from creditbook.client import AsyncClient, Client, config

CURRENT_KEY = "/v1/api_keys/current"


def _paths(requests: list[httpx.Request]) -> list[str]:
    return [request.url.path for request in requests]


def test_the_environment_variables_have_public_names() -> None:
    assert (config.API_KEY_ENV, config.BASE_URL_ENV, config.ACCOUNT_ID_ENV) == (
        "CREDITBOOK_API_KEY",
        "CREDITBOOK_BASE_URL",
        "CREDITBOOK_ACCOUNT_ID",
    )
    # The CLI reads the SDK's variables, under the SDK's names.
    assert target.API_KEY_ENV is config.API_KEY_ENV
    assert target.ACCOUNT_ID_ENV is config.ACCOUNT_ID_ENV


def test_both_clients_resolve_settings_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(config.BASE_URL_ENV, "http://creditbook.internal/")
    monkeypatch.setenv(config.ACCOUNT_ID_ENV, "acme")
    with Client(max_retries=0) as sync_client:
        async_client = AsyncClient(max_retries=0)
        assert sync_client._config == async_client._config
        assert (async_client.base_url, async_client.account_id, async_client.max_retries) == (
            "http://creditbook.internal",
            "acme",
            0,
        )
        run(async_client.close())
    with pytest.raises(ValueError, match="max_retries"):
        AsyncClient(max_retries=config.MAX_RETRIES_LIMIT + 1)


def test_a_sync_list_learns_its_account_at_the_call(
    client: Client, make_client: MakeClient
) -> None:
    """The sync client asks for the key's account when the list is made, once: an operator
    key that names no account fails there, before the limit is even checked."""
    client.accounts.create(plan_id="pro", account_id="acme")
    secret = client.keys.create("acme", scope="read").secret
    assert secret is not None
    recorder = Recorder()
    own = make_client(key=secret, through=recorder)
    runs = own.runs.list()
    history = own.credits.transactions()
    assert _paths(recorder.requests) == [CURRENT_KEY]
    assert runs.page.data == [] and len(list(history)) == 1
    assert _paths(recorder.requests).count(CURRENT_KEY) == 1

    with pytest.raises(ValueError, match="operator key"):
        client.runs.list(limit=0)
    with pytest.raises(ValueError, match="operator key"):
        client.credits.transactions()


def test_an_async_list_learns_its_account_at_the_first_page(
    app: FastAPI, operator_key: str, sleeps: Sleeps
) -> None:
    """A list call is not awaited: the async pager asks for the account when it fetches."""

    async def scenario() -> None:
        recorder = AsyncRecorder(httpx.ASGITransport(app=app))
        async with make_async_client(app, operator_key, sleeps, transport=recorder) as client:
            with pytest.raises(ValueError, match="limit"):
                client.runs.list(limit=0)
            runs = client.runs.list()
            history = client.credits.transactions()
            assert recorder.requests == []
            with pytest.raises(ValueError, match="operator key"):
                await runs.first_page()
            with pytest.raises(ValueError, match="operator key"):
                await history.first_page()
            assert _paths(recorder.requests) == [CURRENT_KEY, CURRENT_KEY]

    run(scenario())
