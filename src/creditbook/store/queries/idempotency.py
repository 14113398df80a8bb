"""Idempotency keys: the answer stored under a key, and storing one.

Every keyed write reads its key and stores its answer, so both statements run on the raw
driver cursor like the charge hot path (`creditbook.store.queries.hot`): building the
SQLAlchemy statement cost more than the database's work.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from creditbook.store.queries import hot

_READ = {
    "postgresql": "SELECT request_hash, response FROM idempotency"
    " WHERE account_id = %s AND key = %s",
    "sqlite": "SELECT request_hash, response FROM idempotency WHERE account_id = ? AND key = ?",
}
_STORE = {
    "postgresql": "INSERT INTO idempotency"
    " (account_id, key, operation, request_hash, response, created_at)"
    " VALUES (%s, %s, %s, %s, %s::json, %s)",
    "sqlite": "INSERT INTO idempotency"
    " (account_id, key, operation, request_hash, response, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?)",
}


def stored(connection: Connection, scope: str, key: str) -> hot.Record | None:
    """The request hash and response stored under `key` in `scope` (None: the key is new)."""
    rows = hot.execute(connection, _READ[connection.dialect.name], (scope, key))
    if not rows:
        return None
    request_hash, response = rows[0]
    if isinstance(response, str | bytes):  # SQLite keeps JSON as text
        response = json.loads(response)
    return hot.Record({"request_hash": request_hash, "response": response})


def store(
    connection: Connection,
    scope: str,
    key: str,
    operation: str,
    request_hash: str,
    response: Any,
    created_at: datetime,
) -> None:
    """Keep `response` under `key`; a concurrent first use of the key fails on the key."""
    sqlite = not hot.is_postgres(connection)
    hot.execute(
        connection,
        _STORE[connection.dialect.name],
        (
            scope,
            key,
            operation,
            request_hash,
            json.dumps(response),
            hot.stored_value(created_at, sqlite),
        ),
        rows=False,
    )
