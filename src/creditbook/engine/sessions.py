"""Signed-out dashboard sessions, so a copied session cookie stops working at sign-out.

A dashboard session lives in a signed cookie that names its key and a random session id;
nothing is stored while it is in use. Signing out records the session id here, and every
request refuses a recorded one. A record is needed only while the cookie could still be
accepted (its signature expires after the session's lifetime), so each sign-out first
deletes the account's records past their `expires_at`: the table holds at most the
sign-outs of one session lifetime.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import Connection

from creditbook.domain.errors import ValidationError, invariant
from creditbook.engine.keys import OPERATOR_ACCOUNT
from creditbook.store.queries import sessions as session_queries

# URL-safe base64 (what `secrets.token_urlsafe` gives), long enough not to be guessed and
# short enough for the identifier columns.
SESSION_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,64}")


def check_session_id(session_id: str) -> str:
    if not isinstance(session_id, str) or not SESSION_ID_PATTERN.fullmatch(session_id):
        raise ValidationError(
            f"session_id must match {SESSION_ID_PATTERN.pattern}", field="session_id"
        )
    return session_id


def end(
    connection: Connection,
    account_id: str | None,
    session_id: str,
    key_id: str,
    now: datetime,
    expires_at: datetime,
) -> None:
    """Record the session as ended until `expires_at` (again: nothing changes)."""
    invariant(now <= expires_at, "an ended session is remembered until its cookie expires")
    owner = account_id or OPERATOR_ACCOUNT
    session_queries.forget_expired(connection, owner, now)
    if is_ended(connection, account_id, session_id):
        return
    session_queries.insert_ended(connection, owner, session_id, key_id, now, expires_at)


def is_ended(connection: Connection, account_id: str | None, session_id: str) -> bool:
    return session_queries.is_ended(connection, account_id or OPERATOR_ACCOUNT, session_id)
