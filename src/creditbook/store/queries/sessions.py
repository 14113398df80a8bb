"""Named queries over ended dashboard sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, bindparam, delete, select

from creditbook.store import schema

_S = schema.ended_sessions.c
_FORGET_EXPIRED = delete(schema.ended_sessions).where(
    _S.account_id == bindparam("p_account"), _S.expires_at < bindparam("p_now")
)
_INSERT_ENDED = schema.ended_sessions.insert()
_ENDED = select(_S.session_id).where(
    _S.account_id == bindparam("p_account"), _S.session_id == bindparam("p_session")
)


def forget_expired(connection: Connection, account_id: str, now: datetime) -> None:
    """Delete the account's records whose cookies can no longer be accepted."""
    connection.execute(_FORGET_EXPIRED, {"p_account": account_id, "p_now": now})


def insert_ended(
    connection: Connection,
    account_id: str,
    session_id: str,
    key_id: str,
    ended_at: datetime,
    expires_at: datetime,
) -> None:
    connection.execute(
        _INSERT_ENDED,
        {
            "account_id": account_id,
            "session_id": session_id,
            "key_id": key_id,
            "ended_at": ended_at,
            "expires_at": expires_at,
        },
    )


def is_ended(connection: Connection, account_id: str, session_id: str) -> bool:
    found = connection.execute(_ENDED, {"p_account": account_id, "p_session": session_id})
    return found.first() is not None
