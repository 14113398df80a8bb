"""Named queries over API keys (stored as the sha256 of the whole key, never the key)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, bindparam, select, update

from creditbook.store import schema

_K = schema.api_keys.c
_INSERT_KEY = schema.api_keys.insert()
_KEY_BY_ID = select(schema.api_keys).where(_K.key_id == bindparam("p_key"))
# Only a live key: of two revocations at once, the first one's time stays.
_REVOKE_KEY = (
    update(schema.api_keys)
    .where(_K.key_id == bindparam("p_key"), _K.revoked_at.is_(None))
    .values(revoked_at=bindparam("p_revoked_at"))
)
_KEYS_OF_ACCOUNT = (
    select(schema.api_keys)
    .where(_K.account_id == bindparam("p_account"))
    .order_by(_K.created_at, _K.key_id)
)


def insert_key(connection: Connection, row: Mapping[str, Any]) -> None:
    connection.execute(_INSERT_KEY, dict(row))


def key_row(connection: Connection, key_id: str) -> Row[*tuple[Any, ...]] | None:
    """The stored key (every column), if there is one with this id."""
    return connection.execute(_KEY_BY_ID, {"p_key": key_id}).first()


def revoke_key(connection: Connection, key_id: str, at: datetime) -> None:
    """Revoke a live key at `at`; a revoked key keeps its first revocation time."""
    connection.execute(_REVOKE_KEY, {"p_key": key_id, "p_revoked_at": at})


def key_rows_of_account(connection: Connection, account_id: str) -> Sequence[Row[*tuple[Any, ...]]]:
    """The keys stored under `account_id` (every column), oldest first."""
    return connection.execute(_KEYS_OF_ACCOUNT, {"p_account": account_id}).all()
