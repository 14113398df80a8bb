"""The outbox: events written by the transaction that causes them, under the account lock.

A write calls `AccountTx.emit` for what it did (a grant, an expiry, a renewal, a run), and
`settle` at its end evaluates the balance alerts of every pool the write touched (or a charge
refused on) and inserts the transaction's events, numbered per account from
`accounts.last_event_seq`. A write that rolls back takes its events with it; one that
commits cannot lose them. Writes on an account are serialised by its lock, so a burst of
charges crosses a threshold in exactly one of them: exactly one `balance.low`.

The account row's `alerts` column keeps the account's own rules (absent: the plan's) and the
state the alerts are in: `{"rules": [...], "low": {pool: [rule keys]}, "depleted": [pools]}`.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from creditbook.domain.alerts import AlertRule, PoolState, evaluate, is_quiet
from creditbook.domain.amounts import Credits
from creditbook.engine.account import spending
from creditbook.store.queries import events as queries

if TYPE_CHECKING:
    from creditbook.engine.account.state import AccountTx


def rules_of(tx: AccountTx) -> tuple[tuple[AlertRule, ...], str]:
    """The rules in force on the account, and where they come from (`account` or `plan`)."""
    own = tx.alerts.get("rules")
    recharge = tx.alerts.get("recharge")
    if own is None:
        rules, source = tx.plan.alerts, "plan"
    else:
        key = tuple((rule["pool"], rule.get("credits"), rule.get("percent")) for rule in own)
        rules, source = _parsed(key), "account"
    if recharge is not None:
        rules = _with_recharge(rules, recharge["pool"], recharge["credits"])
    return rules, source


@functools.lru_cache(maxsize=4096)
def _rules_of_pool(rules: tuple[AlertRule, ...], pool: str) -> tuple[AlertRule, ...]:
    return tuple(rule for rule in rules if rule.pool == pool)


@functools.lru_cache(maxsize=4096)
def _with_recharge(rules: tuple[AlertRule, ...], pool: str, credits: int) -> tuple[AlertRule, ...]:
    """The rules and the auto-recharge threshold (a rule of its own, unless one of the
    rules is the same threshold already)."""
    rule = AlertRule(pool, credits=Credits(credits))
    return rules if any(other.key == rule.key for other in rules) else (*rules, rule)


@functools.lru_cache(maxsize=4096)
def _parsed(rules: tuple[tuple[str, int | None, str | None], ...]) -> tuple[AlertRule, ...]:
    """Stored rules, parsed once per process (charges evaluate them every time)."""
    return tuple(
        AlertRule.from_body(
            {"pool": pool, "credits": credits}
            if credits is not None
            else {"pool": pool, "percent": percent}
        )
        for pool, credits, percent in rules
    )


def pool_state(tx: AccountTx, pool: str) -> PoolState:
    low = tx.alerts.get("low", {}).get(pool, ())
    return PoolState(frozenset(low), pool in tx.alerts.get("depleted", ()))


def available(tx: AccountTx, pool: str) -> int:
    """The pool's available credits now, in millicredits (debt on the overdraft grant
    counts against them; held credits are not available)."""
    known = tx.known_available.get(pool)
    if known is not None:
        return known
    return sum(grant.remaining.millicredits for grant in spending.open_grants(tx, pool))


def settle(tx: AccountTx) -> None:
    """Evaluate the alerts of the pools this transaction touched, then write its events and
    the account's alert state (only when there is something to write)."""
    pools = set(tx.pool_changes) | set(tx.refused)
    if pools:
        evaluate_pools(tx, sorted(pools))
    if tx.pending_events or tx.alerts_dirty:
        queries.insert_events(tx.connection, tx.pending_events)
        queries.save_alerts(tx.connection, tx.account_id, tx.alerts, tx.last_event_seq)
        tx.pending_events = []
        tx.alerts_dirty = False


def evaluate_pools(tx: AccountTx, pools: list[str]) -> None:
    """Record the alert transitions of `pools` and keep their new state. Charges call it
    after each charge, so a pool with nothing to report is told apart first, without
    building its state."""
    rules, _ = rules_of(tx)
    for pool in pools:
        pool_rules = _rules_of_pool(rules, pool)
        allowance = tx.plan.allowance(pool)
        left = available(tx, pool)
        refused = tx.refused.get(pool)
        if is_quiet(
            pool_rules,
            allowance,
            left,
            low=bool(tx.alerts.get("low", {}).get(pool)),
            depleted=pool in tx.alerts.get("depleted", ()),
            refused=refused,
        ):
            continue
        before = pool_state(tx, pool)
        transitions, after = evaluate(
            pool_rules,
            allowance,
            left,
            before,
            credited=tx.pool_changes.get(pool, False),
            refused=refused,
        )
        for transition in transitions:
            tx.emit(
                transition.type,
                pool,
                transition.data,
                transfer_id=tx.last_transfer.get(pool, ""),
            )
        if after != before:
            set_pool_state(tx, pool, after)


def set_pool_state(tx: AccountTx, pool: str, state: PoolState) -> None:
    low: dict[str, list[str]] = dict(tx.alerts.get("low", {}))
    if state.low:
        low[pool] = sorted(state.low)
    else:
        low.pop(pool, None)
    depleted = set(tx.alerts.get("depleted", ())) - {pool}
    if state.depleted:
        depleted.add(pool)
    tx.alerts = {**tx.alerts, "low": low, "depleted": sorted(depleted)}
    tx.alerts_dirty = True


def set_rules(tx: AccountTx, rules: tuple[AlertRule, ...] | None) -> None:
    """Replace the account's own rules (None: back to the plan's). Rules kept as they were
    keep their state; the others start over and are evaluated at once, so a pool already
    below a new threshold gets its `balance.low` now."""
    alerts: dict[str, Any] = {**tx.alerts}
    if rules is None:
        alerts.pop("rules", None)
    else:
        alerts["rules"] = [rule.to_body() for rule in rules]
    _restate(tx, alerts)


def set_recharge_trigger(tx: AccountTx, trigger: tuple[str, int] | None) -> None:
    """Watch `trigger` (pool, threshold in millicredits) for auto-recharge, or stop (None).
    A pool already below a new threshold gets its `balance.low` now."""
    alerts: dict[str, Any] = {**tx.alerts}
    if trigger is None:
        alerts.pop("recharge", None)
    else:
        alerts["recharge"] = {"pool": trigger[0], "credits": trigger[1]}
    _restate(tx, alerts)


def _restate(tx: AccountTx, alerts: dict[str, Any]) -> None:
    """Take new rules: rules kept as they were keep their state; the others start over and
    are evaluated at once."""
    tx.alerts = alerts
    tx.alerts_dirty = True
    in_force, _ = rules_of(tx)
    keys = {rule.key for rule in in_force}
    low = {
        pool: kept
        for pool, stale in tx.alerts.get("low", {}).items()
        if (kept := [key for key in stale if key in keys])
    }
    tx.alerts = {**tx.alerts, "low": low}
    evaluate_pools(tx, list(tx.plan.pools))
