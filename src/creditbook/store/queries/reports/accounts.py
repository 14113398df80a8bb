"""Accounts and holds as stored."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select

from creditbook.store import schema


def account(account_id: str) -> Select[Any]:
    """The account's row."""
    return select(schema.accounts).where(schema.accounts.c.account_id == account_id)


def accounts_page(limit: int, after: str | None) -> Select[Any]:
    """Up to `limit` accounts in id order, after the id `after`."""
    table = schema.accounts.c
    query = select(schema.accounts).order_by(table.account_id).limit(limit)
    if after is not None:
        query = query.where(table.account_id > after)
    return query


def hold(account_id: str, hold_id: str) -> Select[Any]:
    """The hold's row."""
    holds = schema.holds.c
    return select(schema.holds).where(holds.account_id == account_id, holds.hold_id == hold_id)
