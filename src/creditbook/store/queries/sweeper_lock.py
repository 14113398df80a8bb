"""The sweeper's lock: one PostgreSQL session-level advisory lock, so that among every
server on a database exactly one sweeps at a time. The webhook dispatcher takes the same
kind of lock under its own key."""

from __future__ import annotations

from sqlalchemy import Connection, text

# A fixed 64-bit key for pg_try_advisory_lock (the bytes of "cbsweep1").
SWEEPER_LOCK_KEY = 0x6362737765657031
# The webhook dispatcher's (the bytes of "cbwebhk1").
DISPATCHER_LOCK_KEY = 0x6362776562686B31


def try_lock(connection: Connection, key: int = SWEEPER_LOCK_KEY) -> bool:
    """Take the lock for this connection's session, unless another session holds it.
    Held until the session ends (the process exits or the connection is closed)."""
    taken: bool = connection.execute(
        text("SELECT pg_try_advisory_lock(:key)"), {"key": key}
    ).scalar_one()
    connection.commit()
    return taken


def still_held(connection: Connection, key: int = SWEEPER_LOCK_KEY) -> bool:
    """Whether this session still holds the lock (raises if the connection is gone)."""
    held: bool = connection.execute(
        text(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' "
            "AND pid = pg_backend_pid() AND granted "
            "AND ((classid::bigint << 32) | objid::bigint) = :key)"
        ),
        {"key": key},
    ).scalar_one()
    connection.commit()
    return held
