"""Token-bucket rate limits per API key: in-process by default, shared through Redis.

Each key has a bucket of `burst` tokens refilled at `rate` per second; a request takes one.
With Redis every process and machine draws from the same bucket (one atomic script, timed
by the Redis server's clock).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Protocol

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


class RedisLimiter:
    """Buckets in Redis, shared by every process that uses the same server."""

    def __init__(self, url: str, prefix: str = "creditbook:ratelimit:") -> None:
        import redis

        self._client = redis.Redis.from_url(url)
        self._take = self._client.register_script(LUA_TAKE)
        self._prefix = prefix

    def take(self, key: str, rate: float, burst: int) -> Decision:
        allowed, tokens = self._take(keys=[self._prefix + key], args=[rate, burst])
        return decide(bool(allowed), float(tokens), rate, burst)

    def close(self) -> None:
        self._client.close()
