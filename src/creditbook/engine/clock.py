"""Clocks. The engine reads time only through one, so tests can travel in time."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol

from creditbook.domain.errors import invariant


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware UTC."""
        ...


class SystemClock:
    """Wall-clock time."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to. Thread-safe."""

    def __init__(self, start: datetime) -> None:
        invariant(start.tzinfo is not None, "clock needs an aware datetime")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, instant: datetime) -> None:
        invariant(instant.tzinfo is not None, "clock needs an aware datetime")
        with self._lock:
            self._now = instant.astimezone(UTC)

    def advance(self, **delta: float) -> datetime:
        """Move forward by `timedelta(**delta)` and return the new time."""
        step = timedelta(**delta)
        invariant(step >= timedelta(0), "time only moves forward")
        with self._lock:
            self._now += step
            return self._now
