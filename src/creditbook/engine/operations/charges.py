"""Charges: one at a time, or many in one commit where each item stands or falls alone."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import fields, replace
from typing import Any, cast

from anyio import to_thread
from sqlalchemy import Connection

from creditbook.domain.amounts import Credits
from creditbook.domain.errors import (
    CreditbookError,
    InsufficientCreditsError,
    InvariantError,
    NotFoundError,
    ValidationError,
)
from creditbook.domain.grants import TransactionType
from creditbook.domain.requests import (
    BATCH_KEY_PREFIX,
    MAX_BATCH_IDEMPOTENCY_KEY_CHARS,
    MAX_BATCH_ITEMS,
    ChargeBatchRequest,
    ChargeRequest,
)
from creditbook.engine import idempotency
from creditbook.engine.account.flush import flush_all, flush_guarded
from creditbook.engine.account.lines import Attribution, Line, draws_total
from creditbook.engine.account.state import AccountTx
from creditbook.engine.context import Context
from creditbook.engine.events import outbox
from creditbook.engine.operations.alerts import record_refusal
from creditbook.engine.operations.grants import default_pool
from creditbook.engine.results import BatchItemResult, Charge
from creditbook.engine.validation import check_charge, check_text
from creditbook.store.queries import accounts as account_queries
from creditbook.store.queries import charges as charge_queries
from creditbook.store.queries import hot

BATCH_RESULTS = list[BatchItemResult]


def charge(context: Context, request: ChargeRequest) -> Charge:
    """Charge an account raw credits or a priced function, in spend order. Concurrent
    charges of one process are merged (see `charge_many`)."""
    check_charge(request)
    try:
        return cast(Charge, context.run_merged(charge_many, request))
    except InsufficientCreditsError as error:
        record_refusal(context, request.account_id, error)
        raise


async def charge_async(context: Context, request: ChargeRequest) -> Charge:
    """`charge` for a caller on an event loop: while it waits for its group commit it holds
    no thread."""
    check_charge(request)
    try:
        return cast(Charge, await context.run_merged_async(charge_many, request))
    except InsufficientCreditsError as error:
        await to_thread.run_sync(record_refusal, context, request.account_id, error)
        raise


def charge_many(
    context: Context, connection: Connection, requests: list[ChargeRequest]
) -> list[tuple[Charge | None, Exception | None]]:
    """Checked charges in arrival order, as if each ran alone: each one's charge or its
    refusal, a refused charge writing nothing. Each account is locked, caught up and read
    once, and every table written once for them all. Each charge's balance alerts are
    evaluated right after it, so that an alert names the charge that crossed its threshold
    and the balance just after it. A refusal for lack of credits is answered, not
    recorded: the caller records it once the transaction is over, as a charge alone would.
    A charge that is its transaction's one write first tries without a lock, on PostgreSQL
    (`_charge_unlocked`); in a group's transaction it rides on the group's commit."""
    [first, *others] = requests
    if not others and first.resource_name is None and context.runs_alone(connection):
        with hot.each_on_its_own(connection) as unlocked:
            outcome = _charge_unlocked(context, connection, first) if unlocked else None
        if outcome is not None:
            return [outcome]
    locked = _lock_all(context, connection, requests)
    for tx in locked.values():
        tx.deferred = True  # the writes go out together (one statement on PostgreSQL)
    outcomes: list[tuple[Charge | None, Exception | None]] = []
    for request in requests:
        try:
            charged = _charge_item(context, locked, request)
        except CreditbookError as error:
            outcomes.append((None, error))
            continue
        outcomes.append((charged, None))
        tx = locked[request.account_id]
        if tx.pool_changes:
            outbox.evaluate_pools(tx, sorted(tx.pool_changes))
            tx.pool_changes = {}
    _finish_all(connection, locked)
    return outcomes


def _charge_unlocked(
    context: Context, connection: Connection, request: ChargeRequest
) -> tuple[Charge | None, Exception | None] | None:
    """One charge in two statements, each its own transaction: read the account without
    locking it (`hot.peek`), then write the charge only if the account row is still the
    version read (`flush.flush_guarded`), which no other write can have slipped between.
    Every write to an account locks its row first, so an account unchanged since the read
    had the same grants, holds and stored answers all along, and the charge is exactly
    what it would have been under the lock. A refusal is answered from the read alone.

    None, having written nothing: the charge takes the lock instead. So it does when the
    account changed in between, when something is due on it (catching up writes periods
    and expiries), when the charge would emit an event or change the account's alert
    state, and when there is no such account (the lock's path says so)."""
    now = context.now()
    key = request.idempotency_key
    found = hot.peek(connection, request.account_id, now, [key] if key else [])
    if found is None or found.version is None:
        return None
    tx = context.account_tx(connection, found, now)
    if now >= tx.next_event_at:
        return None
    tx.deferred = True
    try:
        charged = _charge_item(context, {tx.account_id: tx}, request)
    except CreditbookError as error:
        return None, error
    if tx.pool_changes:
        outbox.evaluate_pools(tx, sorted(tx.pool_changes))
    if tx.pending_events or tx.alerts_dirty or tx.account_dirty:
        return None
    if not flush_guarded(tx, found.version):
        return None
    return charged, None


def _finish_all(connection: Connection, locked: dict[str, AccountTx]) -> None:
    """Write what the locked accounts collected, their events, and their rows."""
    flush_all(list(locked.values()))
    for tx in locked.values():
        outbox.settle(tx)
    changed = [row for tx in locked.values() if (row := tx.changes()) is not None]
    if changed:
        hot.update_accounts(connection, changed)  # one statement for them all


def _charge_item(context: Context, locked: dict[str, AccountTx], request: ChargeRequest) -> Charge:
    """One checked charge on its locked account, once per idempotency key."""
    tx = locked.get(request.account_id)
    if tx is None:
        raise NotFoundError("account", request.account_id)
    key = request.idempotency_key
    if key is None:
        return charge_locked(context, tx, request)
    request_hash = idempotency.hash_request("charge", charge_fields(request))
    replay: Charge | None = idempotency.replay_locked(tx, key, request_hash, Charge)
    if replay is not None:
        return replay
    charged = charge_locked(context, tx, request)
    idempotency.remember_deferred(tx, key, "charge", request_hash, charged)
    return charged


def _price(
    context: Context, tx: AccountTx, request: ChargeRequest
) -> tuple[Credits, str, str, str, str]:
    """What the request costs, from which pool, for which function, module and service."""
    module, service = request.module, request.service
    if request.function is not None:
        rate_card_id = request.rate_card_id
        if rate_card_id is None:
            raise InvariantError("a checked priced charge names its rate card")
        card = context.card(tx.connection, rate_card_id)
        requested = card.rate_of(request.function) * request.quantity
        pool = request.pool or card.pool_of(request.function)
        return requested, pool, request.function, module or card.module, service or card.service
    if request.amount is None:
        raise InvariantError("a checked charge without a function has an amount")
    return request.amount, request.pool or default_pool(tx), "", module, service


def charge_locked(context: Context, tx: AccountTx, request: ChargeRequest) -> Charge:
    """Post the charge on the locked account (checked already)."""
    requested, pool, function, module, service = _price(context, tx, request)
    tx.check_pool(pool)
    if not requested.is_positive():
        raise ValidationError("the charge prices to zero credits", field="quantity")
    lines = tx.plan_draws(pool, requested, partial=request.partial)
    charged = draws_total(lines)
    if charged == 0:
        raise InsufficientCreditsError(pool, requested.millicredits, 0)
    lines.append(Line("spent", charged))
    attribution = Attribution(
        function, module, service, request.user_id, request.resource_id, request.run_id
    )
    description = request.description or describe(function, request.quantity, charged)
    posted = tx.post(
        TransactionType.DEDUCTION,
        pool,
        lines,
        description=description,
        attribution=attribution,
        quantity=request.quantity,
    )
    tx.rollup(posted.created_at, pool, attribution, charged, request.quantity, 1)
    if request.resource_name is not None and request.resource_id:
        account_queries.name_resource(
            tx.connection, tx.account_id, request.resource_id, request.resource_name
        )
    return Charge(
        posted.transfer_id,
        tx.account_id,
        pool,
        requested,
        Credits(charged),
        function,
        request.quantity,
        module,
        service,
        request.user_id,
        request.resource_id,
        request.run_id,
        description,
        posted.created_at,
    )


def _batch_key(request: ChargeBatchRequest) -> tuple[str | None, str]:
    """The key the batch is remembered under (None: no key) and its request hash, computed
    only when there is a key."""
    if request.idempotency_key is None:
        return None, ""
    check_text("idempotency_key", request.idempotency_key, MAX_BATCH_IDEMPOTENCY_KEY_CHARS)
    items = [{**charge_fields(item), "key": item.idempotency_key} for item in request.charges]
    batch_hash = idempotency.hash_request("charge_batch", {"items": items})
    return BATCH_KEY_PREFIX + request.idempotency_key, batch_hash


def charge_batch(context: Context, request: ChargeBatchRequest) -> list[BatchItemResult]:
    """Many charges in one commit. Each item succeeds or fails alone; a failed item writes
    nothing. Items take their own idempotency keys; the batch key covers the whole batch
    (scoped to the caller's account or the operator): a replay returns the first results,
    each marked `replayed`, and a different batch under the same key is refused whole."""
    charges, scope = request.charges, request.scope
    if not 0 < len(charges) <= MAX_BATCH_ITEMS:
        raise ValidationError(f"a batch holds 1..{MAX_BATCH_ITEMS} charges", field="items")
    batch_key, batch_hash = _batch_key(request)

    def transaction(connection: Connection) -> list[BatchItemResult]:
        locked = _lock_all(context, connection, charges)
        if batch_key is not None:
            replay: list[BatchItemResult] | None = idempotency.replay(
                connection,
                scope,
                batch_key,
                batch_hash,
                BATCH_RESULTS,
                shown_key=request.idempotency_key,
                mark=_replayed_items,
            )
            if replay is not None:
                return replay
        for tx in locked.values():
            tx.deferred = True  # set-based writes for the whole batch
        results = [_batch_item(context, locked, index, item) for index, item in enumerate(charges)]
        if batch_key is not None:
            idempotency.remember(
                context,
                connection,
                scope,
                batch_key,
                "charge_batch",
                batch_hash,
                results,
                BATCH_RESULTS,
            )
        _finish_all(connection, locked)
        return results

    return context.run(transaction)


def _lock_all(
    context: Context, connection: Connection, charges: Sequence[ChargeRequest]
) -> dict[str, AccountTx]:
    """Lock and catch up every account the batch charges (those that exist). Charges of
    one account (a busy account's group) reserve a transfer number each with the lock, so
    that the account row is not written again at the end."""
    ids = sorted({item.account_id for item in charges})
    keys = sorted({item.idempotency_key for item in charges if item.idempotency_key})
    reserved = len(charges) if len(ids) == 1 else 1
    locked = context.lock_many(
        connection, ids, context.now(), grants=True, keys=keys, reserved=reserved
    )
    for tx in locked.values():
        tx.catch_up()
    return locked


def _replayed_items(items: list[BatchItemResult]) -> list[BatchItemResult]:
    return [
        replace(
            item,
            replayed=True,
            charge=None if item.charge is None else replace(item.charge, replayed=True),
        )
        for item in items
    ]


def _batch_item(
    context: Context, locked: dict[str, AccountTx], index: int, request: ChargeRequest
) -> BatchItemResult:
    try:
        check_charge(request)
        return BatchItemResult(index, charge=_charge_item(context, locked, request))
    except InsufficientCreditsError as error:
        tx = locked.get(request.account_id)
        if tx is not None:
            tx.refused.setdefault(error.pool, error.requested_millicredits)
        return BatchItemResult(index, error_code=error.code, error_message=error.message)
    except CreditbookError as error:
        return BatchItemResult(index, error_code=error.code, error_message=error.message)


# What a charge's request hash covers: every field but the key, by name.
_HASHED_FIELDS = tuple(
    field.name for field in fields(ChargeRequest) if field.name != "idempotency_key"
)


def charge_fields(request: ChargeRequest) -> dict[str, Any]:
    """A charge request as hashed for idempotency (its key is not part of it): its fields
    by name, the amount in millicredits. (`dataclasses.asdict` gave the same, at 24 µs a
    keyed charge: it copies every value deeply.)"""
    hashed = {name: getattr(request, name) for name in _HASHED_FIELDS}
    hashed["amount"] = None if request.amount is None else request.amount.millicredits
    return hashed


@functools.lru_cache(maxsize=4096)
def describe(function: str, quantity: int, charged: int) -> str:
    """The default description of a charge in the customer's history (remembered: most
    charges repeat a few functions and amounts, and rendering an amount takes Decimal
    arithmetic)."""
    if function:
        return f"{function} x {quantity}" if quantity else function
    return f"Charge of {Credits(charged)} credits"


def account_of_charge(context: Context, charge_id: str) -> str:
    """The account a charge belongs to; NotFoundError when there is no such charge."""
    account_id = context.run(
        lambda c: charge_queries.account_of_charge(c, charge_id), read_only=True
    )
    if account_id is None:
        raise NotFoundError("charge", charge_id)
    return str(account_id)
