"""Balance alerts: an account's rules (its own, or its plan's defaults) and their state, and
the `balance.depleted` a refused charge records."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from creditbook.domain.alerts import AlertRule, check_rules
from creditbook.domain.amounts import Credits
from creditbook.domain.errors import InsufficientCreditsError, NotFoundError
from creditbook.engine import idempotency
from creditbook.engine.account.state import AccountTx
from creditbook.engine.context import Context
from creditbook.engine.events import outbox
from creditbook.store.queries import events as queries


@dataclass(frozen=True, slots=True)
class PoolAlerts:
    """One pool now: available credits, the thresholds it is below, whether depleted."""

    pool: str
    available: Credits
    low: list[Credits]
    depleted: bool


@dataclass(frozen=True, slots=True)
class Alerts:
    """The rules in force on an account, where they come from, and each pool's state."""

    account_id: str
    source: str
    rules: list[AlertRule]
    pools: list[PoolAlerts]


def _alerts(tx: AccountTx) -> Alerts:
    rules, source = outbox.rules_of(tx)
    pools = []
    for pool in tx.plan.pools:
        state = outbox.pool_state(tx, pool)
        allowance = tx.plan.allowance(pool)
        low = sorted(
            Credits(threshold)
            for rule in rules
            if rule.key in state.low and (threshold := rule.threshold(allowance)) is not None
        )
        # A stored figure: beyond the amount range on a database written before the bound.
        available = Credits.unbounded(outbox.available(tx, pool))
        pools.append(PoolAlerts(pool, available, low, state.depleted))
    return Alerts(tx.account_id, source, list(rules), pools)


def set_alerts(context: Context, account_id: str, rules: tuple[AlertRule, ...] | None) -> Alerts:
    """Set the account's own alert rules (None: use its plan's). A pool already below a
    new threshold gets its `balance.low` at once."""

    def body(tx: AccountTx) -> Alerts:
        if rules is not None:
            check_rules(rules, tx.plan.pools)
        outbox.set_rules(tx, rules)
        return _alerts(tx)

    return idempotency.write(context, account_id, "set_alerts", {}, None, Alerts, body)


def get_alerts(context: Context, account_id: str) -> Alerts:
    """The account's alerts as they stand (read without the lock; the caller catches the
    account up first)."""

    def transaction(connection: Connection) -> Alerts:
        row = queries.account_row(connection, account_id)
        if row is None:
            raise NotFoundError("account", account_id)
        plan = context.plan(connection, row.plan_id)
        return _alerts(AccountTx(connection, row, plan, context.now()))

    return context.run(transaction, read_only=True)


def record_refusal(context: Context, account_id: str, error: InsufficientCreditsError) -> None:
    """A charge refused for lack of credits depletes its pool: record `balance.depleted`
    (once until the pool recovers), in a transaction of its own after the refusal."""
    state = context.run(lambda c: queries.alerts_of(c, account_id), read_only=True)
    if state is None or error.pool in state.get("depleted", ()):
        return  # no such account, or already depleted: nothing to record

    def body(tx: AccountTx) -> None:
        tx.refused[error.pool] = error.requested_millicredits

    try:
        idempotency.write(context, account_id, "refusal", {}, None, type(None), body)
    except NotFoundError:
        return
