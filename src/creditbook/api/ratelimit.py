"""Token-bucket rate limits per API key: in-process by default, shared through Redis.

Each key has a bucket of `burst` tokens refilled at `rate` per second; a request takes one.
With Redis every process and machine draws from the same bucket (one atomic script, timed
by the Redis server's clock). A Redis that does not answer within its timeout refuses the
request with 503 `rate_limiter_unavailable`, or lets it through when the limiter fails open.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Protocol

from creditbook.domain.errors import DependencyUnavailableError

log = logging.getLogger("creditbook.ratelimit")
DEFAULT_REDIS_TIMEOUT_S = 0.25

LUA_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, tostring(tokens)}
"""


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of taking one token.

    Attributes:
        allowed: whether the request may proceed.
        limit: the bucket size (burst).
        remaining: whole tokens left.
        reset_s: seconds until the bucket is full again.
        retry_after_s: seconds until a token is available (when refused).
    """

    allowed: bool
    limit: int
    remaining: int
    reset_s: int
    retry_after_s: int

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_s),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after_s)
        return headers


def decide(allowed: bool, tokens: float, rate: float, burst: int) -> Decision:
    return Decision(
        allowed=allowed,
        limit=burst,
        remaining=max(0, math.floor(tokens)),
        reset_s=max(0, math.ceil((burst - tokens) / rate)),
        retry_after_s=max(1, math.ceil((1 - tokens) / rate)),
    )


class Limiter(Protocol):
    def take(self, key: str, rate: float, burst: int) -> Decision: ...

    def status(self) -> str:
        """`memory`, or for a shared limiter `redis` when it answers, `unavailable` if not."""
        ...


class MemoryLimiter:
    """Buckets in this process's memory (one process, or limits per process)."""

    MAX_BUCKETS = 100_000

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, rate: float, burst: int) -> Decision:
        now = time.monotonic()
        with self._lock:
            tokens, at = self._buckets.get(key, (float(burst), now))
            tokens = min(float(burst), tokens + (now - at) * rate)
            allowed = tokens >= 1
            if allowed:
                tokens -= 1
            if len(self._buckets) >= self.MAX_BUCKETS and key not in self._buckets:
                self._buckets.clear()  # bounded memory: full buckets are the default anyway
            self._buckets[key] = (tokens, now)
        return decide(allowed, tokens, rate, burst)

    def status(self) -> str:
        return "memory"


class RedisLimiter:
    """Buckets in Redis, shared by every process that uses the same server."""

    def __init__(
        self,
        url: str,
        prefix: str = "creditbook:ratelimit:",
        *,
        timeout_s: float = DEFAULT_REDIS_TIMEOUT_S,
        fail_open: bool = False,
    ) -> None:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # One try within the timeout: a request waits at most about `timeout_s` for Redis
        # (connecting, then answering), never the client's default retries.
        self._client = redis.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
        )
        self._take = self._client.register_script(LUA_TAKE)
        self._prefix = prefix
        self._timeout_s = timeout_s
        self._fail_open = fail_open
        self._errors: tuple[type[Exception], ...] = (redis.RedisError, OSError)

    def take(self, key: str, rate: float, burst: int) -> Decision:
        try:
            allowed, tokens = self._take(keys=[self._prefix + key], args=[rate, burst])
        except self._errors as error:
            if self._fail_open:
                log.warning("rate limiter unavailable, request let through: %s", error)
                return decide(True, float(burst), rate, burst)
            raise DependencyUnavailableError(
                f"the rate limiter did not answer within {self._timeout_s} s; retry later"
            ) from None
        return decide(bool(allowed), float(tokens), rate, burst)

    def status(self) -> str:
        try:
            self._client.ping()
        except self._errors:
            return "unavailable"
        return "redis"

    def close(self) -> None:
        self._client.close()
