"""Spending credits: charges, batches, estimates and runs."""

from __future__ import annotations

from fastapi import APIRouter, Request

from creditbook.api.deps import (
    BatchIdempotencyKey,
    Caller,
    IdempotencyKey,
    LedgerDep,
    PathId,
    hit_headers,
    run_account,
)
from creditbook.api.errors import ERROR_RESPONSES, INSUFFICIENT_CREDITS
from creditbook.api.responses import ExactJSONResponse, respond
from creditbook.domain.errors import ValidationError
from creditbook.engine.principal import Principal
from creditbook.wire.charges import BatchCreate, BatchOut, BatchResultOut, ChargeCreate, ChargeOut
from creditbook.wire.estimates import EstimateCreate, EstimateOut
from creditbook.wire.runs import ResultsCreate, RunCreate, RunOut

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)


def _key_user(caller: Principal) -> str:
    """The user an account key is bound to: its charges and runs are attributed to it."""
    return caller.key.user_id if not caller.is_operator else ""


@router.post(
    "/accounts/{account_id}/charges",
    operation_id="create_charge",
    summary="Charge an account",
    status_code=201,
    response_model=ChargeOut,
    tags=["charges"],
    responses=INSUFFICIENT_CREDITS,
)
async def create_charge(
    request: Request,
    account_id: PathId,
    body: ChargeCreate,
    caller: Caller,
    ledger: LedgerDep,
    idempotency_key: IdempotencyKey = None,
) -> ExactJSONResponse:
    """Charge raw credits, or a rate card's function × quantity. Refused whole (402) when
    the account cannot pay, unless `partial` asks for what is available.

    Operator, or the account's write key.
    """
    # On the event loop: the charge waits for its group commit without a thread.
    caller.require_account(account_id, write=True)
    charge = await ledger.charge_async(
        body.to_request(account_id, user_id=_key_user(caller), idempotency_key=idempotency_key)
    )
    if not charge.replayed:
        request.app.state.metrics.charges.inc()
    return respond(ChargeOut.model_validate(charge), 201, hit_headers(charge.replayed))


@router.post(
    "/charges/batch",
    operation_id="create_charges_batch",
    summary="Charge in a batch",
    response_model=BatchOut,
    tags=["charges"],
)
def create_charges_batch(
    request: Request,
    body: BatchCreate,
    caller: Caller,
    ledger: LedgerDep,
    idempotency_key: BatchIdempotencyKey = None,
) -> ExactJSONResponse:
    """Up to 1000 charges in one commit, each succeeding or failing alone.

    The `Idempotency-Key` header (at most 249 characters) covers the whole request: a replay
    answers the first results, each marked `replayed`, and the same key with a different
    batch answers 409 `idempotency_key_conflict`. Items without their own `idempotency_key`
    also use `<Idempotency-Key>:<index>`.

    Operator, or a write key of each item's account.
    """
    for item in body.items:
        caller.require_account(item.account_id, write=True)
    outcome = ledger.charge_batch(
        body.to_request(
            user_id=_key_user(caller),
            idempotency_key=idempotency_key,
            scope=caller.account_id or "",
        )
    )
    data = [BatchResultOut.of(item) for item in outcome]
    accepted = sum(1 for item in outcome if item.ok and not item.replayed)
    request.app.state.metrics.charges.inc(accepted)
    replayed = bool(outcome) and all(item.replayed for item in outcome)
    return respond({"data": data}, 200, hit_headers(replayed))


@router.post(
    "/accounts/{account_id}/estimates",
    operation_id="create_estimate",
    summary="Estimate a job",
    response_model=EstimateOut,
    tags=["charges"],
)
def create_estimate(
    account_id: PathId,
    body: EstimateCreate,
    caller: Caller,
    ledger: LedgerDep,
    idempotency_key: IdempotencyKey = None,
) -> ExactJSONResponse:
    """Quote a job before it runs and say whether the account can afford it now.

    Operator or the account's own key.
    """
    caller.require_account(account_id)
    quote, affordable = ledger.estimate(body.to_request(account_id))
    return respond(EstimateOut.of(quote, affordable))


@router.post(
    "/runs",
    operation_id="start_run",
    summary="Start a run",
    status_code=201,
    response_model=RunOut,
    tags=["runs"],
    responses=INSUFFICIENT_CREDITS,
)
def start_run(
    body: RunCreate, caller: Caller, ledger: LedgerDep, idempotency_key: IdempotencyKey = None
) -> ExactJSONResponse:
    """Start a run: take concurrency slots (409 `no_free_slots`) and optionally hold credits.

    Operator (with `account_id`), or the account's write key.
    """
    account_id = body.account_id
    if account_id is None:
        if caller.is_operator:
            raise ValidationError("account_id is required with an operator key", field="account_id")
        account_id = caller.own_account()
    caller.require_account(account_id, write=True)
    run = ledger.start_run(
        body.to_request(account_id, user_id=_key_user(caller), idempotency_key=idempotency_key)
    )
    return respond(RunOut.model_validate(run), 201, hit_headers(run.replayed))


@router.post(
    "/runs/{run_id}/results",
    operation_id="report_run_results",
    summary="Report run results",
    response_model=RunOut,
    tags=["runs"],
    responses={
        402: {
            **INSUFFICIENT_CREDITS[402],
            "description": "`insufficient_credits`: refused; the run is paused.",
        }
    },
)
def report_run_results(
    run_id: PathId,
    body: ResultsCreate,
    caller: Caller,
    ledger: LedgerDep,
    idempotency_key: IdempotencyKey = None,
) -> ExactJSONResponse:
    """Bill a batch of results: kept rows, rows discarded per filter (never billed), and
    attempts and successes per function (billed per success).

    Operator, or the write key of the run's account.
    """
    account_id = run_account(ledger, caller, run_id, write=True)
    run = ledger.report_results(
        body.to_request(account_id, run_id, idempotency_key=idempotency_key)
    )
    return respond(RunOut.model_validate(run), 200, hit_headers(run.replayed))


@router.post(
    "/runs/{run_id}/finish",
    operation_id="finish_run",
    summary="Finish a run",
    response_model=RunOut,
    tags=["runs"],
)
def finish_run(
    run_id: PathId, caller: Caller, ledger: LedgerDep, idempotency_key: IdempotencyKey = None
) -> ExactJSONResponse:
    """Settle a run: release what its hold still holds and free its slots.

    Operator, or the write key of the run's account.
    """
    account_id = run_account(ledger, caller, run_id, write=True)
    run = ledger.finish_run(account_id, run_id, idempotency_key=idempotency_key)
    return respond(RunOut.model_validate(run), 200, hit_headers(run.replayed))
