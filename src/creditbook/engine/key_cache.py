"""Authenticated API keys, remembered by one process for a short time.

An HTTP request authenticates its key before it writes; looking the key up in its own
transaction would double what a charge costs the database. A key this process authenticated
is answered from memory for at most `ttl_s` seconds after its lookup; one request looks it
up again a little before that (see `creditbook.engine.remembered`). A revocation through
this process takes effect here at once; one made by another process takes effect here within
`ttl_s`. Only keys that authenticated are remembered (an unknown or revoked token is looked
up every time), and an entry holds the sha256 of its token, compared in constant time, never
the token.
"""

from __future__ import annotations

import hashlib
import hmac

from creditbook.engine.keys import ApiKey, parse
from creditbook.engine.remembered import Remembered

DEFAULT_TTL_S = 1.0


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class KeyCache:
    """Keys by key id, each with the sha256 of its token (see `Remembered` for how long
    and when an entry is read again)."""

    def __init__(self, ttl_s: float = DEFAULT_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._entries: Remembered[str, tuple[str, ApiKey]] = Remembered(ttl_s)

    def get(self, token: str) -> ApiKey | None:
        """The key of `token` if it can be answered from memory now."""
        return self._answer(token, claim=False)

    def take(self, token: str) -> ApiKey | None:
        """As `get`, but when the entry is due to be read again and nobody reads it yet,
        None: the caller looks the key up (and `put`s it)."""
        return self._answer(token, claim=True)

    def _answer(self, token: str, *, claim: bool) -> ApiKey | None:
        key_id = parse(token)
        if key_id is None:
            return None
        entries = self._entries
        entry = entries.take(key_id) if claim else entries.peek(key_id)
        if entry is None:
            return None
        digest, key = entry
        return key if hmac.compare_digest(digest, _digest(token)) else None

    def put(self, token: str, key: ApiKey, looked_up_at: float) -> None:
        """Remember `key` (authenticated by a lookup that began at `looked_up_at`, on the
        clock of `now`)."""
        self._entries.put(key.key_id, (_digest(token), key), looked_up_at)

    def forget(self, key_id: str) -> None:
        self._entries.forget(key_id)

    def now(self) -> float:
        return self._entries.now()
