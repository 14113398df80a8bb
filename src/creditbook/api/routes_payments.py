"""Selling credits: credit packs (operator), Checkout and auto-recharge (operator or the
account's own write key), purchases, and Stripe's notifications (signed, no key)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from starlette.concurrency import run_in_threadpool

from creditbook.api.deps import Caller, IdempotencyKey, LedgerDep, PathId, hit_headers
from creditbook.api.errors import ERROR_RESPONSES, PAYMENT_RESPONSES, SIGNATURE_RESPONSES
from creditbook.api.responses import ExactJSONResponse, page_of, respond
from creditbook.domain.errors import NotFoundError
from creditbook.engine.payments.checkout import CheckoutRequest
from creditbook.wire.payments import (
    AutoRechargeBody,
    AutoRechargeOut,
    CheckoutBody,
    CheckoutOut,
    CreditPackBody,
    CreditPackList,
    CreditPackOut,
    PaymentList,
    PaymentOut,
    StripeReceiptOut,
)

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES, tags=["payments"])


@router.put(
    "/credit_packs/{pack_id}",
    operation_id="put_credit_pack",
    summary="Create or replace a credit pack",
    response_model=CreditPackOut,
)
def put_credit_pack(
    pack_id: PathId, body: CreditPackBody, caller: Caller, ledger: LedgerDep
) -> ExactJSONResponse:
    """Credits sold for a price per currency (minor units), optionally expiring some months
    after the purchase. `active: false` stops selling it. Operator key."""
    caller.require_operator()
    pack = ledger.payments.put_pack(body.to_pack(pack_id))
    return respond(CreditPackOut.model_validate(pack))


@router.get(
    "/credit_packs",
    operation_id="list_credit_packs",
    summary="List credit packs",
    response_model=CreditPackList,
)
def list_credit_packs(caller: Caller, ledger: LedgerDep) -> ExactJSONResponse:
    """Every pack by id (an account key sees the packs on sale only)."""
    packs = [p for p in ledger.payments.list_packs() if caller.is_operator or p.active]
    return respond({"data": [CreditPackOut.model_validate(pack) for pack in packs]})


@router.get(
    "/credit_packs/{pack_id}",
    operation_id="get_credit_pack",
    summary="Get a credit pack",
    response_model=CreditPackOut,
)
def get_credit_pack(pack_id: PathId, caller: Caller, ledger: LedgerDep) -> ExactJSONResponse:
    """One pack (an account key sees a pack on sale only; a retired one answers 404)."""
    pack = ledger.payments.get_pack(pack_id)
    if not (caller.is_operator or pack.active):
        raise NotFoundError("credit pack", pack_id)
    return respond(CreditPackOut.model_validate(pack))


@router.post(
    "/accounts/{account_id}/checkout_sessions",
    operation_id="create_checkout_session",
    summary="Buy credits through Stripe Checkout",
    status_code=201,
    response_model=CheckoutOut,
    responses=PAYMENT_RESPONSES,
)
def create_checkout_session(
    account_id: PathId,
    body: CheckoutBody,
    caller: Caller,
    ledger: LedgerDep,
    idempotency_key: IdempotencyKey = None,
) -> ExactJSONResponse:
    """A Stripe Checkout Session in payment mode for `quantity` packs, on the account's
    Stripe customer (created on first use). Send the customer to `url`; the credits arrive
    as a top-up when Stripe reports the payment. The same `Idempotency-Key` answers the same
    Session. 503 `payments_not_configured` without a Stripe key; 502
    `payment_provider_error` when Stripe refuses.

    Operator, or the account's own write key.
    """
    caller.require_account(account_id, write=True)
    session = ledger.payments.checkout(
        CheckoutRequest(
            account_id=account_id,
            pack_id=body.pack_id,
            success_url=body.success_url,
            cancel_url=body.cancel_url,
            quantity=body.quantity,
            currency=body.currency,
            idempotency_key=idempotency_key,
        )
    )
    return respond(CheckoutOut.model_validate(session), 201, hit_headers(session.replayed))


@router.put(
    "/accounts/{account_id}/auto_recharge",
    operation_id="put_auto_recharge",
    summary="Set an account's auto-recharge",
    response_model=AutoRechargeOut,
)
def put_auto_recharge(
    account_id: PathId, body: AutoRechargeBody, caller: Caller, ledger: LedgerDep
) -> ExactJSONResponse:
    """Buy `pack_id` on the saved card when a write takes the pack's pool below `threshold`:
    once per crossing, at most `max_per_month` a calendar month (UTC). A pool already below
    the threshold recharges at once. The card is the one saved by the account's last
    Checkout purchase (or its newest card at Stripe).

    Operator, or the account's own write key.
    """
    caller.require_account(account_id, write=True)
    state = ledger.payments.set_auto_recharge(account_id, body.to_settings())
    return respond(AutoRechargeOut.of(state))


@router.delete(
    "/accounts/{account_id}/auto_recharge",
    operation_id="delete_auto_recharge",
    summary="Remove an account's auto-recharge",
    response_model=AutoRechargeOut,
)
def delete_auto_recharge(
    account_id: PathId, caller: Caller, ledger: LedgerDep
) -> ExactJSONResponse:
    """Stop recharging (the Stripe customer and card stay). Operator, or the account's own
    write key."""
    caller.require_account(account_id, write=True)
    return respond(AutoRechargeOut.of(ledger.payments.set_auto_recharge(account_id, None)))


@router.get(
    "/accounts/{account_id}/auto_recharge",
    operation_id="get_auto_recharge",
    summary="Get an account's auto-recharge",
    response_model=AutoRechargeOut,
)
def get_auto_recharge(account_id: PathId, caller: Caller, ledger: LedgerDep) -> ExactJSONResponse:
    """Its settings, whether it is paused and why, and its latest recharges. Operator or
    the account's own key."""
    caller.require_account(account_id)
    return respond(AutoRechargeOut.of(ledger.payments.get_auto_recharge(account_id)))


@router.get(
    "/accounts/{account_id}/payments",
    operation_id="list_payments",
    summary="List an account's purchases",
    response_model=PaymentList,
)
def list_payments(
    account_id: PathId,
    caller: Caller,
    ledger: LedgerDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> ExactJSONResponse:
    """Purchases newest first: what was paid, the grant it funded (`grant_id`,
    `transfer_id`), its Stripe objects, and what refunds covered. Operator or the account's
    own key."""
    caller.require_account(account_id)
    page = ledger.payments.purchases(account_id, limit=limit, cursor=cursor)
    return respond(page_of(page, PaymentOut))


@router.post(
    "/integrations/stripe/webhook",
    operation_id="receive_stripe_webhook",
    summary="Receive a Stripe notification",
    response_model=StripeReceiptOut,
    responses=SIGNATURE_RESPONSES,
    openapi_extra={"security": []},
)
async def receive_stripe_webhook(
    request: Request,
    ledger: LedgerDep,
    stripe_signature: Annotated[str | None, Header(alias="Stripe-Signature")] = None,
) -> ExactJSONResponse:
    """Stripe's notifications, verified with the endpoint's signing secret
    (`CREDITBOOK_STRIPE_WEBHOOK_SECRET`); no API key. A bad or stale signature answers 400
    `invalid_signature` and changes nothing. A paid Checkout Session (or a succeeded
    auto-recharge) grants its credits once whatever Stripe's retries; `charge.refunded`
    takes back what is unspent of what the refund covers; `charge.dispute.created` records
    `payment.disputed` (both answer 409 `purchase_not_fulfilled` while the purchase they
    are about is not recorded yet, so that Stripe sends them again); other notifications are
    acknowledged and ignored."""
    payload = await request.body()
    outcome = await run_in_threadpool(ledger.payments.handle_stripe, payload, stripe_signature)
    return respond(StripeReceiptOut.model_validate(outcome))
