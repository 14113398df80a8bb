"""The dispatcher's lock on SQLite: an exclusive `flock` on a file beside the database.

The system lets go of the lock when the process ends, however it ends (kill -9 included),
so a stale lock file never keeps the next dispatcher out.
"""

from __future__ import annotations

import fcntl
import os

from sqlalchemy import Engine

SUFFIX = ".webhooks.lock"


def lock_path(engine: Engine) -> str | None:
    """The lock file of a SQLite database file (None for an in-memory database)."""
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    return os.path.abspath(database) + SUFFIX


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
