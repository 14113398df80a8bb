"""Auto-recharge: buy a pack on the saved card when a write takes a pool below a threshold.

The threshold is an alert rule of its own (kept in the account's alert state beside the
account's rules), so the outbox records one `balance.low` per crossing, under the account
lock. When the dispatcher queues that event it also queues one recharge for it, in the same
transaction (`queue`): a crossing starts at most one recharge, whatever the number of
processes. The dispatcher then asks Stripe for an off-session PaymentIntent whose
idempotency key is derived from the event (`process_due`), so a dispatcher killed between
the call and its record asks again and gets the same PaymentIntent. Credits are granted when
the payment succeeds (its notification, or at once when Stripe answers `succeeded`:
fulfilment is once per PaymentIntent either way). A declined card records
`auto_recharge.failed` and pauses auto-recharge until the card changes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from creditbook.domain.errors import NotFoundError, PaymentProviderError, StateError
from creditbook.domain.payments import AutoRecharge, CreditPack
from creditbook.engine.account.lines import new_id
from creditbook.engine.account.state import AccountTx
from creditbook.engine.context import Context
from creditbook.engine.events import outbox
from creditbook.engine.payments import checkout as meta
from creditbook.engine.payments.packs import pack_of
from creditbook.engine.payments.results import AutoRechargeState, Recharge
from creditbook.engine.payments.stripe_api import CardDeclined, StripeGateway
from creditbook.store.queries import payments as queries

log = logging.getLogger("creditbook.payments")

# A recharge requested of Stripe and not yet settled holds back the next one this long.
UNDER_WAY = timedelta(hours=24)
RECENT_RECHARGES = 10


def set_auto_recharge(
    context: Context, account_id: str, settings: AutoRecharge | None
) -> AutoRechargeState:
    """Set (None: remove) the account's auto-recharge. Its threshold takes effect at once:
    a pool already below it gets its `balance.low`, and so a recharge."""

    def body(tx: AccountTx) -> AutoRechargeState:
        connection = tx.connection
        stored: dict[str, Any] | None = None
        trigger: tuple[str, int] | None = None
        if settings is not None:
            pack = pack_of(connection, settings.pack_id)
            if not pack.active:
                raise StateError(f"credit pack {pack.pack_id!r} is no longer sold")
            pack.price(settings.currency)
            pool = pack.pool_in(tx.plan.plan_id, tx.plan.pools)
            stored = {**settings.to_body(), "pool": pool}
            if settings.enabled:
                trigger = (pool, settings.threshold.millicredits)
        queries.update_profile(connection, account_id, tx.now, auto_recharge=stored)
        outbox.set_recharge_trigger(tx, trigger)
        return _state(connection, account_id)

    return context.in_account(account_id, body)


def get_auto_recharge(context: Context, account_id: str) -> AutoRechargeState:
    def read(connection: Connection) -> AutoRechargeState:
        if queries.account_name_and_plan(connection, account_id) is None:
            raise NotFoundError("account", account_id)
        return _state(connection, account_id)

    return context.run(read, read_only=True)


def _state(connection: Connection, account_id: str) -> AutoRechargeState:
    profile = queries.profile(connection, account_id)
    recent = [
        Recharge.from_row(row)
        for row in queries.recharges_of(connection, account_id, RECENT_RECHARGES)
    ]
    if profile is None:
        return AutoRechargeState(account_id, None, None, None, None, None, None, recent)
    body = profile.auto_recharge
    return AutoRechargeState(
        account_id,
        None if body is None else AutoRecharge.from_body(body),
        None if body is None else body["pool"],
        profile.paused_at,
        profile.paused_reason,
        profile.customer_id,
        profile.payment_method_id,
        recent,
    )


def queue(connection: Connection, events: Sequence[Any], now: datetime) -> int:
    """Queue one recharge per `balance.low` event that crossed an account's auto-recharge
    threshold (called by the dispatcher in the transaction that queues the events)."""
    lows = [event for event in events if event.type == "balance.low"]
    rows = []
    for event in lows:
        profile = queries.profile(connection, event.account_id)
        body = None if profile is None else profile.auto_recharge
        if (
            body is None
            or not body.get("enabled", True)
            or body.get("pool") != event.pool
            or (event.data or {}).get("threshold") != body.get("threshold")
        ):
            continue
        rows.append(
            {
                "account_id": event.account_id,
                "recharge_id": new_id("rch_"),
                "event_id": event.event_id,
                "pack_id": body["pack_id"],
                "status": "due",
                "payment_intent_id": None,
                "reason": "",
                "created_at": now,
                "updated_at": now,
            }
        )
    queries.insert_recharges(connection, rows)
    return len(rows)


def process_due(context: Context, gateway: StripeGateway, limit: int = 20) -> int:
    """Ask Stripe for the payments of due recharges (the dispatcher's round). How many it
    settled one way or another."""
    due = context.run(lambda connection: queries.due_recharges(connection, limit), read_only=True)
    settled = 0
    for row in due:
        try:
            settled += _process(context, gateway, row)
        except PaymentProviderError as error:
            log.warning(
                "recharge %s for %s: will retry: %s", row.recharge_id, row.account_id, error
            )
    return settled


def _process(context: Context, gateway: StripeGateway, row: Any) -> int:
    refusal, plan = context.run(lambda connection: _decide(connection, row), read_only=True)
    if refusal is not None:
        status, reason = refusal
        _record(context, row, status, reason)
        return 1
    pack, settings, profile = plan
    card = profile.payment_method_id or gateway.newest_card(profile.customer_id)
    if card is None:
        _record(context, row, "failed", "no saved card")
        return 1
    currency, amount = pack.price(settings.currency)
    metadata = meta.purchase_metadata(
        row.account_id,
        pack.pack_id,
        1,
        pack.credits,
        profile.auto_recharge["pool"],
        "auto_recharge",
        row.recharge_id,
    )
    try:
        intent = gateway.create_payment_intent(
            {
                "amount": amount,
                "currency": currency,
                "customer": profile.customer_id,
                "payment_method": card,
                "off_session": True,
                "confirm": True,
                "description": f"Auto-recharge: {pack.name}",
                "metadata": metadata,
            },
            f"creditbook-recharge-{row.event_id}",
        )
    except CardDeclined as declined:
        _record(context, row, "failed", declined.message, declined.payment_intent_id)
        return 1
    intent_id = str(intent.id)

    def requested(connection: Connection) -> None:
        current = queries.recharge(connection, row.account_id, row.recharge_id)
        if current is not None and current.status == "due":
            queries.update_recharge(
                connection,
                row.account_id,
                row.recharge_id,
                status="requested",
                payment_intent_id=intent_id,
                updated_at=context.now(),
            )

    context.run(requested)
    if getattr(intent, "status", None) == "succeeded":
        from creditbook.engine.payments.fulfilment import fulfil_recharge

        fulfil_recharge(context, intent.to_dict())
    return 1


def _decide(connection: Connection, row: Any) -> tuple[tuple[str, str] | None, Any]:
    """Why the recharge must not be made (status, reason), or what it is made of."""
    profile = queries.profile(connection, row.account_id)
    if profile is None or profile.auto_recharge is None:
        return ("skipped", "auto-recharge is off"), None
    body = profile.auto_recharge
    if not body.get("enabled", True):
        return ("skipped", "auto-recharge is off"), None
    if profile.paused_at is not None:
        return ("skipped", f"auto-recharge is paused: {profile.paused_reason}"), None
    settings = AutoRecharge.from_body(body)
    now = row.created_at
    since = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if queries.count_recharges(connection, row.account_id, ("requested",), now - UNDER_WAY) > 0:
        return ("skipped", "a recharge is under way"), None
    made = queries.count_recharges(connection, row.account_id, ("requested", "succeeded"), since)
    if made >= settings.max_per_month:
        return ("skipped", f"monthly limit of {settings.max_per_month} recharges reached"), None
    if not profile.customer_id:
        return ("failed", "no saved card: buy a pack once through Checkout"), None
    pack: CreditPack = pack_of(connection, settings.pack_id)
    return None, (pack, settings, profile)


def _record(
    context: Context, row: Any, status: str, reason: str, intent_id: str | None = None
) -> None:
    """A recharge skipped or failed: recorded with `auto_recharge.failed` (a failure also
    pauses auto-recharge)."""

    def body(tx: AccountTx) -> None:
        if status == "failed":
            recharge_failed(tx, row.recharge_id, intent_id, reason)
        else:
            _end(tx, row.recharge_id, "skipped", reason, intent_id)

    context.in_account(row.account_id, body)


def recharge_failed(
    tx: AccountTx, recharge_id: str | None, intent_id: str | None, reason: str
) -> None:
    """Mark the recharge failed and pause auto-recharge (once, however many times Stripe
    and the dispatcher report the same failure)."""
    profile = queries.profile(tx.connection, tx.account_id)
    if recharge_id:
        if not _end(tx, recharge_id, "failed", reason, intent_id):
            return
    elif profile is not None and profile.paused_at is not None:
        return
    queries.update_profile(
        tx.connection, tx.account_id, tx.now, paused_at=tx.now, paused_reason=reason
    )


def _end(tx: AccountTx, recharge_id: str, status: str, reason: str, intent_id: str | None) -> bool:
    """End a recharge not ended yet, with its `auto_recharge.failed` event. False: ended."""
    current = queries.recharge(tx.connection, tx.account_id, recharge_id)
    if current is None or current.status in ("failed", "skipped", "succeeded"):
        return False
    queries.update_recharge(
        tx.connection,
        tx.account_id,
        recharge_id,
        status=status,
        reason=reason,
        payment_intent_id=intent_id or current.payment_intent_id,
        updated_at=tx.now,
    )
    profile = queries.profile(tx.connection, tx.account_id)
    pool = (profile.auto_recharge or {}).get("pool", "") if profile is not None else ""
    tx.emit(
        "auto_recharge.failed",
        pool,
        {
            "recharge_id": recharge_id,
            "pack_id": current.pack_id,
            "status": status,
            "reason": reason,
            "payment_intent_id": intent_id or current.payment_intent_id,
        },
    )
    return True
