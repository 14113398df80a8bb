"""Operator endpoints: plans, rate cards, accounts, keys, grants, refunds, verification."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from creditbook.api.deps import Caller, IdempotencyKey, LedgerDep, PathId, hit_headers
from creditbook.api.errors import ERROR_RESPONSES, INSUFFICIENT_CREDITS
from creditbook.api.responses import ExactJSONResponse, respond
from creditbook.domain.errors import NotFoundError, ValidationError
from creditbook.wire.accounts import AccountCreate, AccountList, AccountOut, AccountPatch
from creditbook.wire.charges import RefundCreate, RefundOut
from creditbook.wire.common import STORABLE_TEXT, Id
from creditbook.wire.grants import GrantCreate, GrantOut
from creditbook.wire.keys import KeyCreate, KeyOut
from creditbook.wire.plans import PlanBody, PlanList, PlanOut
from creditbook.wire.rate_cards import RateCardBody, RateCardList, RateCardOut
from creditbook.wire.verify import VerifyOut

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)


@router.put(
    "/plans/{plan_id}",
    operation_id="put_plan",
    summary="Create or replace a plan",
    response_model=PlanOut,
    tags=["plans"],
)
def put_plan(
    plan_id: Annotated[Id, Path()], body: PlanBody, caller: Caller, ledger: LedgerDep
) -> ExactJSONResponse:
    """Create or replace a plan. Operator key."""
    caller.require_operator()
    plan = ledger.put_plan(body.to_plan(plan_id))
    return respond(PlanOut.model_validate(plan))


@router.get(
    "/plans",
    operation_id="list_plans",
    summary="List plans",
    response_model=PlanList,
    tags=["plans"],
)
def list_plans(caller: Caller, ledger: LedgerDep) -> ExactJSONResponse:
    """Every plan, by id. Operator key."""
    caller.require_operator()
    return respond({"data": [PlanOut.model_validate(plan) for plan in ledger.list_plans()]})


@router.put(
    "/rate_cards/{rate_card_id}",
    operation_id="put_rate_card",
    summary="Create or replace a rate card",
    response_model=RateCardOut,
    tags=["rate cards"],
)
def put_rate_card(
    rate_card_id: Annotated[Id, Path()], body: RateCardBody, caller: Caller, ledger: LedgerDep
) -> ExactJSONResponse:
    """Create or replace a rate card. Running runs keep the version they started with.

    Operator key.
    """
    caller.require_operator()
    return respond(RateCardOut.model_validate(ledger.put_rate_card(body.to_card(rate_card_id))))


@router.get(
    "/rate_cards",
    operation_id="list_rate_cards",
    summary="List rate cards",
    response_model=RateCardList,
    tags=["rate cards"],
)
def list_rate_cards(caller: Caller, ledger: LedgerDep) -> ExactJSONResponse:
    """Every rate card (its current version), by id. Operator key."""
    caller.require_operator()
    return respond(
        {"data": [RateCardOut.model_validate(card) for card in ledger.list_rate_cards()]}
    )


@router.post(
    "/accounts",
    operation_id="create_account",
    summary="Open an account",
    status_code=201,
    response_model=AccountOut,
    tags=["accounts"],
)
def create_account(
    body: AccountCreate, caller: Caller, ledger: LedgerDep, idempotency_key: IdempotencyKey = None
) -> ExactJSONResponse:
    """Open an account on a plan; its first period's allowance is granted at once.

    Operator key.
    """
    caller.require_operator()
    account = ledger.open_account(body.to_request(idempotency_key=idempotency_key))
    return respond(AccountOut.model_validate(account), 201, hit_headers(account.replayed))


@router.get(
    "/accounts",
    operation_id="list_accounts",
    summary="List accounts",
    response_model=AccountList,
    tags=["accounts"],
)
def list_accounts(
    caller: Caller,
    ledger: LedgerDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[
        Id | None, Query(description="The `next_cursor` of the previous page (an account id).")
    ] = None,
) -> ExactJSONResponse:
    """Accounts by id, paged: pass `next_cursor` back as `cursor`. Operator key.

    A cursor that names no account answers 422 `validation_error`."""
    caller.require_operator()
    if cursor is not None:
        try:
            ledger.get_account(cursor)
        except NotFoundError:
            raise ValidationError("malformed cursor", field="cursor") from None
    accounts = ledger.list_accounts(limit=limit + 1, after=cursor)
    page = accounts[:limit]
    has_more = len(accounts) > limit
    return respond(
        {
            "data": [AccountOut.model_validate(a) for a in page],
            "has_more": has_more,
            "next_cursor": page[-1].account_id if has_more else None,
        }
    )


@router.get(
    "/accounts/{account_id}",
    operation_id="get_account",
    summary="Get an account",
    response_model=AccountOut,
    tags=["accounts"],
)
def get_account(account_id: PathId, caller: Caller, ledger: LedgerDep) -> ExactJSONResponse:
    """An account's name, plan, time zone, billing anchor and metadata.

    Operator or the account's own key.
    """
    caller.require_account(account_id)
    return respond(AccountOut.model_validate(ledger.get_account(account_id)))


@router.patch(
    "/accounts/{account_id}",
    operation_id="update_account",
    summary="Update an account",
    response_model=AccountOut,
    tags=["accounts"],
)
def update_account(
    account_id: PathId, body: AccountPatch, caller: Caller, ledger: LedgerDep
) -> ExactJSONResponse:
    """Rename, change metadata or the unpaid-bill flag, or move to another plan (now).

    Operator key.
    """
    caller.require_operator()
    current = ledger.get_account(account_id)
    plan_change = body.plan_request(account_id)
    if plan_change is not None and plan_change.plan_id != current.plan_id:
        ledger.change_plan(plan_change)
    account = ledger.update_account(body.to_request(account_id))
    return respond(AccountOut.model_validate(account))


@router.post(
    "/accounts/{account_id}/api_keys",
    operation_id="create_api_key",
    summary="Issue an API key",
    status_code=201,
    response_model=KeyOut,
    tags=["keys"],
)
def create_api_key(
    account_id: PathId,
    body: KeyCreate,
    caller: Caller,
    ledger: LedgerDep,
    idempotency_key: IdempotencyKey = None,
) -> ExactJSONResponse:
    """Issue an account key. The secret is in this response only; a replay omits it.

    Operator key.
    """
    caller.require_operator()
    issued = ledger.create_key(body.to_request(account_id, idempotency_key=idempotency_key))
    return respond(KeyOut.issued(issued), 201, hit_headers(issued.replayed))


@router.get(
    "/api_keys/current",
    operation_id="get_current_api_key",
    summary="The calling key",
    response_model=KeyOut,
    tags=["keys"],
)
def get_current_api_key(caller: Caller) -> ExactJSONResponse:
    """The key this request is signed with, without its secret: its account (none for an
    operator key), scope and user. Clients use it to find an account key's own account.

    Any key.
    """
    return respond(KeyOut.model_validate(caller.key))


@router.delete(
    "/api_keys/{key_id}",
    operation_id="revoke_api_key",
    summary="Revoke an API key",
    response_model=KeyOut,
    tags=["keys"],
)
def revoke_api_key(key_id: PathId, caller: Caller, ledger: LedgerDep) -> ExactJSONResponse:
    """Revoke a key now; requests with it then answer 403 `key_revoked`. Revoking a revoked
    key changes nothing and answers 200 with the key as it is, its `revoked_at` that of the
    first revocation, so a retry after a lost answer succeeds. Operator key."""
    caller.require_operator()
    return respond(KeyOut.model_validate(ledger.revoke_key(key_id)))


@router.post(
    "/accounts/{account_id}/grants",
    operation_id="create_grant",
    summary="Grant credits",
    status_code=201,
    response_model=GrantOut,
    tags=["grants"],
    responses=INSUFFICIENT_CREDITS,
)
def create_grant(
    account_id: PathId,
    body: GrantCreate,
    caller: Caller,
    ledger: LedgerDep,
    idempotency_key: IdempotencyKey = None,
) -> ExactJSONResponse:
    """Give bonus, top-up or adjustment credits (a negative adjustment takes them away).

    Operator key.
    """
    caller.require_operator()
    grant = ledger.grant(body.to_request(account_id, idempotency_key=idempotency_key))
    return respond(GrantOut.model_validate(grant), 201, hit_headers(grant.replayed))


@router.post(
    "/charges/{charge_id}/refund",
    operation_id="refund_charge",
    summary="Refund a charge",
    status_code=201,
    response_model=RefundOut,
    tags=["charges"],
)
def refund_charge(
    charge_id: PathId,
    body: RefundCreate,
    caller: Caller,
    ledger: LedgerDep,
    idempotency_key: IdempotencyKey = None,
) -> ExactJSONResponse:
    """Reverse all or part of a charge, linked to it. Operator key.

    Without `amount` what is left of the charge is refunded. An over-refund (more than what
    is left to refund, or nothing left) answers 422 `validation_error` and refunds nothing.
    """
    caller.require_operator()
    account_id = ledger.account_of_charge(charge_id)
    refund = ledger.refund(body.to_request(account_id, charge_id, idempotency_key=idempotency_key))
    return respond(RefundOut.model_validate(refund), 201, hit_headers(refund.replayed))


@router.post(
    "/ledger/verify",
    operation_id="verify_ledger",
    summary="Verify the ledger",
    response_model=VerifyOut,
    tags=["ledger"],
)
def verify_ledger(
    caller: Caller,
    ledger: LedgerDep,
    account_id: Annotated[str | None, Query(max_length=64, pattern=STORABLE_TEXT)] = None,
    idempotency_key: IdempotencyKey = None,
) -> ExactJSONResponse:
    """Replay every entry and compare with stored balances (read-only; safe to repeat).

    Operator key.
    """
    caller.require_operator()
    return respond(VerifyOut.model_validate(ledger.verify(account_id)))
