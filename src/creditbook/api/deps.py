"""What every route needs: the ledger, the caller, the idempotency key, limits."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Header, Path, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from creditbook.api.auth import token_of
from creditbook.api.ratelimit import Limiter, MemoryLimiter
from creditbook.domain.errors import (
    AuthenticationError,
    CreditbookError,
    NotFoundError,
    RateLimitedError,
)
from creditbook.domain.requests import MAX_BATCH_IDEMPOTENCY_KEY_CHARS
from creditbook.engine.ledger import Ledger
from creditbook.engine.principal import Principal
from creditbook.engine.remembered import Remembered
from creditbook.wire.common import STORABLE_TEXT

PLAN_LIMITS_TTL_S = 10.0
log = logging.getLogger("creditbook.auth")
_REFRESHING: set[asyncio.Task[object]] = set()  # background reads not done yet


class PlanLimits:
    """Rate limit of each account's plan, remembered briefly (plans change rarely; see
    `Remembered` for when one request reads them again)."""

    def __init__(self, default_rate: float, default_burst: int) -> None:
        self.default = (default_rate, default_burst)
        self._limits: Remembered[str, tuple[float, int]] = Remembered(PLAN_LIMITS_TTL_S)

    def remembered(self, account_id: str | None) -> tuple[tuple[float, int] | None, bool]:
        """The limits `of` answers without reading the database (None: it would read), and
        whether this caller must read them again in the background (`refresh`)."""
        if account_id is None:
            return self.default, False
        return self._limits.answer(account_id)

    def of(self, ledger: Ledger, account_id: str | None) -> tuple[float, int]:
        if account_id is None:
            return self.default
        remembered = self._limits.take(account_id)
        return remembered if remembered is not None else self.refresh(ledger, account_id)

    def refresh(self, ledger: Ledger, account_id: str) -> tuple[float, int]:
        """Read the account's limits (its plan's, or the default when either is gone) and
        remember them."""
        read_at = self._limits.now()
        try:
            plan = ledger.get_plan(ledger.get_account(account_id).plan_id)
            rate = float(plan.rate_limit_per_s or self.default[0])
            burst = plan.rate_limit_burst or (plan.rate_limit_per_s or self.default[1])
            limits = (rate, max(1, int(burst)))
        except NotFoundError:
            limits = self.default
        self._limits.put(account_id, limits, read_at)
        return limits


def _in_background(function: Callable[..., object], *args: object) -> None:
    """Run `function` on a worker thread without the request waiting for it: a remembered
    value read again before it expires. Kept until done; a failure is logged (the value
    then expires, and the next request reads it itself)."""
    task = asyncio.create_task(run_in_threadpool(function, *args))
    _REFRESHING.add(task)
    task.add_done_callback(_refreshed)


def _refreshed(task: asyncio.Task[object]) -> None:
    _REFRESHING.discard(task)
    if not task.cancelled() and (error := task.exception()) is not None:
        log.warning("reading a remembered value again failed: %s", error)


async def ledger_of(request: Request) -> Ledger:
    # async: a plain function would cost a hop to the thread pool on every request.
    ledger: Ledger = request.app.state.ledger
    return ledger


# For the OpenAPI document only (`token_of` reads the headers): the ways to send a key.
bearer_scheme = HTTPBearer(
    scheme_name="bearer",
    description="`Authorization: Bearer <key>`; `Authorization: Token <key>` works too.",
    auto_error=False,
)
api_key_scheme = APIKeyHeader(
    name="X-API-KEY", scheme_name="api_key", description="`X-API-KEY: <key>`.", auto_error=False
)


def principal(
    request: Request,
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
    _api_key: Annotated[str | None, Security(api_key_scheme)],
) -> Principal:
    """Authenticate the key, then take one token from its rate-limit bucket."""
    token = token_of(request)
    if token is None:
        raise AuthenticationError("missing API key")
    ledger: Ledger = request.app.state.ledger
    try:
        caller = Principal(ledger.authenticate(token))
    except CreditbookError as error:
        request.state.refusal = error.code
        raise
    limits: PlanLimits = request.app.state.plan_limits
    return _admit(request, caller, limits.of(ledger, caller.account_id))


def _admit(request: Request, caller: Principal, limits: tuple[float, int]) -> Principal:
    """Take one token from the caller's rate-limit bucket."""
    request.state.key_id = caller.key.key_id
    limiter: Limiter = request.app.state.limiter
    decision = limiter.take(caller.key.key_id, *limits)
    request.state.extra_headers = decision.headers()
    if not decision.allowed:
        raise RateLimitedError(decision.retry_after_s)
    return caller


async def caller_of(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
    api_key: Annotated[str | None, Security(api_key_scheme)],
) -> Principal:
    """`principal` as a dependency. When all it needs is in this process's memory (the key
    authenticated lately, its plan's limits read lately, rate limits kept in memory) it runs
    right here on the event loop; otherwise (a database read, Redis) on a worker thread.
    The hop to a thread and back costs more than the rest of it."""
    ledger: Ledger = request.app.state.ledger
    token = token_of(request)
    key, refresh = ledger.remembered_key(token) if token is not None else (None, False)
    if refresh:
        _in_background(ledger.refresh_key, token)
    if key is not None and isinstance(request.app.state.limiter, MemoryLimiter):
        caller = Principal(key)
        plan_limits: PlanLimits = request.app.state.plan_limits
        limits, refresh = plan_limits.remembered(caller.account_id)
        if refresh:
            _in_background(plan_limits.refresh, ledger, caller.account_id)
        if limits is not None:
            return _admit(request, caller, limits)
    return await run_in_threadpool(principal, request, bearer, api_key)


LedgerDep = Annotated[Ledger, Depends(ledger_of)]
Caller = Annotated[Principal, Depends(caller_of)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=255,
        pattern=STORABLE_TEXT,
        description="Makes the request safe to retry: a replay returns the first result.",
    ),
]
# The batch's key is stored with a prefix and lends items `<key>:<index>`: a shorter limit.
BatchIdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=MAX_BATCH_IDEMPOTENCY_KEY_CHARS,
        pattern=STORABLE_TEXT,
        description="Makes the whole batch safe to retry: a replay returns the first results "
        "(each marked `replayed`); the same key with a different batch answers 409. Items "
        "without their own `idempotency_key` use `<Idempotency-Key>:<index>`.",
    ),
]
PATH_ID_MAX_LENGTH = 64
PathId = Annotated[str, Path(max_length=PATH_ID_MAX_LENGTH, pattern=STORABLE_TEXT)]


def is_storable_id(value: str) -> bool:
    """Whether `value` passes the checks `PathId` makes (for routes that must answer a
    malformed id in their own shape rather than as a validation error)."""
    return len(value) <= PATH_ID_MAX_LENGTH and re.fullmatch(STORABLE_TEXT, value) is not None


def run_account(ledger: Ledger, caller: Principal, run_id: str, *, write: bool = False) -> str:
    """The account of a run the caller may see (or, with `write`, change); another account's
    run answers exactly like a missing one."""
    account_id = ledger.account_of_run(run_id)
    caller.require_account(account_id, write=write, kind="run", identifier=run_id)
    return account_id


def hit_headers(replayed: bool) -> dict[str, str]:
    return {"Idempotency-Hit": "true"} if replayed else {}
