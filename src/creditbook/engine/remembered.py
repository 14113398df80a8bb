"""Values a process remembers for a short time, and reads again before they expire.

A value read at `t` is answered from memory until `t + ttl_s`, never later. From a random
point between `REFRESH_FROM` and `REFRESH_TO` of that lifetime it is due: the first caller
to find it due reads it again (on the HTTP server in the background, answering the request
from memory meanwhile), while the others go on being answered from memory until it expires.
Values read together (every key a process saw in its first second) therefore neither expire
together nor send every request in flight to the database at the same moment: under an even
load that herd was the whole of the HTTP server's latency tail.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

REFRESH_FROM = 0.75  # a value falls due at a random point between these parts of its life
REFRESH_TO = 0.95
MAX_ENTRIES = 10_000
Accept = Callable[[V], bool]
# Its own generator: the process-wide one is the application's (tests seed and watch it).
_SPREAD = random.Random()


def _any(value: object) -> bool:
    return True


@dataclass
class _Entry(Generic[V]):
    value: V
    due: float  # from then on, one caller reads it again
    expires: float  # from then on, it is never answered
    claimed: bool = False  # a caller is reading it again


class Remembered(Generic[K, V]):
    """Values by key, each answered for at most `ttl_s` seconds after it was read (0: none
    is remembered)."""

    def __init__(
        self,
        ttl_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        draw: Callable[[], float] = _SPREAD.random,
    ) -> None:
        if ttl_s < 0:
            raise ValueError("a remembered value's lifetime must not be negative")
        self.ttl_s = ttl_s
        self._clock = clock
        self._draw = draw
        self._entries: dict[K, _Entry[V]] = {}
        self._forgotten: dict[K, float] = {}  # when each key was last forgotten
        self._lock = threading.Lock()

    def answer(self, key: K, accept: Accept[V] = _any) -> tuple[V | None, bool]:
        """The value until it expires, and whether this caller has just claimed reading it
        again (it is due, and nobody reads it yet): a caller that can read it in the
        background answers with the value meanwhile. A value `accept` refuses is neither
        answered nor claimed."""
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None, False
            if now >= entry.expires:
                del self._entries[key]
                return None, False
            if not accept(entry.value):
                return None, False
            if now < entry.due or entry.claimed:
                return entry.value, False
            entry.claimed = True
            return entry.value, True

    def take(self, key: K, accept: Accept[V] = _any) -> V | None:
        """The value, unless it is due and nobody reads it again yet: then None, and this
        caller reads it now and `put`s it (or `forget`s it)."""
        value, claimed = self.answer(key, accept)
        return None if claimed else value

    def put(self, key: K, value: V, read_at: float) -> None:
        """Remember `value`, read by a read that began at `read_at` (on this clock). A read
        that began before the key was last forgotten is not remembered: it may predate what
        made it forgotten (a key revoked through this process while it was looked up)."""
        if self.ttl_s == 0:
            return
        share = REFRESH_FROM + (REFRESH_TO - REFRESH_FROM) * self._draw()
        entry = _Entry(value, read_at + self.ttl_s * share, read_at + self.ttl_s)
        with self._lock:
            if read_at <= self._forgotten.get(key, float("-inf")):
                return
            if len(self._entries) >= MAX_ENTRIES and key not in self._entries:
                self._entries.clear()
            self._entries[key] = entry

    def forget(self, key: K) -> None:
        now = self._clock()
        with self._lock:
            self._entries.pop(key, None)
            # A read that began a lifetime ago would be expired already: older times go.
            for old in [k for k, at in self._forgotten.items() if at < now - self.ttl_s]:
                del self._forgotten[old]
            self._forgotten[key] = now

    def now(self) -> float:
        return self._clock()
