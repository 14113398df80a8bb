"""Accounts: opening one on a plan, moving it to another plan, updating its own data."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from creditbook.domain.errors import NotFoundError, StateError, ValidationError
from creditbook.domain.periods import (
    PeriodCalendar,
    PeriodError,
    check_instant,
    require_aware,
    zone,
)
from creditbook.domain.plans import check_identifier
from creditbook.domain.requests import (
    OPERATOR_SCOPE,
    ChangePlanRequest,
    OpenAccountRequest,
    UpdateAccountRequest,
)
from creditbook.engine import idempotency, reports
from creditbook.engine.account import spending
from creditbook.engine.account.lines import new_id
from creditbook.engine.account.state import AccountTx
from creditbook.engine.context import Context
from creditbook.engine.results import Account
from creditbook.engine.validation import check_metadata, check_text
from creditbook.store import schema
from creditbook.store.queries import accounts as queries
from creditbook.store.queries import grants as grant_queries


def open_account(context: Context, request: OpenAccountRequest) -> Account:
    """Open an account on a plan and grant its first period's allowance."""
    account_id = request.account_id or new_id("acct_")
    check_identifier("account_id", account_id)
    check_text("name", request.name)
    try:
        zone(request.timezone)
    except PeriodError as error:
        raise ValidationError(str(error), field="timezone") from None
    if request.billing_anchor_at is not None:
        check_instant("billing_anchor_at", request.billing_anchor_at)
    metadata = check_metadata(request.metadata or {})
    request_hash = _hash(request, metadata)
    key = request.idempotency_key

    def replay(connection: Connection) -> Account | None:
        if key is None:
            return None
        found: Account | None = idempotency.replay(
            connection, OPERATOR_SCOPE, key, request_hash, Account
        )
        return found

    def transaction(connection: Connection) -> Account:
        now = context.now()
        replayed = replay(connection)
        if replayed is not None:
            return replayed
        plan = context.plan(connection, request.plan_id)
        anchor = require_aware(request.billing_anchor_at or now)
        calendar = PeriodCalendar(plan.interval, anchor, request.timezone)
        index = calendar.index_at(now)
        if index < 0:
            raise ValidationError("billing anchor is in the future", field="billing_anchor_at")
        if queries.exists(connection, account_id):
            # On PostgreSQL each statement reads a fresh snapshot: a concurrent first use
            # of this key may have committed the account after the replay check above.
            # Its key row committed with it, so look again before refusing.
            replayed = replay(connection)
            if replayed is not None:
                return replayed
            raise StateError(f"account {account_id} already exists")
        account = Account(
            account_id,
            request.name,
            request.plan_id,
            request.timezone,
            anchor,
            now,
            False,
            metadata,
        )
        _write_new(context, connection, account, calendar, index)
        if key is not None:
            idempotency.remember(
                context, connection, OPERATOR_SCOPE, key, "open_account", request_hash, account
            )
        return account

    return context.run(transaction)


def _hash(request: OpenAccountRequest, metadata: dict[str, Any]) -> str:
    """The request's idempotency hash (the account id as requested: None when random)."""
    return idempotency.hash_request(
        "open_account",
        {
            "plan_id": request.plan_id,
            "account_id": request.account_id,
            "name": request.name,
            "timezone": request.timezone,
            "billing_anchor_at": request.billing_anchor_at,
            "metadata": metadata,
        },
    )


def _write_new(
    context: Context,
    connection: Connection,
    account: Account,
    calendar: PeriodCalendar,
    index: int,
) -> None:
    """Write the new account's row, then its overdraft grants and first allowance."""
    now = account.created_at
    queries.insert_account(
        connection,
        {
            "account_id": account.account_id,
            "name": account.name,
            "plan_id": account.plan_id,
            "timezone": account.timezone,
            "anchor_at": account.anchor_at,
            "period_index": index,
            "next_event_at": calendar.start_of(index + 1),
            "last_seq": 0,
            "has_unpaid_bill": False,
            "metadata": account.metadata,
            "created_at": now,
        },
    )
    tx = context.lock(connection, account.account_id, now)
    tx.ensure_overdraft_grants()
    tx.grant_allowance(index)
    tx.finish()


def change_plan(context: Context, request: ChangePlanRequest) -> Account:
    """Move an account to another plan now.

    The current period ends: its unused allowance expires (rollover applies under the
    old plan's policy), a new period starts now under the new plan with its full
    allowance. Bonus, rollover and purchased credits are kept.
    """
    account_id, plan_id = request.account_id, request.plan_id

    def body(tx: AccountTx) -> Account:
        new_plan = context.plan(tx.connection, plan_id)
        now = tx.now
        unused = tx._unused_allowance(tx.period_index)
        grant_queries.expire_open_allowances(tx.connection, account_id, now)
        tx._expire_grants(now)
        tx.plan = new_plan
        tx.anchor_at = now
        tx.period_index = 0
        tx._roll_over(unused, 0, now)
        tx.ensure_overdraft_grants()
        tx.grant_allowance(0)
        spending.set_overdraft_floors(tx)
        tx.next_event_at = tx._next_event(tx.calendar())
        tx.mark_dirty()
        row = tx.row
        return Account(
            account_id,
            row.name,
            plan_id,
            row.timezone,
            now,
            row.created_at,
            row.has_unpaid_bill,
            row.metadata,
        )

    return idempotency.write(
        context,
        account_id,
        "change_plan",
        {"plan_id": plan_id},
        request.idempotency_key,
        Account,
        body,
    )


def update_account(context: Context, request: UpdateAccountRequest) -> Account:
    """Change an account's name, metadata or unpaid-bill flag (plan: `change_plan`)."""
    values: dict[str, Any] = {}
    if request.name is not None:
        values["name"] = check_text("name", request.name, schema.NAME)
    if request.metadata is not None:
        values["metadata"] = check_metadata(request.metadata)
    if request.has_unpaid_bill is not None:
        values["has_unpaid_bill"] = bool(request.has_unpaid_bill)
    account_id = request.account_id

    def transaction(connection: Connection) -> Account:
        if values and not queries.update_values(connection, account_id, values):
            raise NotFoundError("account", account_id)
        return reports.account(connection, account_id)

    return context.run(transaction)
