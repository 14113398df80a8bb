"""The SDK against the real app: in-process on each database, or a live uvicorn server.

In-process, the sync `Client` talks to the app through an `httpx.MockTransport` that
forwards each request to a Starlette `TestClient`; the `AsyncClient` uses
`httpx.ASGITransport`. Transport wrappers here inject faults: answers lost after the server
handled the request, 429s and 5xx before it. No test sleeps: clients get a recording sleep.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.api.conftest import PLAN, RATE_CARD

from creditbook import Ledger
from creditbook.api.app import create_app
from creditbook.client import AsyncClient, Client
from creditbook.settings import Settings

BASE_URL = "http://testserver"
SERVER_START_TIMEOUT_S = 20.0


@pytest.fixture
def app(ledger: Ledger) -> FastAPI:
    # Generous limits: the rate-limit tests set their own plan limits.
    return create_app(ledger, settings=Settings(rate_limit_per_s=10_000, rate_limit_burst=10_000))


@pytest.fixture
def operator_key(ledger: Ledger) -> str:
    secret = ledger.create_key(None, scope="operator").secret
    assert secret is not None
    return secret


@pytest.fixture
def test_client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


class Forward(httpx.BaseTransport):
    """Hands each request to the app (through a TestClient) and its answer back."""

    def __init__(self, test_client: TestClient) -> None:
        self.test_client = test_client

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        answer = self.test_client.request(
            request.method, str(request.url), headers=request.headers, content=request.read()
        )
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)


class Recorder(httpx.BaseTransport):
    """Wraps a transport: records requests, injects faults.

    `drop` answers are lost after the server handled them (it raises `failure`, as when a
    connection breaks while the answer is on its way); `refuse` is a list of (status,
    headers) answered before the server sees the request.
    """

    def __init__(
        self,
        inner: httpx.BaseTransport | None = None,
        *,
        drop: int = 0,
        failure: type[httpx.TransportError] = httpx.ReadError,
        refuse: list[tuple[int, dict[str, str]]] | None = None,
    ) -> None:
        self.inner = inner
        self.drop = drop
        self.failure = failure
        self.refuse = list(refuse or [])
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.refuse:
            status, headers = self.refuse.pop(0)
            body = {"detail": "injected", "code": "rate_limited" if status == 429 else "error"}
            return httpx.Response(status, headers=headers, json=body)
        assert self.inner is not None
        response = self.inner.handle_request(request)
        response.read()
        if self.drop > 0:
            self.drop -= 1
            response.close()
            raise self.failure("connection lost while reading the answer", request=request)
        return response

    def keys(self) -> list[str | None]:
        return [r.headers.get("Idempotency-Key") for r in self.requests]

    def close(self) -> None:
        if self.inner is not None:
            self.inner.close()


class AsyncRecorder(httpx.AsyncBaseTransport):
    """`Recorder` for the async client."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        *,
        drop: int = 0,
        refuse: list[tuple[int, dict[str, str]]] | None = None,
    ) -> None:
        self.inner = inner
        self.drop = drop
        self.refuse = list(refuse or [])
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.refuse:
            status, headers = self.refuse.pop(0)
            return httpx.Response(status, headers=headers, json={"detail": "injected"})
        response = await self.inner.handle_async_request(request)
        await response.aread()
        if self.drop > 0:
            self.drop -= 1
            await response.aclose()
            raise httpx.RemoteProtocolError("server disconnected", request=request)
        return response

    def keys(self) -> list[str | None]:
        return [r.headers.get("Idempotency-Key") for r in self.requests]

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass
class Sleeps:
    """A sleep that records instead of waiting."""

    delays: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)

    async def asleep(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


MakeClient = Callable[..., Client]


@pytest.fixture
def make_client(test_client: TestClient, operator_key: str, sleeps: Sleeps) -> Iterator[MakeClient]:
    """`make_client(key=..., through=Recorder(...))`: a Client on the app, closed after."""
    made: list[Client] = []

    def make(
        *,
        key: str | None = None,
        through: Recorder | None = None,
        **options: Any,
    ) -> Client:
        transport: httpx.BaseTransport = Forward(test_client)
        if through is not None:
            through.inner = transport
            transport = through
        options.setdefault("sleep", sleeps)
        client = Client(
            api_key=key or operator_key, base_url=BASE_URL, transport=transport, **options
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(make_client: MakeClient) -> Client:
    """An operator client on the app with the `pro` plan and `maps` rate card."""
    operator = make_client()
    operator.plans.put("pro", **PLAN)
    operator.rate_cards.put("maps", **RATE_CARD)
    return operator


def make_async_client(app: FastAPI, key: str, sleeps: Sleeps, **options: Any) -> AsyncClient:
    inner = options.pop("transport", None) or httpx.ASGITransport(app=app)
    return AsyncClient(
        api_key=key, base_url=BASE_URL, transport=inner, sleep=sleeps.asleep, **options
    )


def run(coroutine: Any) -> Any:
    """Run a test's coroutine (no async plugin needed)."""
    return asyncio.run(coroutine)


# -- a live server ---------------------------------------------------------------------------


@dataclass
class LiveServer:
    base_url: str
    server: uvicorn.Server
    thread: threading.Thread


def _bound_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.fixture
def live_server(app: FastAPI) -> Iterator[LiveServer]:
    """uvicorn on a free loopback port in a thread, serving the test's app and ledger."""
    sock = _bound_socket()
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while not server.started:
        assert thread.is_alive(), "the server stopped while starting"
        assert time.monotonic() < deadline, "the server did not start in time"
        time.sleep(0.01)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", server, thread)
    finally:
        server.should_exit = True
        thread.join(SERVER_START_TIMEOUT_S)
        sock.close()
