"""API keys: a prefix, a random secret and a checksum; stored only as a hash.

A key reads `cb_<16 hex key id>_<32 base62 secret>_<8 hex crc32>`. The checksum lets a
typo be refused without a database lookup (and secret scanners recognise the shape); the
database keeps only the sha256 of the whole key, compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
import zlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from creditbook.domain.errors import (
    AuthenticationError,
    KeyRevokedError,
    NotFoundError,
    invariant,
)
from creditbook.domain.requests import Scope
from creditbook.store.queries import keys as key_queries

KEY_PATTERN = re.compile(r"^cb_([0-9a-f]{16})_([0-9A-Za-z]{32})_([0-9a-f]{8})$")
SECRET_ALPHABET = string.ascii_letters + string.digits
OPERATOR_ACCOUNT = ""


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A key's public face (never its secret).

    Attributes:
        key_id: `key_<16 hex>`, the handle to revoke it by.
        account_id: the account it acts for; None for an operator key.
        scope: operator, write or read.
        user_id: charges made with it are attributed to this user (account keys).
        prefix: the first characters of the key, to recognise it in a list.
    """

    key_id: str
    account_id: str | None
    scope: Scope
    user_id: str
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A new key and its secret. The secret exists only here: it is shown once.

    A replay of the same idempotent request returns the key with `secret` None.
    """

    key: ApiKey
    secret: str | None
    replayed: bool = False


def _checksum(body: str) -> str:
    return f"{zlib.crc32(body.encode()):08x}"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> tuple[str, str]:
    """A fresh (key_id, token)."""
    hex_id = secrets.token_hex(8)
    secret = "".join(secrets.choice(SECRET_ALPHABET) for _ in range(32))
    body = f"cb_{hex_id}_{secret}"
    return f"key_{hex_id}", f"{body}_{_checksum(body)}"


def parse(token: str) -> str | None:
    """The key id of a well-formed token with a valid checksum, else None."""
    match = KEY_PATTERN.match(token)
    if match is None:
        return None
    body = token.rsplit("_", 1)[0]
    if not hmac.compare_digest(_checksum(body), match.group(3)):
        return None
    return f"key_{match.group(1)}"


def _from_row(row: Any) -> ApiKey:
    hex_id = row.key_id.removeprefix("key_")
    return ApiKey(
        row.key_id,
        row.account_id or None,
        Scope(row.scope),
        row.user_id,
        row.name,
        f"cb_{hex_id}",
        row.created_at,
        row.revoked_at,
    )


def insert(
    connection: Connection,
    account_id: str | None,
    scope: Scope,
    user_id: str,
    name: str,
    now: datetime,
) -> IssuedKey:
    invariant((scope is Scope.OPERATOR) == (account_id is None), "operator keys have no account")
    key_id, token = new_token()
    key_queries.insert_key(
        connection,
        {
            "account_id": account_id or OPERATOR_ACCOUNT,
            "key_id": key_id,
            "scope": scope.value,
            "user_id": user_id,
            "name": name,
            "secret_hash": _hash(token),
            "created_at": now,
            "revoked_at": None,
        },
    )
    key = ApiKey(key_id, account_id, scope, user_id, name, token[:19], now, None)
    return IssuedKey(key, token)


def authenticate(connection: Connection, token: str) -> ApiKey:
    key_id = parse(token)
    if key_id is None:
        raise AuthenticationError("invalid API key")
    row = key_queries.key_row(connection, key_id)
    if row is None or not hmac.compare_digest(row.secret_hash, _hash(token)):
        raise AuthenticationError("invalid API key")
    if row.revoked_at is not None:
        raise KeyRevokedError("this API key has been revoked")
    return _from_row(row)


def revoke(connection: Connection, key_id: str, now: datetime) -> ApiKey:
    """Revoke the key at `now`. Revoking a revoked key changes nothing and answers the key
    as it is (with its first `revoked_at`), so a retry whose first answer was lost succeeds.
    The update only touches a live key: of two revocations at once, the first one's time
    stays."""
    key_queries.revoke_key(connection, key_id, now)
    return get(connection, key_id)


def get(connection: Connection, key_id: str) -> ApiKey:
    row = key_queries.key_row(connection, key_id)
    if row is None:
        raise NotFoundError("API key", key_id)
    return _from_row(row)


def of_account(connection: Connection, account_id: str | None) -> list[ApiKey]:
    rows = key_queries.key_rows_of_account(connection, account_id or OPERATOR_ACCOUNT)
    return [_from_row(row) for row in rows]
