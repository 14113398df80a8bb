"""`Client` and `AsyncClient`: one `BaseClient` (settings, the default account, requests,
retries and errors) on two httpx transports, sync and async."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, Generic, TypeVar

import httpx

from creditbook.client import _async_payments as async_payments
from creditbook.client import _async_resources as async_resources
from creditbook.client import _calls as calls
from creditbook.client import _payments as payments
from creditbook.client import _resources as resources
from creditbook.client._base import Call, ModelT, Outcome, failure_for, next_delay, own_account
from creditbook.client.config import DEFAULT_MAX_RETRIES, Config
from creditbook.client.models import KeyOut
from creditbook.wire import HealthOut

HttpT = TypeVar("HttpT", httpx.Client, httpx.AsyncClient)


class BaseClient(Generic[HttpT]):
    """What `Client` and `AsyncClient` share; they differ only where they send, sleep and
    close. Every retry of a call resends the same request, so the same idempotency key."""

    _http: HttpT

    def __init__(self, config: Config, http: HttpT) -> None:
        self._config = config
        self._http = http
        self._own_account: str | None = None

    @staticmethod
    def _http_options(config: Config) -> dict[str, Any]:
        """The httpx client's settings, the same for both transports."""
        return {
            "base_url": config.base_url,
            "headers": config.default_headers(),
            "timeout": config.timeout,
        }

    @property
    def base_url(self) -> str:
        return self._config.base_url

    @property
    def account_id(self) -> str | None:
        return self._config.account_id

    @property
    def max_retries(self) -> int:
        return self._config.max_retries

    def _known_account(self, account_id: str | None) -> str | None:
        """The account a call is about, if known without asking the server: the one it
        names, the client's default, or the key's own account once asked."""
        return account_id or self._config.account_id or self._own_account

    def _remember_own_account(self, key: KeyOut) -> str:
        self._own_account = own_account(key)
        return self._own_account

    def _build(self, call: Call[ModelT]) -> httpx.Request:
        # Built once per call: its retries send this very request, idempotency key included.
        return self._http.build_request(
            call.method,
            call.path,
            params=call.query(),
            content=call.content(),
            headers=call.headers(),
        )

    def _retry_delay(self, retry: int, outcome: Outcome) -> float:
        """Seconds to wait before retry number `retry` (0-based) after a failed try;
        raises the call's error instead when the call gives up."""
        delay = next_delay(retry, self._config.max_retries, outcome)
        if delay is None:
            raise failure_for(outcome)
        return delay


class Client(BaseClient[httpx.Client]):
    """The creditbook API, synchronously.

    Arguments (each falls back to the environment, then a default):
        api_key: `CREDITBOOK_API_KEY`; sent as `Authorization: Bearer <key>`.
        base_url: `CREDITBOOK_BASE_URL`, else `http://127.0.0.1:8000`.
        account_id: `CREDITBOOK_ACCOUNT_ID`; the account that account-scoped calls
            (balance, transactions, stats, charges, estimates, runs, checkout, auto-recharge,
            payments) use when they name none.
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
        config = Config.resolve(
            api_key=api_key,
            base_url=base_url,
            account_id=account_id,
            timeout=timeout,
            max_retries=max_retries,
            headers=headers,
        )
        super().__init__(config, httpx.Client(transport=transport, **self._http_options(config)))
        self._sleep = sleep
        self.plans = resources.Plans(self)
        self.rate_cards = resources.RateCards(self)
        self.accounts = resources.Accounts(self)
        self.keys = resources.Keys(self)
        self.grants = resources.Grants(self)
        self.charges = resources.Charges(self)
        self.runs = resources.Runs(self)
        self.credits = resources.AccountCredits(self)
        self.events = resources.Events(self)
        self.alerts = resources.Alerts(self)
        self.ledger = resources.LedgerResource(self)
        self.credit_packs = payments.CreditPacks(self)
        self.checkout_sessions = payments.CheckoutSessions(self)
        self.auto_recharge = payments.AutoRecharge(self)
        self.payments = payments.Payments(self)

    def health(self) -> HealthOut:
        """`GET /healthz`: the service and its database answer (no key needed)."""
        return self._send(calls.health())

    def _account(self, account_id: str | None) -> str:
        """The account a call is about: the one it names, the client's default, or the
        key's own account (asked once, then remembered)."""
        known = self._known_account(account_id)
        if known is not None:
            return known
        return self._remember_own_account(self._send(calls.current_key()))

    def _resolve_account_now(self, account_id: str | None) -> None:
        """A list call learns its account at once, so that an operator key naming none
        fails at the call, not at the first page."""
        self._account(account_id)

    def _send(self, call: Call[ModelT]) -> ModelT:
        return call.parse(self._request(call))

    def _request(self, call: Call[ModelT]) -> httpx.Response:
        request = self._build(call)
        retry = 0
        while True:
            outcome: Outcome
            try:
                outcome = self._http.send(request)
            except httpx.TransportError as error:
                outcome = error
            if isinstance(outcome, httpx.Response) and outcome.is_success:
                return outcome
            self._sleep(self._retry_delay(retry, outcome))
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


class AsyncClient(BaseClient[httpx.AsyncClient]):
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
        config = Config.resolve(
            api_key=api_key,
            base_url=base_url,
            account_id=account_id,
            timeout=timeout,
            max_retries=max_retries,
            headers=headers,
        )
        http = httpx.AsyncClient(transport=transport, **self._http_options(config))
        super().__init__(config, http)
        self._sleep = sleep
        self.plans = async_resources.Plans(self)
        self.rate_cards = async_resources.RateCards(self)
        self.accounts = async_resources.Accounts(self)
        self.keys = async_resources.Keys(self)
        self.grants = async_resources.Grants(self)
        self.charges = async_resources.Charges(self)
        self.runs = async_resources.Runs(self)
        self.credits = async_resources.AccountCredits(self)
        self.events = async_resources.Events(self)
        self.alerts = async_resources.Alerts(self)
        self.ledger = async_resources.LedgerResource(self)
        self.credit_packs = async_payments.CreditPacks(self)
        self.checkout_sessions = async_payments.CheckoutSessions(self)
        self.auto_recharge = async_payments.AutoRecharge(self)
        self.payments = async_payments.Payments(self)

    async def health(self) -> HealthOut:
        """`GET /healthz`: the service and its database answer (no key needed)."""
        return await self._send(calls.health())

    async def _account(self, account_id: str | None) -> str:
        """The account a call is about: the one it names, the client's default, or the
        key's own account (asked once, then remembered)."""
        known = self._known_account(account_id)
        if known is not None:
            return known
        return self._remember_own_account(await self._send(calls.current_key()))

    def _resolve_account_now(self, account_id: str | None) -> None:
        """Nothing: a list call is not awaited, so its pager learns the account when it
        fetches the first page."""

    async def _send(self, call: Call[ModelT]) -> ModelT:
        return call.parse(await self._request(call))

    async def _request(self, call: Call[ModelT]) -> httpx.Response:
        request = self._build(call)
        retry = 0
        while True:
            outcome: Outcome
            try:
                outcome = await self._http.send(request)
            except httpx.TransportError as error:
                outcome = error
            if isinstance(outcome, httpx.Response) and outcome.is_success:
                return outcome
            await self._sleep(self._retry_delay(retry, outcome))
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
