"""Authenticated API keys, remembered by one process for a short time.

An HTTP request authenticates its key before it writes; looking the key up in its own
transaction would double what a charge costs the database. A key this process
authenticated is answered from memory for at most `ttl_s` seconds after its lookup (then
looked up again). A revocation through this process takes effect here at once; one made
by another process takes effect here within `ttl_s`. Only keys that authenticated are
remembered (an unknown or revoked token is looked up every time), and an entry holds the
sha256 of its token, compared in constant time, never the token.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time

from creditbook.engine.keys import ApiKey, parse

DEFAULT_TTL_S = 1.0
MAX_ENTRIES = 10_000


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class KeyCache:
    """Keys by key id: (sha256 of the token, when the entry expires, the key)."""

    def __init__(self, ttl_s: float = DEFAULT_TTL_S) -> None:
        if ttl_s < 0:
            raise ValueError("the key cache's lifetime must not be negative")
        self.ttl_s = ttl_s
        self._entries: dict[str, tuple[str, float, ApiKey]] = {}
        self._lock = threading.Lock()

    def get(self, token: str) -> ApiKey | None:
        """The key of `token` if this process authenticated it less than `ttl_s` ago."""
        key_id = parse(token)
        if key_id is None or self.ttl_s == 0:
            return None
        with self._lock:
            entry = self._entries.get(key_id)
        if entry is None:
            return None
        digest, expires, key = entry
        if time.monotonic() >= expires:
            self.forget(key_id)
            return None
        return key if hmac.compare_digest(digest, _digest(token)) else None

    def put(self, token: str, key: ApiKey, looked_up_at: float) -> None:
        """Remember `key` (authenticated by a lookup that began at `looked_up_at`)."""
        if self.ttl_s == 0:
            return
        with self._lock:
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[key.key_id] = (_digest(token), looked_up_at + self.ttl_s, key)

    def forget(self, key_id: str) -> None:
        with self._lock:
            self._entries.pop(key_id, None)
