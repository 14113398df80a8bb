"""Idempotency by client-chosen keys: a replay of a request is answered like the first;
the same key with another request is an `IdempotencyConflictError`.

A request is remembered by the SHA-256 of its canonical JSON (operation name included), so
the hash of a request never changes: replays of answers stored long ago still match.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, TypeVar

from pydantic import TypeAdapter
from sqlalchemy import Connection

from creditbook.domain.errors import IdempotencyConflictError
from creditbook.engine.account.state import AccountTx
from creditbook.engine.context import Context
from creditbook.engine.validation import check_key
from creditbook.store.queries import idempotency as queries

T = TypeVar("T")

_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}


def adapter(kind: Any) -> TypeAdapter[Any]:
    """One TypeAdapter per result type: building one costs about a millisecond."""
    found = _ADAPTERS.get(kind)
    if found is None:
        found = _ADAPTERS[kind] = TypeAdapter(kind)
    return found


def hash_request(operation: str, request: Mapping[str, Any]) -> str:
    canonical = json.dumps({"operation": operation, **request}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _mark_replayed(result: Any) -> Any:
    return replace(result, replayed=True)


def replay(
    connection: Connection,
    scope: str,
    key: str,
    request_hash: str,
    kind: Any,
    *,
    shown_key: str | None = None,
    mark: Callable[[Any], Any] = _mark_replayed,
) -> Any | None:
    """The answer stored under `key` in `scope`, marked as a replay by `mark` (None: the
    key is new). A key stored with another request raises IdempotencyConflictError, naming
    `shown_key` (the caller's own key, when the stored key is derived from it)."""
    row = queries.stored(connection, scope, key)
    if row is None:
        return None
    return _answer(row.request_hash, row.response, request_hash, kind, shown_key or key, mark)


def _answer(
    stored_hash: str,
    response: Any,
    request_hash: str,
    kind: Any,
    shown_key: str,
    mark: Callable[[Any], Any],
) -> Any:
    if stored_hash != request_hash:
        raise IdempotencyConflictError(shown_key)
    return mark(adapter(kind).validate_python(response))


def replay_locked(tx: AccountTx, key: str, request_hash: str, kind: Any) -> Any | None:
    """`replay` in the locked account's scope for a deferred write (see
    `remember_deferred`): the answer this transaction is about to store under `key`, else
    the one the lock read, else (when the lock could not read it) the database's."""
    pending = tx.pending_keys.get(key)
    if pending is not None:
        response = json.loads(pending["response"])
        return _answer(pending["request_hash"], response, request_hash, kind, key, _mark_replayed)
    if tx.stored_keys is None:
        return replay(tx.connection, tx.account_id, key, request_hash, kind)
    row = tx.stored_keys.get(key)
    if row is None:
        return None
    return _answer(row.request_hash, row.response, request_hash, kind, key, _mark_replayed)


def remember(
    context: Context,
    connection: Connection,
    scope: str,
    key: str,
    operation: str,
    request_hash: str,
    result: Any,
    kind: Any = None,
) -> None:
    """Store `result` (of type `kind`, default its own type) under `key` in `scope`."""
    response = adapter(type(result) if kind is None else kind).dump_python(result, mode="json")
    queries.store(connection, scope, key, operation, request_hash, response, context.now())


def remember_deferred(
    tx: AccountTx, key: str, operation: str, request_hash: str, result: Any
) -> None:
    """`remember` in the locked account's scope, written with the account's deferred rows
    (one statement with them on PostgreSQL); a replay in the same transaction finds it."""
    response = adapter(type(result)).dump_python(result, mode="json")
    tx.pending_keys[key] = {
        "account_id": tx.account_id,
        "key": key,
        "operation": operation,
        "request_hash": request_hash,
        "response": json.dumps(response),
        "created_at": tx.now,
    }


def write(
    context: Context,
    account_id: str,
    operation: str,
    request: Mapping[str, Any],
    key: str | None,
    result_type: Any,
    body: Callable[[AccountTx], T],
    remember_as: Callable[[T], T] | None = None,
    *,
    grants: bool = False,
) -> T:
    """Run `body` on the locked, caught-up account, once per idempotency key.

    `remember_as` shapes what is stored for replays (key secrets are never stored); `grants`
    has the lock read the account's open grants too (for writes that draw on them). The
    lock also reads the answer stored under the key (one statement on PostgreSQL).
    """
    check_key(key)
    # Hash only when there is a key to remember the request under.
    request_hash = "" if key is None else hash_request(operation, request)

    def transaction(connection: Connection) -> T:
        keys = [] if key is None else [key]
        tx = context.lock(connection, account_id, context.now(), grants=grants, keys=keys)
        if key is not None:
            replayed: T | None = replay_locked(tx, key, request_hash, result_type)
            if replayed is not None:
                return replayed
        tx.catch_up()
        result = body(tx)
        if key is not None:
            stored = result if remember_as is None else remember_as(result)
            remember(context, connection, account_id, key, operation, request_hash, stored)
        tx.finish()
        return result

    return context.run(transaction)
