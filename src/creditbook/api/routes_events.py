"""Events and balance alerts: the event log (operator, or an account key for its own
account's events) and an account's alert rules."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from creditbook.api.deps import Caller, LedgerDep, PathId
from creditbook.api.errors import ERROR_RESPONSES
from creditbook.api.responses import ExactJSONResponse, page_of, respond
from creditbook.domain.errors import NotFoundError
from creditbook.wire.alerts import AlertsBody, AlertsOut
from creditbook.wire.common import OptionalId
from creditbook.wire.events import EventList, EventOut, EventType

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)


@router.get(
    "/events",
    operation_id="list_events",
    summary="List events",
    response_model=EventList,
    tags=["events"],
)
def list_events(
    caller: Caller,
    ledger: LedgerDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    type: Annotated[list[EventType] | None, Query(max_length=16)] = None,
    account_id: Annotated[OptionalId | None, Query()] = None,
) -> ExactJSONResponse:
    """Events newest first, paged by cursor; filter by `type` (repeatable) and account.

    Operator: every account's events and its own. An account key: its account's only
    (another `account_id` answers 404, as a missing account does).
    """
    if not caller.is_operator:
        own = caller.own_account()
        if account_id is not None and account_id != own:
            raise NotFoundError("account", account_id)
        account_id = own
    page = ledger.events(account_id=account_id, types=type or (), limit=limit, cursor=cursor)
    return respond(page_of(page, EventOut, lambda event: event.body()))


@router.get(
    "/events/{event_id}",
    operation_id="get_event",
    summary="Get an event",
    response_model=EventOut,
    tags=["events"],
)
def get_event(event_id: PathId, caller: Caller, ledger: LedgerDep) -> ExactJSONResponse:
    """One event. Operator, or the key of the event's account."""
    event = ledger.get_event(event_id)
    if not caller.is_operator and event.account_id != caller.account_id:
        raise NotFoundError("event", event_id)
    return respond(EventOut.model_validate(event.body()))


@router.put(
    "/accounts/{account_id}/alerts",
    operation_id="put_alerts",
    summary="Set an account's balance alerts",
    response_model=AlertsOut,
    tags=["events"],
)
def put_alerts(
    account_id: PathId, body: AlertsBody, caller: Caller, ledger: LedgerDep
) -> ExactJSONResponse:
    """Thresholds per pool, in credits or in percent of the period's allowance; `rules`
    null goes back to the plan's default alerts. A pool already below a new threshold gets
    its `balance.low` at once; rules kept as they were keep their state.

    Operator, or the account's own write key.
    """
    caller.require_account(account_id, write=True)
    rules = None if body.rules is None else [rule.to_rule() for rule in body.rules]
    return respond(AlertsOut.model_validate(ledger.set_alerts(account_id, rules)))


@router.get(
    "/accounts/{account_id}/alerts",
    operation_id="get_alerts",
    summary="Get an account's balance alerts",
    response_model=AlertsOut,
    tags=["events"],
)
def get_alerts(account_id: PathId, caller: Caller, ledger: LedgerDep) -> ExactJSONResponse:
    """The rules in force (the account's own, or its plan's) and each pool's state: its
    available credits, the thresholds it is below, whether it is depleted.

    Operator or the account's own key.
    """
    caller.require_account(account_id)
    return respond(AlertsOut.model_validate(ledger.get_alerts(account_id)))
