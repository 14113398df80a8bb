"""Runs: a job against a rate card that occupies concurrency slots, optionally holds
credits, is billed batch by batch from its results, and is finished to settle."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from creditbook.domain.amounts import Credits
from creditbook.domain.errors import (
    InsufficientCreditsError,
    NoFreeSlotsError,
    NotFoundError,
    StateError,
    ValidationError,
)
from creditbook.domain.grants import TransactionType
from creditbook.domain.rates import Estimate, RateCard, estimate, price_results
from creditbook.domain.requests import (
    MAX_QUANTITY,
    MAX_SLOTS_PER_RUN,
    EstimateRequest,
    FinishRunRequest,
    RunResultsRequest,
    StartRunRequest,
)
from creditbook.engine import idempotency, reports
from creditbook.engine.account.lines import Attribution, Line, new_id
from creditbook.engine.account.state import AccountTx
from creditbook.engine.codec import card_from_body, card_to_body
from creditbook.engine.context import Context
from creditbook.engine.operations import sweep
from creditbook.engine.operations.charges import describe
from creditbook.engine.operations.holds import hold_locked
from creditbook.engine.reports.runs import run_from_row
from creditbook.engine.results import Run
from creditbook.engine.validation import check_attribute, check_hold
from creditbook.store.queries import accounts as account_queries
from creditbook.store.queries import runs as queries

RUN_ACTIVE = ("running", "paused")


def estimate_run(context: Context, request: EstimateRequest) -> tuple[Estimate, dict[str, bool]]:
    """Quote a job and say, per pool, whether the account can afford it now."""
    sweep.touch(context, request.account_id)

    def transaction(connection: Connection) -> tuple[Estimate, dict[str, bool]]:
        card = context.card(connection, request.rate_card_id)
        quote = estimate(
            card,
            rows=request.rows,
            functions=request.functions,
            success_rates_percent=request.success_rates_percent,
            active_filters=tuple(request.active_filters),
        )
        balance = reports.balance(connection, request.account_id, context.now(), context.plan)
        affordable = {
            pool: (balance.pools[pool].available + balance.pools[pool].overdraft_limit >= needed)
            if pool in balance.pools
            else not needed.is_positive()
            for pool, needed in quote.total_by_pool.items()
        }
        return quote, affordable

    return context.run(transaction, read_only=True)


def start_run(context: Context, request: StartRunRequest) -> Run:
    """Start a run: take concurrency slots and optionally hold credits for it."""
    if not 1 <= request.slots <= MAX_SLOTS_PER_RUN:
        raise ValidationError(f"slots must be within 1..{MAX_SLOTS_PER_RUN}", field="slots")
    if request.hold is not None:
        check_hold(request.hold, request.hold_timeout_s)
    check_attribute("user_id", request.user_id)
    check_attribute("resource_id", request.resource_id)
    filters = tuple(request.active_filters)
    if len(set(filters)) != len(filters):
        raise ValidationError("active_filters has duplicates", field="active_filters")
    fields = {
        "rate_card_id": request.rate_card_id,
        "slots": request.slots,
        "hold": None if request.hold is None else request.hold.millicredits,
        "hold_timeout_s": request.hold_timeout_s,
        "active_filters": filters,
        "user_id": request.user_id,
        "resource_id": request.resource_id,
        "resource_name": request.resource_name,
    }

    def body(tx: AccountTx) -> Run:
        return _start_locked(context, tx, request, filters)

    return idempotency.write(
        context, request.account_id, "start_run", fields, request.idempotency_key, Run, body
    )


def _start_locked(
    context: Context, tx: AccountTx, request: StartRunRequest, filters: tuple[str, ...]
) -> Run:
    card = context.card(tx.connection, request.rate_card_id)
    for name in filters:
        card.filter(name)
    used = reports.used_slots(tx.connection, tx.account_id)
    if used + request.slots > tx.plan.slots:
        raise NoFreeSlotsError(request.slots, used, tx.plan.slots)
    run_id = new_id("", 16)
    hold_id = ""
    if request.hold is not None:
        hold_id = hold_locked(tx, request.hold, card.pool, request.hold_timeout_s, run_id).hold_id
    queries.insert_run(
        tx.connection,
        {
            "account_id": tx.account_id,
            "run_id": run_id,
            "rate_card_id": request.rate_card_id,
            "rate_card": card_to_body(card),
            "status": "running",
            "slots": request.slots,
            "hold_id": hold_id,
            "active_filters": list(filters),
            "user_id": request.user_id,
            "resource_id": request.resource_id,
            "rows_kept": 0,
            "rows_discarded": {},
            "charged": 0,
            "started_at": tx.now,
            "finished_at": None,
        },
    )
    if request.resource_name is not None and request.resource_id:
        account_queries.name_resource(
            tx.connection, tx.account_id, request.resource_id, request.resource_name
        )
    return reports.run(tx.connection, tx.account_id, run_id)


def report_results(context: Context, request: RunResultsRequest) -> Run:
    """Bill a batch of a run's results: kept rows at the base rate and per active paid
    filter, each function's successes at its rate. Rows discarded by filters are
    recorded and never billed. A batch the account cannot pay is refused whole and the
    run is paused; report it again once credits are added."""
    rows_kept = request.rows_kept
    discarded = dict(request.rows_discarded or {})
    attempts = {name: (int(a), int(s)) for name, (a, s) in (request.functions or {}).items()}
    if not 0 <= rows_kept <= MAX_QUANTITY:
        raise ValidationError(f"rows_kept must be within 0..{MAX_QUANTITY}", field="rows_kept")
    if any(not 0 <= count <= MAX_QUANTITY for count in discarded.values()):
        raise ValidationError("rows_discarded counts must not be negative", field="rows_discarded")
    fields = {
        "run_id": request.run_id,
        "rows_kept": rows_kept,
        "rows_discarded": discarded,
        "functions": {name: list(pair) for name, pair in attempts.items()},
    }

    def body(tx: AccountTx) -> Run:
        return _results_locked(tx, request.run_id, rows_kept, discarded, attempts)

    try:
        return idempotency.write(
            context,
            request.account_id,
            "report_results",
            fields,
            request.idempotency_key,
            Run,
            body,
            grants=True,
        )
    except InsufficientCreditsError as error:
        _pause(context, request.account_id, request.run_id, error)
        raise


def _results_locked(
    tx: AccountTx,
    run_id: str,
    rows_kept: int,
    discarded: dict[str, int],
    attempts: dict[str, tuple[int, int]],
) -> Run:
    run = _active_run(tx, run_id)
    card = card_from_body(run.rate_card)
    for name in discarded:
        card.filter(name)
    lines = price_results(
        card, rows_kept=rows_kept, functions=attempts, active_filters=tuple(run.active_filters)
    )
    hold_id = run.hold_id if run.hold_status == "active" else ""
    needed: dict[str, int] = {}
    for line in lines:
        needed[line.pool] = needed.get(line.pool, 0) + line.amount.millicredits
    for pool, amount in needed.items():
        tx.check_pool(pool)
        # Affordability of the whole batch first: it is billed whole or not at all.
        tx.plan_draws(
            pool, Credits(amount), partial=False, hold_id=hold_id if pool == card.pool else ""
        )
    for line in lines:
        _bill_line(tx, run, card, line, hold_id if line.pool == card.pool else "")
    merged = dict(run.rows_discarded)
    for name, count in discarded.items():
        merged[name] = merged.get(name, 0) + count
    charged = sum(line.amount.millicredits for line in lines)
    billed = queries.add_results(tx.connection, tx.account_id, run_id, rows_kept, merged, charged)
    return run_from_row(billed)


def _active_run(tx: AccountTx, run_id: str) -> Any:
    """The run's row with its hold's status and pool (`queries.run_to_bill`);
    NotFoundError for an unknown run, StateError for one that has finished."""
    run = queries.run_to_bill(tx.connection, tx.account_id, run_id)
    if run is None:
        raise NotFoundError("run", run_id)
    if run.status not in RUN_ACTIVE:
        raise StateError(f"run {run_id} is {run.status}")
    return run


def _bill_line(tx: AccountTx, run: Any, card: RateCard, line: Any, hold_id: str) -> None:
    queries.add_line(
        tx.connection,
        {
            "account_id": tx.account_id,
            "run_id": run.run_id,
            "kind": line.kind,
            "name": line.name,
        },
        line.attempts,
        line.quantity,
        line.amount.millicredits,
    )
    if not line.amount.is_positive():
        return
    function = line.name if line.kind == "function" else f"filter:{line.name}"
    draws = tx.plan_draws(line.pool, line.amount, partial=False, hold_id=hold_id)
    draws.append(Line("spent", line.amount.millicredits))
    attribution = Attribution(
        function, card.module, card.service, run.user_id, run.resource_id, run.run_id, hold_id
    )
    posted = tx.post(
        TransactionType.DEDUCTION,
        line.pool,
        draws,
        attribution=attribution,
        quantity=line.quantity,
        description=f"Run {run.run_id}: {describe(function, line.quantity, 0)}",
    )
    tx.rollup(posted.created_at, line.pool, attribution, line.amount.millicredits, line.quantity, 1)


def _pause(context: Context, account_id: str, run_id: str, error: InsufficientCreditsError) -> None:
    """Pause a run whose results the account could not pay: `run.paused`, and the pool's
    `balance.depleted` unless it is depleted already."""

    def body(tx: AccountTx) -> None:
        if queries.pause(tx.connection, account_id, run_id):
            tx.emit(
                "run.paused",
                error.pool,
                {"reason": error.code, "requested": error.requested_millicredits},
                run_id=run_id,
            )
        tx.refused[error.pool] = error.requested_millicredits

    idempotency.write(context, account_id, "pause_run", {}, None, type(None), body)


def finish_run(context: Context, request: FinishRunRequest) -> Run:
    """Settle a run: release its unused hold and free its slots."""
    run_id = request.run_id

    def body(tx: AccountTx) -> Run:
        run = _active_run(tx, run_id)
        released = 0
        if run.hold_status == "active":
            released = tx.release_hold(run.hold_id, run.hold_pool, "released", tx.now)
        finished = run_from_row(queries.finish(tx.connection, tx.account_id, run_id, tx.now))
        tx.emit(
            "run.finished",
            card_from_body(run.rate_card).pool,
            {"status": finished.status, "charged": run.charged, "released": released},
            run_id=run_id,
        )
        return finished

    return idempotency.write(
        context,
        request.account_id,
        "finish_run",
        {"run_id": run_id},
        request.idempotency_key,
        Run,
        body,
        grants=True,
    )


def account_of_run(context: Context, run_id: str) -> str:
    """The account a run belongs to; NotFoundError when there is no such run."""
    account_id = context.run(lambda c: queries.account_of_run(c, run_id), read_only=True)
    if account_id is None:
        raise NotFoundError("run", run_id)
    return str(account_id)
