"""Failed authentications per client address: logged, counted and, past a limit, refused
before any key is looked at.

A failure is a request that presented a key the API refused as `unauthenticated` or
`key_revoked` (a request without any key is not a guess, and is not counted), or a sign-in
form the dashboard turned away. Each address may fail `limit` times in a fixed window of
`window_s` seconds (windows start at multiples of `window_s` since the epoch); once it has,
every request from it answers 429 `rate_limited` with `Retry-After` (the seconds left in the
window), authenticated or not, until the window ends. Counts live in this process, or in
Redis (shared by every process) when the service has a Redis URL.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any, Protocol

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from creditbook.api.errors import error_body
from creditbook.api.responses import ExactJSONResponse
from creditbook.dashboard import MOUNT_PATH

auth_log = logging.getLogger("creditbook.auth")
FAILED_AUTHENTICATION = frozenset({"unauthenticated", "key_revoked"})
SIGN_IN_PATH = f"{MOUNT_PATH}/login"
UNGUARDED_PATHS = frozenset({"/healthz"})


class FailureCounter(Protocol):
    async def count(self, address: str, window: int) -> int: ...

    async def add(self, address: str, window: int, ttl_s: int) -> int: ...


class MemoryFailures:
    """Counts in this process's memory (only the current window is kept)."""

    MAX_ADDRESSES = 100_000

    def __init__(self) -> None:
        self._window = -1
        self._counts: dict[str, int] = {}

    def _roll(self, window: int) -> None:
        if window != self._window or len(self._counts) >= self.MAX_ADDRESSES:
            self._window, self._counts = window, {}

    async def count(self, address: str, window: int) -> int:
        self._roll(window)
        return self._counts.get(address, 0)

    async def add(self, address: str, window: int, ttl_s: int) -> int:
        self._roll(window)
        self._counts[address] = self._counts.get(address, 0) + 1
        return self._counts[address]


class RedisFailures:
    """Counts in Redis, one key per address and window, expiring with the window."""

    def __init__(
        self, url: str, prefix: str = "creditbook:authfail:", timeout_s: float = 1.0
    ) -> None:
        import redis.asyncio
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        # One try within the timeout, as the rate limiter: a Redis that does not answer
        # costs a request at most about `timeout_s` here.
        self._client: Any = redis.asyncio.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
        )
        self._prefix = prefix

    def _key(self, address: str, window: int) -> str:
        return f"{self._prefix}{window}:{address}"

    async def count(self, address: str, window: int) -> int:
        value = await self._client.get(self._key(address, window))
        return int(value or 0)

    async def add(self, address: str, window: int, ttl_s: int) -> int:
        key = self._key(address, window)
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, ttl_s)
            added, _ = await pipe.execute()
        return int(added)

    async def close(self) -> None:
        await self._client.aclose()


class AuthThrottle:
    """Logs every failed authentication and refuses addresses past `limit` failures a window."""

    def __init__(
        self, app: ASGIApp, failures: FailureCounter, limit: int, window_s: int = 60
    ) -> None:
        self.app = app
        self.failures = failures
        self.limit = limit
        self.window_s = window_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in UNGUARDED_PATHS:
            await self.app(scope, receive, send)
            return
        address = (scope.get("client") or ("unknown",))[0]
        now = time.time()
        window = int(now // self.window_s)
        if await self._guarded(self.failures.count(address, window)) >= self.limit:
            retry_after = max(1, math.ceil((window + 1) * self.window_s - now))
            body = error_body(
                f"too many failed authentications from this address, retry after {retry_after} s",
                "rate_limited",
            )
            response = ExactJSONResponse(
                body, status_code=429, headers={"Retry-After": str(retry_after)}
            )
            scope.setdefault("state", {})["refusal"] = "rate_limited"
            await response(scope, receive, send)
            return
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, send_status)
        code = self._failure(scope, status)
        if code is not None:
            failed = await self._guarded(self.failures.add(address, window, self.window_s + 1))
            auth_log.warning(
                "authentication failed",
                extra={
                    "code": code,
                    "client": address,
                    "method": scope.get("method", ""),
                    "route": getattr(scope.get("route"), "path", scope.get("path", "")),
                    "request_id": scope.get("state", {}).get("request_id"),
                    "failures": failed,
                },
            )

    @staticmethod
    def _failure(scope: Scope, status: int) -> str | None:
        """The code of a failed authentication, None for any other answer."""
        refusal = scope.get("state", {}).get("refusal")
        names = {name for name, _ in scope.get("headers") or []}
        presented = b"authorization" in names or b"x-api-key" in names
        if refusal in FAILED_AUTHENTICATION and presented:
            return str(refusal)
        signing_in = scope.get("method") == "POST" and scope.get("path") == SIGN_IN_PATH
        if signing_in and status in (401, 403):
            return "sign_in_refused"
        return None

    @staticmethod
    async def _guarded(counting: Any) -> int:
        """A count, or 0 when the counter's store fails: the throttle fails open (the
        per-key rate limit and the key check still apply) and says so in the log."""
        try:
            return int(await counting)
        except Exception as error:
            auth_log.warning("failed-authentication counter unavailable: %s", error)
            return 0
