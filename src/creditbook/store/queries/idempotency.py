"""Idempotency keys: the answer stored under a key, and storing one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, select

from creditbook.store import schema

_KEYS = schema.idempotency.c


def stored(connection: Connection, scope: str, key: str) -> Row[Any, Any] | None:
    """The request hash and response stored under `key` in `scope` (None: the key is new)."""
    return connection.execute(
        select(_KEYS.request_hash, _KEYS.response).where(
            _KEYS.account_id == scope, _KEYS.key == key
        )
    ).first()


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
    connection.execute(
        schema.idempotency.insert(),
        {
            "account_id": scope,
            "key": key,
            "operation": operation,
            "request_hash": request_hash,
            "response": response,
            "created_at": created_at,
        },
    )
