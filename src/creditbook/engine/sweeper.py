"""The sweeper a server runs: every `interval_s` seconds it applies what is due (resets,
rollovers, expiries) on every account, as `Ledger.tick()` does, in one process at a time.

On PostgreSQL the process that holds an advisory lock sweeps; the others try to take the
lock at each interval, so one of them takes over when the holder stops. On SQLite the
database has one server, which sweeps.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from creditbook.domain.errors import CreditbookError
from creditbook.store.queries import sweeper_lock

if TYPE_CHECKING:
    from creditbook.engine.ledger import Ledger

log = logging.getLogger("creditbook.sweeper")
BATCH = 1000


class Sweeper:
    """A daemon thread sweeping `ledger` every `interval_s` seconds while it holds the lock."""

    def __init__(self, ledger: Ledger, interval_s: float) -> None:
        self.ledger = ledger
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="creditbook-sweeper", daemon=True)
        self._lock_connection: Connection | None = None
        self._waiting_logged = False

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
        if self.ledger.engine.dialect.name != "postgresql":
            return True
        if self._lock_connection is not None:
            if sweeper_lock.still_held(self._lock_connection):
                return True
            self._release()
        connection = self.ledger.engine.connect()
        if sweeper_lock.try_lock(connection):
            self._lock_connection = connection
            self._waiting_logged = False
            log.info("this process holds the sweeper lock and sweeps every %s s", self.interval_s)
            return True
        connection.close()
        if not self._waiting_logged:
            log.info("another process holds the sweeper lock: this one sweeps if it stops")
            self._waiting_logged = True
        return False

    def _release(self) -> None:
        if self._lock_connection is not None:
            try:
                self._lock_connection.invalidate()  # ends the session, and the lock with it
                self._lock_connection.close()
            finally:
                self._lock_connection = None
