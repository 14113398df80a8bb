"""The sweeper: applying what is due (resets, rollovers, expiries) on accounts, one at a
time on read or in bulk on a tick; and the database health check."""

from __future__ import annotations

from creditbook.domain.errors import NotFoundError
from creditbook.engine import idempotency
from creditbook.engine.account.state import AccountTx
from creditbook.engine.context import Context
from creditbook.store.queries import accounts as account_queries
from creditbook.store.queries import sweep as queries


def _nothing(tx: AccountTx) -> None:
    """A write that only catches the account up."""


def _catch_up(context: Context, account_id: str) -> None:
    idempotency.write(context, account_id, "touch", {}, None, type(None), _nothing)


def touch(context: Context, account_id: str) -> None:
    """Apply what is due on an account (resets, rollovers, expiries) if anything is."""
    now = context.now()
    due = context.run(lambda c: account_queries.next_event_at(c, account_id), read_only=True)
    if due is None:
        raise NotFoundError("account", account_id)
    if due <= now:
        _catch_up(context, account_id)


def tick(context: Context, limit: int) -> int:
    """Catch up accounts with something due; returns how many were touched."""
    now = context.now()
    due = context.run(lambda c: queries.due_accounts(c, now, limit), read_only=True)
    for account_id in due:
        _catch_up(context, account_id)
    return len(due)


def ping(context: Context) -> None:
    """Raise unless the database answers a query."""
    context.run(queries.ping, read_only=True)
