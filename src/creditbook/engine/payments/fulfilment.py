"""Stripe's notifications, verified, turned into ledger facts.

- `checkout.session.completed` (when paid) and `checkout.session.async_payment_succeeded`
  grant the session's credits as a top-up; `payment_intent.succeeded` does the same for an
  auto-recharge. Each Stripe object is fulfilled once: the purchase row (unique on the
  object id) is written in the transaction of the grant, under the account lock, so retries,
  reorderings and concurrent deliveries to several processes grant once.
- `charge.refunded` takes back the unspent part of what the refunds cover (see `refund`).
- `charge.dispute.created` records `payment.disputed`.
- `payment_intent.payment_failed` (an auto-recharge) records `auto_recharge.failed` and
  pauses auto-recharge; `payment_method.attached` and `customer.updated` with a new default
  card resume it.
Anything else, or an object creditbook did not create, is acknowledged and ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from creditbook.domain.amounts import Credits
from creditbook.domain.errors import PurchaseNotFulfilledError, invariant
from creditbook.domain.grants import GrantSource, TransactionType
from creditbook.domain.payments import CreditPack, refunded_credits
from creditbook.engine.account.lines import Line, new_id
from creditbook.engine.account.state import AccountTx
from creditbook.engine.context import Context
from creditbook.engine.operations.grants import add_grant
from creditbook.engine.payments import checkout as meta
from creditbook.engine.payments.results import StripeOutcome
from creditbook.engine.payments.stripe_api import StripeGateway
from creditbook.store.queries import grants as grant_queries
from creditbook.store.queries import payments as queries

Handler = Callable[[Context, StripeGateway, str, str, dict[str, Any]], StripeOutcome]


def handle(
    context: Context, gateway: StripeGateway, payload: bytes, signature: str | None
) -> StripeOutcome:
    """Verify a notification, then apply it (at most once whatever its repeats)."""
    event = gateway.verify(payload, signature)
    event_id, kind = str(event.get("id", "")), str(event.get("type", ""))
    obj = (event.get("data") or {}).get("object") or {}
    handler = HANDLERS.get(kind)
    if handler is None or not isinstance(obj, dict):
        return StripeOutcome(event_id, kind, "ignored", "not a notification creditbook acts on")
    return handler(context, gateway, event_id, kind, obj)


# -- purchases ------------------------------------------------------------------------------


def _session(
    context: Context, gateway: StripeGateway, event_id: str, kind: str, session: dict[str, Any]
) -> StripeOutcome:
    if kind == "checkout.session.completed" and session.get("payment_status") != "paid":
        return StripeOutcome(
            event_id, kind, "ignored", "not paid yet: fulfilled when the payment succeeds"
        )
    return _purchase(context, event_id, kind, session, "checkout", session.get("payment_intent"))


def _intent_succeeded(
    context: Context, gateway: StripeGateway, event_id: str, kind: str, intent: dict[str, Any]
) -> StripeOutcome:
    if (intent.get("metadata") or {}).get(meta.KIND) != "auto_recharge":
        return StripeOutcome(event_id, kind, "ignored", "not an auto-recharge")
    return _purchase(context, event_id, kind, intent, "auto_recharge", intent.get("id"))


@dataclass(frozen=True, slots=True)
class Sale:
    """A paid Stripe object (Checkout Session or PaymentIntent) and what it bought, read
    from the metadata creditbook gave it."""

    account_id: str
    purchase: str  # `checkout` or `auto_recharge`
    object_id: str
    payment_intent_id: str | None
    customer: str | None
    pack_id: str
    quantity: int
    pool: str
    credits: Credits
    paid: int
    currency: str
    metadata: dict[str, Any]

    @classmethod
    def of(cls, obj: dict[str, Any], purchase: str, payment_intent_id: Any) -> Sale | None:
        metadata = obj.get("metadata") or {}
        if not metadata.get(meta.ACCOUNT):
            return None
        paid = obj.get("amount_total") or obj.get("amount_received") or obj.get("amount")
        return cls(
            account_id=str(metadata[meta.ACCOUNT]),
            purchase=purchase,
            object_id=str(obj["id"]),
            payment_intent_id=None if payment_intent_id is None else str(payment_intent_id),
            customer=obj.get("customer"),
            pack_id=str(metadata[meta.PACK]),
            quantity=int(metadata.get(meta.QUANTITY) or 1),
            pool=str(metadata[meta.POOL]),
            credits=Credits(int(metadata[meta.CREDITS])),
            paid=int(paid or 0),
            currency=str(obj.get("currency") or "").lower(),
            metadata=metadata,
        )


def _purchase(
    context: Context,
    event_id: str,
    kind: str,
    obj: dict[str, Any],
    purchase: str,
    payment_intent_id: Any,
) -> StripeOutcome:
    sale = Sale.of(obj, purchase, payment_intent_id)
    if sale is None:
        return StripeOutcome(event_id, kind, "ignored", "not a creditbook purchase")

    def body(tx: AccountTx) -> StripeOutcome:
        found = queries.payment_of_object(tx.connection, sale.object_id)
        if found is not None:
            return StripeOutcome(
                event_id, kind, "duplicate", "fulfilled already", found.payment_id, sale.account_id
            )
        payment_id, text = _fulfil(tx, sale)
        return StripeOutcome(event_id, kind, "fulfilled", text, payment_id, sale.account_id)

    return context.in_account(sale.account_id, body)


def _fulfil(tx: AccountTx, sale: Sale) -> tuple[str, str]:
    """Grant what `sale` bought, record the purchase (once: its object id is unique) and
    say so with `payment.succeeded`."""
    pack = _pack(tx.connection, sale.pack_id)
    payment_id = new_id("pay_")
    text = f"{pack.name if pack else sale.pack_id} x {sale.quantity} (Stripe {sale.object_id})"
    grant_id, posted = add_grant(
        tx,
        sale.pool,
        GrantSource.TOP_UP,
        sale.credits,
        priority=pack.priority if pack else None,
        expires_at=pack.expires_at(tx.now) if pack else None,
        description=text,
    )
    queries.insert_payment(
        tx.connection,
        {
            "account_id": sale.account_id,
            "payment_id": payment_id,
            "kind": sale.purchase,
            "stripe_object_id": sale.object_id,
            "payment_intent_id": sale.payment_intent_id,
            "customer_id": sale.customer,
            "pack_id": sale.pack_id,
            "quantity": sale.quantity,
            "pool": sale.pool,
            "credits": sale.credits.millicredits,
            "grant_id": grant_id,
            "transfer_id": posted.transfer_id,
            "currency": sale.currency,
            "amount_paid": sale.paid,
            "amount_refunded": 0,
            "credits_refunded": 0,
            "credits_taken_back": 0,
            "dispute_id": None,
            "created_at": tx.now,
            "updated_at": tx.now,
        },
    )
    _after_purchase(tx, sale.purchase, sale.metadata, sale.customer)
    tx.emit(
        "payment.succeeded",
        sale.pool,
        {
            "payment_id": payment_id,
            "kind": sale.purchase,
            "pack_id": sale.pack_id,
            "quantity": sale.quantity,
            "credits": sale.credits.millicredits,
            "amount_paid": sale.paid,
            "currency": sale.currency,
            "grant_id": grant_id,
            "stripe_object_id": sale.object_id,
            "payment_intent_id": sale.payment_intent_id,
        },
        transfer_id=posted.transfer_id,
    )
    return payment_id, text


def fulfil_recharge(context: Context, intent: dict[str, Any]) -> StripeOutcome:
    """Grant an auto-recharge whose PaymentIntent Stripe answered `succeeded` (its
    notification, arriving later, finds it fulfilled)."""
    return _purchase(context, "", "payment_intent.succeeded", intent, "auto_recharge", intent["id"])


def _pack(connection: Connection, pack_id: str) -> CreditPack | None:
    body = queries.pack_body(connection, pack_id)
    return None if body is None else CreditPack.from_body(body)


def _after_purchase(tx: AccountTx, purchase: str, metadata: dict[str, Any], customer: Any) -> None:
    """A recharge that succeeded is marked so; a checkout saved a card (it pays with
    `setup_future_usage`), so a paused auto-recharge resumes on the newest card."""
    now = tx.now
    if purchase == "auto_recharge":
        recharge_id = metadata.get(meta.RECHARGE)
        if recharge_id:
            queries.update_recharge(
                tx.connection, tx.account_id, recharge_id, status="succeeded", updated_at=now
            )
        return
    values: dict[str, Any] = {"payment_method_id": None, "paused_at": None, "paused_reason": None}
    profile = queries.profile(tx.connection, tx.account_id)
    if customer and (profile is None or not profile.customer_id):
        values["customer_id"] = customer
    queries.update_profile(tx.connection, tx.account_id, now, **values)


# -- refunds and disputes -------------------------------------------------------------------


def _purchase_of_intent(
    context: Context, gateway: StripeGateway, event_id: str, kind: str, intent_id: Any
) -> tuple[str | None, StripeOutcome | None]:
    """The account of the purchase paid by `intent_id` (None, and why it is ignored: not a
    creditbook payment). A creditbook payment whose purchase is not recorded yet (its own
    notification is late) is refused with 409: Stripe sends this again later, after the
    purchase, instead of it being lost. Whose payment it is, Stripe's PaymentIntent says."""
    if not intent_id:
        return None, StripeOutcome(event_id, kind, "ignored", "no payment intent")
    row = context.run(lambda c: queries.payment_of_intent(c, str(intent_id)), read_only=True)
    if row is not None:
        return row.account_id, None
    if gateway.can_charge:
        intent = gateway.payment_intent(str(intent_id))
        account_id = (intent.get("metadata") or {}).get(meta.ACCOUNT)
        if account_id:
            raise PurchaseNotFulfilledError(
                f"payment {intent_id} of account {account_id} is not fulfilled yet: "
                "send this again after its purchase"
            )
    return None, StripeOutcome(event_id, kind, "ignored", "not a creditbook purchase")


def _payment_of_intent(connection: Connection, intent_id: str) -> Any:
    """The purchase paid by `intent_id`, found before the account was locked."""
    row = queries.payment_of_intent(connection, intent_id)
    invariant(row is not None, f"no purchase paid by {intent_id}")
    return row


def _refunded(
    context: Context, gateway: StripeGateway, event_id: str, kind: str, charge: dict[str, Any]
) -> StripeOutcome:
    """Take back what is still unspent of what the refunds cover.

    A refund of a share of the payment covers the same share of the credits bought (all of
    them for a full refund). Of those, the ones the purchase's grant still holds are taken
    back; the ones already spent stay spent (the work was done) and are reported as
    `credits_not_recovered`. `amount_refunded` is Stripe's running total, so a repeated
    notification takes nothing more.
    """
    intent_id = charge.get("payment_intent")
    account_id, ignored = _purchase_of_intent(context, gateway, event_id, kind, intent_id)
    if account_id is None:
        return ignored  # type: ignore[return-value]

    def body(tx: AccountTx) -> StripeOutcome:
        row = _payment_of_intent(tx.connection, str(intent_id))
        refunded = min(int(charge.get("amount_refunded") or 0), row.amount_paid)
        covered = refunded_credits(row.credits, row.amount_paid, refunded)
        if refunded <= row.amount_refunded and covered <= row.credits_refunded:
            return StripeOutcome(
                event_id, kind, "duplicate", "refund applied already", row.payment_id, account_id
            )
        detail = _take_back(tx, row, refunded, covered, str(charge.get("id")))
        return StripeOutcome(event_id, kind, "refunded", detail, row.payment_id, account_id)

    return context.in_account(account_id, body)


def _take_back(tx: AccountTx, row: Any, refunded: int, covered: int, charge_id: str) -> str:
    """Take back the unspent part of the credits newly `covered` by refunds (of `refunded`
    minor units in all), and record it."""
    newly = max(0, covered - row.credits_refunded)
    held = grant_queries.remaining(tx.connection, tx.account_id, row.grant_id)
    taken = max(0, min(newly, held))
    transfer_id = ""
    if taken:
        posted = tx.post(
            TransactionType.ADJUSTMENT,
            row.pool,
            [Line("grant", -taken, grant_id=row.grant_id), Line("issued", taken)],
            description=f"Refund of {row.payment_id} (Stripe {charge_id}): "
            "unspent credits taken back",
        )
        transfer_id = posted.transfer_id
    queries.update_payment(
        tx.connection,
        tx.account_id,
        row.payment_id,
        amount_refunded=max(refunded, row.amount_refunded),
        credits_refunded=max(covered, row.credits_refunded),
        credits_taken_back=row.credits_taken_back + taken,
        updated_at=tx.now,
    )
    tx.emit(
        "payment.refunded",
        row.pool,
        {
            "payment_id": row.payment_id,
            "amount_refunded": refunded,
            "currency": row.currency,
            "credits_refunded": newly,
            "credits_taken_back": taken,
            "credits_not_recovered": newly - taken,
            "stripe_charge_id": charge_id,
        },
        transfer_id=transfer_id,
    )
    return f"{Credits(taken)} credits taken back, {Credits(newly - taken)} already spent"


def _disputed(
    context: Context, gateway: StripeGateway, event_id: str, kind: str, dispute: dict[str, Any]
) -> StripeOutcome:
    """Record `payment.disputed` once per dispute. Credits stay: the operator decides (an
    adjustment takes them away, a lost dispute arrives as a refund or not at all)."""
    intent_id = dispute.get("payment_intent")
    account_id, ignored = _purchase_of_intent(context, gateway, event_id, kind, intent_id)
    if account_id is None:
        return ignored  # type: ignore[return-value]
    dispute_id = str(dispute.get("id"))

    def body(tx: AccountTx) -> StripeOutcome:
        row = _payment_of_intent(tx.connection, str(intent_id))
        if row.dispute_id == dispute_id:
            return StripeOutcome(
                event_id, kind, "duplicate", "dispute recorded already", row.payment_id, account_id
            )
        queries.update_payment(
            tx.connection, tx.account_id, row.payment_id, dispute_id=dispute_id, updated_at=tx.now
        )
        tx.emit(
            "payment.disputed",
            row.pool,
            {
                "payment_id": row.payment_id,
                "dispute_id": dispute_id,
                "disputed_amount": int(dispute.get("amount") or 0),
                "currency": str(dispute.get("currency") or row.currency),
                "reason": str(dispute.get("reason") or ""),
            },
        )
        return StripeOutcome(event_id, kind, "disputed", dispute_id, row.payment_id, account_id)

    return context.in_account(account_id, body)


# -- auto-recharge: failures and new cards --------------------------------------------------


def _intent_failed(
    context: Context, gateway: StripeGateway, event_id: str, kind: str, intent: dict[str, Any]
) -> StripeOutcome:
    metadata = intent.get("metadata") or {}
    account_id = metadata.get(meta.ACCOUNT)
    if metadata.get(meta.KIND) != "auto_recharge" or not account_id:
        return StripeOutcome(event_id, kind, "ignored", "not an auto-recharge")
    error = intent.get("last_payment_error") or {}
    reason = str(error.get("message") or error.get("code") or "the payment failed")
    from creditbook.engine.payments.recharge import recharge_failed

    def body(tx: AccountTx) -> StripeOutcome:
        recharge_failed(tx, metadata.get(meta.RECHARGE), str(intent.get("id")), reason)
        return StripeOutcome(event_id, kind, "recharge_failed", reason, None, account_id)

    return context.in_account(account_id, body)


def _card_changed(
    context: Context, gateway: StripeGateway, event_id: str, kind: str, obj: dict[str, Any]
) -> StripeOutcome:
    if kind == "payment_method.attached":
        customer, card = obj.get("customer"), obj.get("id")
    else:
        customer = obj.get("id")
        card = (obj.get("invoice_settings") or {}).get("default_payment_method")
    if not customer or not card:
        return StripeOutcome(event_id, kind, "ignored", "no card")

    def transaction(connection: Connection) -> StripeOutcome:
        profile = queries.profile_of_customer(connection, str(customer))
        if profile is None:
            return StripeOutcome(event_id, kind, "ignored", "not a creditbook customer")
        if profile.payment_method_id == card:
            return StripeOutcome(event_id, kind, "duplicate", "card known already")
        queries.update_profile(
            connection,
            profile.account_id,
            context.now(),
            payment_method_id=str(card),
            paused_at=None,
            paused_reason=None,
        )
        return StripeOutcome(
            event_id, kind, "payment_method_updated", str(card), None, profile.account_id
        )

    return context.run(transaction)


HANDLERS: dict[str, Handler] = {
    "checkout.session.completed": _session,
    "checkout.session.async_payment_succeeded": _session,
    "payment_intent.succeeded": _intent_succeeded,
    "payment_intent.payment_failed": _intent_failed,
    "charge.refunded": _refunded,
    "charge.dispute.created": _disputed,
    "payment_method.attached": _card_changed,
    "customer.updated": _card_changed,
}
