"""Accounts and holds as they stand."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from creditbook.domain.amounts import Credits
from creditbook.domain.errors import NotFoundError
from creditbook.engine.reports.paging import check_limit
from creditbook.engine.results import Account, Hold
from creditbook.store.queries.reports import accounts as queries

MAX_ACCOUNTS_PAGE = 1000


def account_row(connection: Connection, account_id: str) -> Any:
    """The account's row; NotFoundError for an unknown account."""
    row = connection.execute(queries.account(account_id)).first()
    if row is None:
        raise NotFoundError("account", account_id)
    return row


def account(connection: Connection, account_id: str) -> Account:
    return _account_from_row(account_row(connection, account_id))


def accounts(connection: Connection, limit: int, after: str | None) -> list[Account]:
    """Up to `limit` accounts in id order after the id `after`."""
    check_limit("limit", limit, MAX_ACCOUNTS_PAGE)
    rows = connection.execute(queries.accounts_page(limit, after))
    return [_account_from_row(row) for row in rows]


def hold(connection: Connection, account_id: str, hold_id: str) -> Hold:
    row = connection.execute(queries.hold(account_id, hold_id)).first()
    if row is None:
        raise NotFoundError("hold", hold_id)
    return hold_from_row(row)


def hold_from_row(row: Any) -> Hold:
    """A hold as its row (read here or on the driver) stands."""
    return Hold(
        row.hold_id,
        row.account_id,
        row.pool,
        Credits(row.amount),
        Credits(row.remaining),
        row.status,
        row.run_id,
        row.created_at,
        row.expires_at,
    )


def _account_from_row(row: Any) -> Account:
    return Account(
        row.account_id,
        row.name,
        row.plan_id,
        row.timezone,
        row.anchor_at,
        row.created_at,
        row.has_unpaid_bill,
        row.metadata,
    )
