"""Grants: credits given to an account (bonus, top-up, adjustment), or an adjustment that
takes credits away in spend order."""

from __future__ import annotations

from datetime import datetime

from creditbook.domain.amounts import MAX_ABS_MILLICREDITS, Credits
from creditbook.domain.errors import AmountRangeError, ValidationError
from creditbook.domain.grants import (
    DEFAULT_PRIORITY,
    GRANT_TRANSACTION_TYPE,
    GrantSource,
    TransactionType,
)
from creditbook.domain.periods import rfc3339
from creditbook.domain.requests import GrantRequest
from creditbook.engine import idempotency
from creditbook.engine.account import catch_up
from creditbook.engine.account.lines import Line, Posted, draws_total
from creditbook.engine.account.state import AccountTx
from creditbook.engine.context import Context
from creditbook.engine.results import Grant
from creditbook.engine.validation import check_grant
from creditbook.store.queries import grants as queries


def grant(context: Context, request: GrantRequest) -> Grant:
    """Give credits: a bonus, a purchased top-up or an operator adjustment.

    A negative adjustment takes credits away in spend order (refused when the account
    does not hold them).
    """
    source = GrantSource(request.source)
    amount, pool, priority = request.amount, request.pool, request.priority
    effective_at, expires_at = request.effective_at, request.expires_at
    check_grant(source, amount, priority, request.description, effective_at, expires_at)
    fields = {
        "amount": amount.millicredits,
        "source": source.value,
        "pool": pool,
        "priority": priority,
        "effective_at": effective_at,
        "expires_at": expires_at,
        "description": request.description,
    }

    def body(tx: AccountTx) -> Grant:
        target = pool or default_pool(tx)
        tx.check_pool(target)
        if expires_at is not None and expires_at <= tx.now:
            raise ValidationError("expires_at must be in the future", field="expires_at")
        kind = GRANT_TRANSACTION_TYPE[source]
        text = request.description or kind.value.replace("_", " ").capitalize()
        if amount.is_negative():
            return _debit_adjustment(tx, target, -amount, text)
        grant_id, posted = add_grant(
            tx,
            target,
            source,
            amount,
            priority=priority,
            effective_at=effective_at,
            expires_at=expires_at,
            description=text,
        )
        return Grant(
            grant_id,
            request.account_id,
            target,
            source,
            priority if priority is not None else DEFAULT_PRIORITY[source],
            amount,
            # What the grant holds: overdraft debt in the pool was settled first.
            Credits(queries.remaining(tx.connection, tx.account_id, grant_id)),
            effective_at or tx.now,
            expires_at,
            posted.transfer_id,
        )

    return idempotency.write(
        context, request.account_id, "grant", fields, request.idempotency_key, Grant, body
    )


def add_grant(
    tx: AccountTx,
    pool: str,
    source: GrantSource,
    amount: Credits,
    *,
    priority: int | None,
    expires_at: datetime | None,
    description: str,
    effective_at: datetime | None = None,
) -> tuple[str, Posted]:
    """Create and fund a grant of a positive `amount` (refused when the account's granted
    credits would leave the amount range), with its `credits.granted` event."""
    _check_granted_total(tx, amount)
    grant_id = tx.create_grant(
        pool,
        source,
        priority=priority,
        effective_at=effective_at,
        expires_at=expires_at,
        description=description,
    )
    posted = tx.fund_grant(
        GRANT_TRANSACTION_TYPE[source], pool, grant_id, amount, description=description
    )
    _granted(tx, pool, grant_id, source, amount, posted.transfer_id, expires_at)
    return grant_id, posted


def _granted(
    tx: AccountTx,
    pool: str,
    grant_id: str,
    source: GrantSource,
    amount: Credits,
    transfer_id: str,
    expires_at: datetime | None,
) -> None:
    """`credits.granted`, and `credits.expiring` at once if it expires within the notice."""
    tx.emit(
        "credits.granted",
        pool,
        {
            "grant_id": grant_id,
            "source": source.value,
            "amount": amount.millicredits,
            "expires_at": None if expires_at is None else rfc3339(expires_at),
        },
        transfer_id=transfer_id,
    )
    if expires_at is not None:
        catch_up.notify_expiring(tx)


def _check_granted_total(tx: AccountTx, amount: Credits) -> None:
    """Refuse a grant that would take the account's granted credits (which bound every
    balance, pool and stats total it can show) beyond the amount range."""
    granted = queries.granted_total(tx.connection, tx.account_id)
    if granted + amount.millicredits > MAX_ABS_MILLICREDITS:
        raise AmountRangeError(
            f"this grant would take the credits granted to account {tx.account_id} beyond "
            f"{MAX_ABS_MILLICREDITS // 1000:,} credits",
            field="amount",
        )


def _debit_adjustment(tx: AccountTx, pool: str, amount: Credits, text: str) -> Grant:
    lines = tx.plan_draws(pool, amount, partial=False)
    lines.append(Line("spent", draws_total(lines)))
    posted = tx.post(TransactionType.ADJUSTMENT, pool, lines, description=text)
    return Grant(
        "",
        tx.account_id,
        pool,
        GrantSource.ADJUSTMENT,
        0,
        -amount,
        Credits(0),
        tx.now,
        None,
        posted.transfer_id,
    )


def default_pool(tx: AccountTx) -> str:
    """The plan's only pool; a plan with several needs the caller to name one."""
    pools = tx.plan.pools
    if len(pools) != 1:
        raise ValidationError(
            f"plan {tx.plan.plan_id!r} has pools {', '.join(pools)}: name one",
            field="pool",
        )
    return pools[0]
