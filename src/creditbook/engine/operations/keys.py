"""API keys and dashboard sessions: issuing, revoking, authenticating, signing out."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy import Connection

from creditbook.domain.errors import ValidationError
from creditbook.domain.requests import CreateKeyRequest, Scope
from creditbook.engine import idempotency, keys, sessions
from creditbook.engine.account.state import AccountTx
from creditbook.engine.context import Context
from creditbook.engine.keys import ApiKey, IssuedKey
from creditbook.engine.validation import check_attribute, check_text
from creditbook.store import schema

MAX_SESSION_LIFETIME_S = 7 * 24 * 3600


def create_key(context: Context, request: CreateKeyRequest) -> IssuedKey:
    """Issue an API key: an operator key (account_id None) or an account key.

    The secret is returned once and stored only as a hash.
    """
    scope = Scope(request.scope)
    account_id, user_id, name = request.account_id, request.user_id, request.name
    if (scope is Scope.OPERATOR) != (account_id is None):
        raise ValidationError("operator keys have no account; account keys need one", field="scope")
    check_attribute("user_id", user_id)
    check_text("name", name, schema.NAME)
    fields = {"scope": scope.value, "user_id": user_id, "name": name}
    if account_id is None:
        return context.run(lambda c: keys.insert(c, None, scope, user_id, name, context.now()))

    def body(tx: AccountTx) -> IssuedKey:
        return keys.insert(tx.connection, tx.account_id, scope, user_id, name, tx.now)

    return idempotency.write(
        context,
        account_id,
        "create_key",
        fields,
        request.idempotency_key,
        IssuedKey,
        body,
        remember_as=lambda result: replace(result, secret=None),
    )


def revoke_key(context: Context, key_id: str) -> ApiKey:
    """Revoke a key now. Idempotent: a revoked key is answered as it is, unchanged."""
    return context.run(lambda c: keys.revoke(c, key_id, context.now()))


def end_session(context: Context, key_id: str, session_id: str, lifetime_s: int) -> None:
    """Sign a dashboard session of `key_id` out for good, recorded for `lifetime_s`."""
    if not 1 <= lifetime_s <= MAX_SESSION_LIFETIME_S:
        raise ValidationError(
            f"a session lives within 1..{MAX_SESSION_LIFETIME_S} s", field="lifetime_s"
        )
    sessions.check_session_id(session_id)
    now = context.now()
    expires_at = now + timedelta(seconds=lifetime_s)

    def transaction(connection: Connection) -> None:
        key = keys.get(connection, key_id)
        sessions.end(connection, key.account_id, session_id, key_id, now, expires_at)

    context.run(transaction)
