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

import contextlib
import hashlib
import hmac
from collections.abc import Callable

from creditbook.domain.errors import CreditbookError, KeyRevokedError
from creditbook.engine.keys import ApiKey, parse
from creditbook.engine.remembered import Remembered

DEFAULT_TTL_S = 1.0


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _of_token(token: str) -> Callable[[tuple[str, ApiKey]], bool]:
    """Whether an entry was authenticated with `token` (another secret for the same key id
    is neither answered nor lets its caller claim the entry's next lookup)."""
    digest = _digest(token)
    return lambda entry: hmac.compare_digest(entry[0], digest)


class KeyCache:
    """Keys by key id, each with the sha256 of its token (see `Remembered` for how long
    and when an entry is read again)."""

    def __init__(self, ttl_s: float = DEFAULT_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._entries: Remembered[str, tuple[str, ApiKey]] = Remembered(ttl_s)

    def answer(self, token: str) -> tuple[ApiKey | None, bool]:
        """The key of `token` until its entry expires, and whether this caller has just
        claimed looking it up again (see `Remembered.answer`)."""
        key_id = parse(token)
        if key_id is None:
            return None, False
        entry, claimed = self._entries.answer(key_id, _of_token(token))
        return (None if entry is None else entry[1]), claimed

    def take(self, token: str) -> ApiKey | None:
        """The key of `token`, unless it is due to be looked up again and nobody does yet:
        then None, and the caller looks it up (and `put`s it)."""
        key_id = parse(token)
        entry = None if key_id is None else self._entries.take(key_id, _of_token(token))
        return None if entry is None else entry[1]

    def look_up(self, token: str, read: Callable[[], ApiKey]) -> ApiKey:
        """Authenticate `token` by `read` (the database's answer) and remember its key; a
        key found revoked is forgotten (the token was right: this process saw it revoked)."""
        looked_up_at = self.now()
        try:
            key = read()
        except KeyRevokedError:
            key_id = parse(token)
            if key_id is not None:
                self.forget(key_id)
            raise
        self.put(token, key, looked_up_at)
        return key

    def refresh(self, token: str, read: Callable[[], ApiKey]) -> None:
        """`look_up` for the caller `answer` chose, in the background: a key found revoked
        is forgotten, and any other refusal is the next lookup's to report."""
        with contextlib.suppress(CreditbookError):
            self.look_up(token, read)

    def put(self, token: str, key: ApiKey, looked_up_at: float) -> None:
        """Remember `key` (authenticated by a lookup that began at `looked_up_at`, on the
        clock of `now`)."""
        self._entries.put(key.key_id, (_digest(token), key), looked_up_at)

    def forget(self, key_id: str) -> None:
        self._entries.forget(key_id)

    def now(self) -> float:
        return self._entries.now()
