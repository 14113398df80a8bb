"""Stripe Checkout for a credit pack: a Session in payment mode for the account's Stripe
customer (created on first use), with everything fulfilment needs in its metadata."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from creditbook.domain.amounts import Credits
from creditbook.domain.errors import NotFoundError, StateError
from creditbook.domain.payments import CreditPack, check_quantity
from creditbook.engine import idempotency
from creditbook.engine.account.lines import new_id
from creditbook.engine.context import Context
from creditbook.engine.payments.packs import pack_of
from creditbook.engine.payments.results import CheckoutSession
from creditbook.engine.payments.stripe_api import StripeGateway
from creditbook.engine.validation import check_key
from creditbook.store.queries import payments as queries

# Metadata keys on Checkout Sessions and PaymentIntents (Stripe keeps them with the object
# and sends them back in every notification about it).
ACCOUNT = "creditbook_account_id"
PACK = "creditbook_pack_id"
QUANTITY = "creditbook_quantity"
CREDITS = "creditbook_credits"  # millicredits
POOL = "creditbook_pool"
KIND = "creditbook_kind"
RECHARGE = "creditbook_recharge_id"


@dataclass(frozen=True, slots=True)
class CheckoutRequest:
    account_id: str
    pack_id: str
    success_url: str
    cancel_url: str
    quantity: int = 1
    currency: str | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class Buyer:
    """What a sale needs to know of the account: its name, the pool, its Stripe customer."""

    name: str
    pool: str
    customer_id: str | None


def buyer(context: Context, connection: Connection, account_id: str, pack: CreditPack) -> Buyer:
    row = queries.account_name_and_plan(connection, account_id)
    if row is None:
        raise NotFoundError("account", account_id)
    plan = context.plan(connection, row.plan_id)
    pool = pack.pool_in(plan.plan_id, plan.pools)
    profile = queries.profile(connection, account_id)
    return Buyer(row.name, pool, None if profile is None else profile.customer_id)


def customer_of(context: Context, gateway: StripeGateway, account_id: str, found: Buyer) -> str:
    """The account's Stripe customer, created and remembered on first use. Two processes
    creating it at once get the same customer (one idempotency key per account)."""
    if found.customer_id:
        return found.customer_id
    customer_id = gateway.create_customer(account_id, found.name)

    def remember(connection: Connection) -> str:
        queries.ensure_profile(connection, account_id, context.now())
        current = queries.profile(connection, account_id)
        if current is not None and current.customer_id:
            return str(current.customer_id)
        queries.update_profile(connection, account_id, context.now(), customer_id=customer_id)
        return customer_id

    return context.run(remember)


def create_checkout(
    context: Context, gateway: StripeGateway, request: CheckoutRequest
) -> CheckoutSession:
    """A Checkout Session selling `quantity` packs to the account. The same
    `idempotency_key` answers the same Session (Stripe keeps its keys for 24 hours)."""
    check_key(request.idempotency_key)
    quantity = check_quantity(request.quantity)
    gateway.client()  # refuse at once when Stripe is not configured
    key = request.idempotency_key
    fields = {
        "pack_id": request.pack_id,
        "quantity": quantity,
        "currency": request.currency,
        "success_url": request.success_url,
        "cancel_url": request.cancel_url,
    }
    request_hash = "" if key is None else idempotency.hash_request("checkout", fields)
    if key is not None:
        replayed = context.run(
            lambda c: idempotency.replay(c, request.account_id, key, request_hash, CheckoutSession),
            read_only=True,
        )
        if replayed is not None:
            return replayed  # type: ignore[no-any-return]
    session = _create(context, gateway, request, quantity)
    if key is not None:
        return context.run(
            lambda c: _remember(context, c, request.account_id, key, request_hash, session)
        )
    return session


def _remember(
    context: Context,
    connection: Connection,
    account_id: str,
    key: str,
    request_hash: str,
    session: CheckoutSession,
) -> CheckoutSession:
    """Keep the answer for replays (two requests racing with one key: the first kept)."""
    kept = idempotency.replay(connection, account_id, key, request_hash, CheckoutSession)
    if kept is not None:
        return kept  # type: ignore[no-any-return]
    idempotency.remember(context, connection, account_id, key, "checkout", request_hash, session)
    return session


def _create(
    context: Context, gateway: StripeGateway, request: CheckoutRequest, quantity: int
) -> CheckoutSession:
    """Ask Stripe for the Session (its idempotency key derived from ours, when given)."""

    def read(connection: Connection) -> tuple[CreditPack, Buyer]:
        pack = pack_of(connection, request.pack_id)
        if not pack.active:
            raise StateError(f"credit pack {pack.pack_id!r} is no longer sold")
        return pack, buyer(context, connection, request.account_id, pack)

    pack, found = context.run(read, read_only=True)
    currency, unit_amount = pack.price(request.currency)
    credits = Credits(pack.credits.millicredits * quantity)
    customer_id = customer_of(context, gateway, request.account_id, found)
    metadata = purchase_metadata(
        request.account_id, pack.pack_id, quantity, credits, found.pool, "checkout"
    )
    params = _session_params(request, pack, quantity, currency, unit_amount, customer_id)
    params["metadata"] = metadata
    # The card is saved for auto-recharge, which pays without the customer present.
    params["payment_intent_data"] = {"metadata": metadata, "setup_future_usage": "off_session"}
    key = request.idempotency_key or new_id("", 16)
    session = gateway.create_checkout_session(
        params, f"creditbook-checkout-{request.account_id}-{key}"
    )
    expires = getattr(session, "expires_at", None)
    return CheckoutSession(
        session_id=str(session.id),
        url=str(session.url),
        account_id=request.account_id,
        pack_id=pack.pack_id,
        quantity=quantity,
        credits=credits,
        currency=currency,
        amount_total=int(getattr(session, "amount_total", None) or unit_amount * quantity),
        customer_id=customer_id,
        expires_at=None if expires is None else datetime.fromtimestamp(int(expires), UTC),
    )


def purchase_metadata(
    account_id: str,
    pack_id: str,
    quantity: int,
    credits: Credits,
    pool: str,
    kind: str,
    recharge_id: str | None = None,
) -> dict[str, str]:
    """What a Stripe object carries for its fulfilment (Stripe's metadata values are text)."""
    metadata = {
        ACCOUNT: account_id,
        PACK: pack_id,
        QUANTITY: str(quantity),
        CREDITS: str(credits.millicredits),
        POOL: pool,
        KIND: kind,
    }
    if recharge_id is not None:
        metadata[RECHARGE] = recharge_id
    return metadata


def _session_params(
    request: CheckoutRequest,
    pack: CreditPack,
    quantity: int,
    currency: str,
    unit_amount: int,
    customer_id: str,
) -> dict[str, Any]:
    return {
        "mode": "payment",
        "customer": customer_id,
        "client_reference_id": request.account_id,
        "success_url": request.success_url,
        "cancel_url": request.cancel_url,
        "line_items": [
            {
                "quantity": quantity,
                "price_data": {
                    "currency": currency,
                    "unit_amount": unit_amount,
                    "product_data": {"name": pack.name, "metadata": {PACK: pack.pack_id}},
                },
            }
        ],
    }
