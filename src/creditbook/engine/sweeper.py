"""The sweeper a server runs: every `interval_s` seconds it applies what is due (resets,
rollovers, expiries) on every account, as `Ledger.tick()` does, in one process at a time.

The process that holds the sweeper's lock sweeps (a PostgreSQL advisory lock, or on SQLite
a lock file beside the database; see `creditbook.engine.locking`); the others try to take
it at each interval, so one of them takes over when the holder stops.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError

from creditbook.domain.errors import CreditbookError
from creditbook.engine.locking import ProcessLock
from creditbook.store.queries import sweeper_lock

if TYPE_CHECKING:
    from creditbook.engine.ledger import Ledger

log = logging.getLogger("creditbook.sweeper")
BATCH = 1000
LOCK_SUFFIX = ".sweeper.lock"  # beside a SQLite database


class Sweeper:
    """A daemon thread sweeping `ledger` every `interval_s` seconds while it holds the lock."""

    def __init__(self, ledger: Ledger, interval_s: float) -> None:
        self.ledger = ledger
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="creditbook-sweeper", daemon=True)
        self._lock = ProcessLock(
            ledger.engine, "sweeper", sweeper_lock.SWEEPER_LOCK_KEY, LOCK_SUFFIX, log
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop after the current sweep and let go of the lock."""
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    if self._holds_lock():
                        self.sweep()
                except (SQLAlchemyError, CreditbookError) as error:
                    log.warning("sweep failed, retrying in %s s: %s", self.interval_s, error)
                    self._release()
                self._stop.wait(self.interval_s)
        finally:
            self._release()

    def sweep(self) -> int:
        """Catch up every account with something due; returns how many were touched."""
        touched = 0
        while not self._stop.is_set():
            batch = self.ledger.tick(limit=BATCH)
            touched += batch
            if batch < BATCH:
                break
        if touched:
            log.info("swept: caught up %s accounts", touched, extra={"accounts": touched})
        return touched

    def _holds_lock(self) -> bool:
        return self._lock.held()

    def _release(self) -> None:
        self._lock.release()
