"""Reading an account: balance, history, stats, runs. Operator or the account's own key."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from creditbook.api.deps import Caller, LedgerDep, PathId, is_storable_id, run_account
from creditbook.api.errors import ERROR_RESPONSES
from creditbook.api.responses import ExactJSONResponse, page_of, respond
from creditbook.domain.errors import NotFoundError
from creditbook.domain.grants import TransactionType
from creditbook.wire.balance import BalanceOut
from creditbook.wire.common import Day, DetailOut, Instant
from creditbook.wire.runs import RunCreditsOut, RunList, RunOut
from creditbook.wire.stats import StatsOut
from creditbook.wire.transactions import TransactionList, TransactionOut

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)


@router.get(
    "/accounts/{account_id}/balance",
    operation_id="get_balance",
    summary="Get an account's balance",
    response_model=BalanceOut,
    tags=["reports"],
)
def get_balance(
    account_id: PathId,
    caller: Caller,
    ledger: LedgerDep,
    at: Annotated[Instant | None, Query(description="A past instant (RFC 3339)")] = None,
) -> ExactJSONResponse:
    """Credits per pool now, or replayed as they were at `at`.

    Operator or the account's own key.
    """
    caller.require_account(account_id)
    return respond(BalanceOut.model_validate(ledger.balance(account_id, at=at)))


@router.get(
    "/accounts/{account_id}/transactions",
    operation_id="list_transactions",
    summary="List an account's transactions",
    response_model=TransactionList,
    tags=["reports"],
)
def list_transactions(
    account_id: PathId,
    caller: Caller,
    ledger: LedgerDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    type: Annotated[list[TransactionType] | None, Query(max_length=16)] = None,
    since: Instant | None = None,
    until: Instant | None = None,
) -> ExactJSONResponse:
    """History, newest first, paged by cursor; filter by `type` (repeatable) and time.

    Operator or the account's own key.
    """
    caller.require_account(account_id)
    page = ledger.transactions(
        account_id, limit=limit, cursor=cursor, types=type, since=since, until=until
    )
    return respond(
        {
            **page_of(page, TransactionOut),
            "total": page.total,
        }
    )


@router.get(
    "/accounts/{account_id}/stats",
    operation_id="get_stats",
    summary="Get an account's usage stats",
    response_model=StatsOut,
    tags=["reports"],
)
def get_stats(
    account_id: PathId,
    caller: Caller,
    ledger: LedgerDep,
    from_: Annotated[Day, Query(alias="from")],
    to: Annotated[Day, Query()],
    group_by: Annotated[Literal["day", "week", "month"], Query()] = "day",
) -> ExactJSONResponse:
    """Spend between two local dates (inclusive, ≤ 1830 days) against the previous range:
    by day (and `group_by` week or month), module, service, user, function, pool, resource
    and run, and when the account runs out at its trailing 7- and 30-day burn.

    Operator or the account's own key.
    """
    caller.require_account(account_id)
    stats = ledger.stats(account_id, from_, to, group_by=group_by)
    return respond(StatsOut.of(stats, group_by))


@router.get(
    "/accounts/{account_id}/runs",
    operation_id="list_runs",
    summary="List an account's runs",
    response_model=RunList,
    tags=["runs"],
)
def list_runs(
    account_id: PathId,
    caller: Caller,
    ledger: LedgerDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> ExactJSONResponse:
    """The account's runs, newest first, paged by cursor (runs started meanwhile do not
    shift later pages). Operator or the account's own key.
    """
    caller.require_account(account_id)
    page = ledger.runs(account_id, limit=limit, cursor=cursor)
    return respond(page_of(page, RunOut))


@router.get(
    "/runs/{run_id}",
    operation_id="get_run",
    summary="Get a run",
    response_model=RunOut,
    tags=["runs"],
)
def get_run(run_id: PathId, caller: Caller, ledger: LedgerDep) -> ExactJSONResponse:
    """A run's status, slots, rows and credits so far. Operator or the run's account's own key."""
    account_id = run_account(ledger, caller, run_id)
    return respond(RunOut.model_validate(ledger.get_run(account_id, run_id)))


@router.get(
    "/runs/{run_id}/credits",
    operation_id="get_run_credits",
    summary="Get a run's credits",
    response_model=RunCreditsOut,
    tags=["runs"],
    responses={
        404: {
            "model": DetailOut,
            "description": "No such run, in the lobstr shape: a message and no code.",
            "content": {"application/json": {"example": {"detail": "Run not found."}}},
        }
    },
)
def get_run_credits(run_id: str, caller: Caller, ledger: LedgerDep) -> ExactJSONResponse:
    """Where a run's credits went (the lobstr shape): base and functions by credits
    descending, filter charges, rates and display colours.

    Operator or the run's account's own key. Any run hash that names no run of the caller,
    however malformed, answers the page's only error: 404 `Run not found.`
    """
    if not is_storable_id(run_id):
        return respond({"detail": "Run not found."}, 404)
    try:
        account_id = run_account(ledger, caller, run_id)
    except NotFoundError:
        return respond({"detail": "Run not found."}, 404)
    return respond(RunCreditsOut.model_validate(ledger.run_breakdown(account_id, run_id)))
