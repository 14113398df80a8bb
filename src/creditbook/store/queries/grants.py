"""Grants: what one holds, and ending a period's allowance early."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, func, select, update

from creditbook.domain.grants import GrantSource
from creditbook.store import schema
from creditbook.store.queries.sums import exact_sum

_GRANTS = schema.grants.c


def remaining(connection: Connection, account_id: str, grant_id: str) -> int:
    """What the grant holds now, in millicredits."""
    held: int = connection.execute(
        select(_GRANTS.remaining).where(
            _GRANTS.account_id == account_id, _GRANTS.grant_id == grant_id
        )
    ).scalar_one()
    return held


def granted_total(connection: Connection, account_id: str) -> int:
    """Every credit ever granted to the account, in millicredits: a bound on any balance,
    pool or stats total the account can show."""
    granted: int = connection.execute(
        select(func.coalesce(exact_sum(_GRANTS.amount), 0)).where(
            _GRANTS.account_id == account_id, _GRANTS.amount > 0
        )
    ).scalar_one()
    return int(granted)


def expire_open_allowances(connection: Connection, account_id: str, at: datetime) -> None:
    """Make the account's open allowance grants expire at `at`."""
    allowance_ids = (
        connection.execute(
            select(_GRANTS.grant_id).where(
                _GRANTS.account_id == account_id,
                _GRANTS.source == GrantSource.ALLOWANCE.value,
                _GRANTS.closed_at.is_(None),
            )
        )
        .scalars()
        .all()
    )
    connection.execute(
        update(schema.grants)
        .where(_GRANTS.account_id == account_id, _GRANTS.grant_id.in_(allowance_ids))
        .values(expires_at=at)
    )
