"""`Client` and `AsyncClient`: httpx underneath, retries and idempotency on top."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType

import httpx

from creditbook.client import _async_resources as async_resources
from creditbook.client import _calls as calls
from creditbook.client import _resources as resources
from creditbook.client._base import (
    DEFAULT_MAX_RETRIES,
    Call,
    Config,
    ModelT,
    error_for,
    own_account,
    retry_delay,
)
from creditbook.client.errors import APIConnectionError, APITimeoutError, CreditbookAPIError
from creditbook.wire import HealthOut

# Failures after which the request may or may not have reached the server; a retry is
# safe because it carries the first try's idempotency key. Others (a malformed URL, an
# unsupported scheme) would fail the same way again.
RETRYABLE_TRANSPORT_ERRORS = (httpx.NetworkError, httpx.TimeoutException, httpx.RemoteProtocolError)


def _transport_error(error: httpx.TransportError) -> APIConnectionError:
    message = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    failure: APIConnectionError
    if isinstance(error, httpx.TimeoutException):
        failure = APITimeoutError(f"request timed out ({message})")
    else:
        failure = APIConnectionError(f"connection failed ({message})")
    failure.__cause__ = error
    return failure


def _outcome(
    response: httpx.Response | None, error: httpx.TransportError | None
) -> CreditbookAPIError:
    if response is not None:
        return error_for(response)
    assert error is not None
    return _transport_error(error)


def _delay(
    config: Config, retry: int, response: httpx.Response | None, error: Exception | None
) -> float | None:
    """Seconds before the next try, or None to give up now."""
    if retry >= config.max_retries:
        return None
    if error is not None and not isinstance(error, RETRYABLE_TRANSPORT_ERRORS):
        return None
    return retry_delay(retry, response)


class Client:
    """The creditbook API, synchronously.

    Arguments (each falls back to the environment, then a default):
        api_key: `CREDITBOOK_API_KEY`; sent as `Authorization: Bearer <key>`.
        base_url: `CREDITBOOK_BASE_URL`, else `http://127.0.0.1:8000`.
        account_id: `CREDITBOOK_ACCOUNT_ID`; the account that account-scoped calls
            (balance, transactions, stats, charges, estimates, runs) use when they name none.
            Unset, an account key's calls use its own account (`keys.current()`, asked once).
        timeout: seconds (or an `httpx.Timeout`) for each try; 30 s by default.
        max_retries: retries after the first try on connection errors, 408, 429 and 5xx
            (2 by default, at most 10).
        transport: an httpx transport (tests: `httpx.MockTransport`, a wrapper, ...).
        headers: extra headers for every request.
        sleep: how to wait between tries (tests pass a recorder).
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        account_id: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        transport: httpx.BaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._config = Config.resolve(
            api_key=api_key,
            base_url=base_url,
            account_id=account_id,
            timeout=timeout,
            max_retries=max_retries,
            headers=headers,
        )
        self._sleep = sleep
        self._own_account: str | None = None
        self._http = httpx.Client(
            base_url=self._config.base_url,
            headers=self._config.default_headers(),
            timeout=self._config.timeout,
            transport=transport,
        )
        self.plans = resources.Plans(self)
        self.rate_cards = resources.RateCards(self)
        self.accounts = resources.Accounts(self)
        self.keys = resources.Keys(self)
        self.grants = resources.Grants(self)
        self.charges = resources.Charges(self)
        self.runs = resources.Runs(self)
        self.credits = resources.AccountCredits(self)
        self.ledger = resources.LedgerResource(self)

    @property
    def base_url(self) -> str:
        return self._config.base_url

    @property
    def account_id(self) -> str | None:
        return self._config.account_id

    @property
    def max_retries(self) -> int:
        return self._config.max_retries

    def health(self) -> HealthOut:
        """`GET /healthz`: the service and its database answer (no key needed)."""
        return self._send(calls.health())

    def _account(self, account_id: str | None) -> str:
        """The account a call is about: the one it names, the client's default, or the
        key's own account (asked once, then remembered)."""
        if account_id:
            return account_id
        if self._config.account_id:
            return self._config.account_id
        if self._own_account is None:
            self._own_account = own_account(self._send(calls.current_key()))
        return self._own_account

    def _send(self, call: Call[ModelT]) -> ModelT:
        return call.parse(self._request(call))

    def _request(self, call: Call[ModelT]) -> httpx.Response:
        request = self._http.build_request(
            call.method,
            call.path,
            params=call.query(),
            content=call.content(),
            headers=call.headers(),
        )
        retry = 0
        while True:
            response: httpx.Response | None = None
            error: httpx.TransportError | None = None
            try:
                response = self._http.send(request)
            except httpx.TransportError as failure:
                error = failure
            if response is not None and response.is_success:
                return response
            delay = _delay(self._config, retry, response, error)
            if delay is None:
                raise _outcome(response, error)
            self._sleep(delay)
            retry += 1

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class AsyncClient:
    """The creditbook API for asyncio: the same arguments and resources as `Client`, with
    `await` on every call and `async for` over lists. `sleep` is a coroutine function."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        account_id: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._config = Config.resolve(
            api_key=api_key,
            base_url=base_url,
            account_id=account_id,
            timeout=timeout,
            max_retries=max_retries,
            headers=headers,
        )
        self._sleep = sleep
        self._own_account: str | None = None
        self._http = httpx.AsyncClient(
            base_url=self._config.base_url,
            headers=self._config.default_headers(),
            timeout=self._config.timeout,
            transport=transport,
        )
        self.plans = async_resources.Plans(self)
        self.rate_cards = async_resources.RateCards(self)
        self.accounts = async_resources.Accounts(self)
        self.keys = async_resources.Keys(self)
        self.grants = async_resources.Grants(self)
        self.charges = async_resources.Charges(self)
        self.runs = async_resources.Runs(self)
        self.credits = async_resources.AccountCredits(self)
        self.ledger = async_resources.LedgerResource(self)

    @property
    def base_url(self) -> str:
        return self._config.base_url

    @property
    def account_id(self) -> str | None:
        return self._config.account_id

    @property
    def max_retries(self) -> int:
        return self._config.max_retries

    async def health(self) -> HealthOut:
        """`GET /healthz`: the service and its database answer (no key needed)."""
        return await self._send(calls.health())

    async def _account(self, account_id: str | None) -> str:
        """The account a call is about: the one it names, the client's default, or the
        key's own account (asked once, then remembered)."""
        if account_id:
            return account_id
        if self._config.account_id:
            return self._config.account_id
        if self._own_account is None:
            self._own_account = own_account(await self._send(calls.current_key()))
        return self._own_account

    async def _send(self, call: Call[ModelT]) -> ModelT:
        return call.parse(await self._request(call))

    async def _request(self, call: Call[ModelT]) -> httpx.Response:
        request = self._http.build_request(
            call.method,
            call.path,
            params=call.query(),
            content=call.content(),
            headers=call.headers(),
        )
        retry = 0
        while True:
            response: httpx.Response | None = None
            error: httpx.TransportError | None = None
            try:
                response = await self._http.send(request)
            except httpx.TransportError as failure:
                error = failure
            if response is not None and response.is_success:
                return response
            delay = _delay(self._config, retry, response, error)
            if delay is None:
                raise _outcome(response, error)
            await self._sleep(delay)
            retry += 1

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
