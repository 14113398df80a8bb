"""One process at a time: the lock that the sweeper and the webhook dispatcher each hold, so
that among every process on a database exactly one of each runs.

On PostgreSQL it is a session-level advisory lock (one key each). On SQLite it is an
exclusive `flock` on a file beside the database (`<database>.sweeper.lock`,
`<database>.webhooks.lock`). Either way the lock goes when its holder's process ends,
however it ends (kill -9 included), so the next process takes over.
"""

from __future__ import annotations

import fcntl
import logging
import os

from sqlalchemy import Connection, Engine

from creditbook.store.queries import sweeper_lock


def lock_path(engine: Engine, suffix: str) -> str | None:
    """The lock file of a SQLite database file (None for an in-memory database)."""
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    return os.path.abspath(database) + suffix


class FileLock:
    """An exclusive lock held on an open file until `release()` or the process ends."""

    def __init__(self, descriptor: int) -> None:
        self._descriptor: int | None = descriptor

    @classmethod
    def try_take(cls, path: str) -> FileLock | None:
        """The lock, unless another process holds it."""
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            return None
        return cls(descriptor)

    def release(self) -> None:
        if self._descriptor is not None:
            os.close(self._descriptor)  # closing the file lets go of its lock
            self._descriptor = None


class ProcessLock:
    """Held by one process of a database at a time. `held()` takes it when free (and says
    whether this process holds it); `release()` lets it go.

    Attributes:
        name: what holds it, for the log (`sweeper`, `webhook dispatcher`).
    """

    def __init__(
        self, engine: Engine, name: str, key: int, suffix: str, log: logging.Logger
    ) -> None:
        self.name = name
        self._engine = engine
        self._key = key
        self._suffix = suffix
        self._log = log
        self._connection: Connection | None = None
        self._file: FileLock | None = None
        self._waiting_logged = False

    def held(self) -> bool:
        if self._engine.dialect.name == "postgresql":
            return self._held_in_postgres()
        if self._file is not None:
            return True
        path = lock_path(self._engine, self._suffix)
        if path is None:  # an in-memory database: one process by definition
            return True
        self._file = FileLock.try_take(path)
        return self._noted(self._file is not None)

    def _held_in_postgres(self) -> bool:
        if self._connection is not None:
            if sweeper_lock.still_held(self._connection, self._key):
                return True
            self.release()
        connection = self._engine.connect()
        if sweeper_lock.try_lock(connection, self._key):
            self._connection = connection
            return self._noted(True)
        connection.close()
        return self._noted(False)

    def _noted(self, taken: bool) -> bool:
        """Log taking the lock, and waiting for it once."""
        if taken:
            self._waiting_logged = False
            self._log.info("this process holds the %s lock", self.name)
        elif not self._waiting_logged:
            self._log.info(
                "another process holds the %s lock: this one takes over when it stops", self.name
            )
            self._waiting_logged = True
        return taken

    def release(self) -> None:
        if self._file is not None:
            self._file.release()
            self._file = None
        if self._connection is not None:
            try:
                self._connection.invalidate()  # ends the session, and the lock with it
                self._connection.close()
            finally:
                self._connection = None
