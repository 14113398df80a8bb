"""Holds: credits reserved now, then captured as charges or released; a hold releases
itself when it times out."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from creditbook.domain.amounts import Credits
from creditbook.domain.errors import InsufficientCreditsError, NotFoundError, StateError
from creditbook.domain.grants import TransactionType
from creditbook.domain.requests import CaptureRequest, HoldRequest, ReleaseRequest
from creditbook.engine import idempotency
from creditbook.engine.account.lines import Attribution, Line, new_id
from creditbook.engine.account.state import AccountTx
from creditbook.engine.context import Context
from creditbook.engine.operations.grants import default_pool
from creditbook.engine.reports.accounts import hold_from_row
from creditbook.engine.results import Charge, Hold
from creditbook.engine.validation import check_attribute, check_hold, check_positive, check_text
from creditbook.store.queries import holds as queries


def hold(context: Context, request: HoldRequest) -> Hold:
    """Reserve credits. Unused reserved credits return when released or timed out."""
    amount, pool, timeout_s = request.amount, request.pool, request.timeout_s
    check_hold(amount, timeout_s)
    fields = {"amount": amount.millicredits, "pool": pool, "timeout_s": timeout_s}

    def body(tx: AccountTx) -> Hold:
        return hold_locked(tx, amount, pool, timeout_s, run_id="")

    return idempotency.write(
        context,
        request.account_id,
        "hold",
        fields,
        request.idempotency_key,
        Hold,
        body,
        grants=True,
    )


def hold_locked(
    tx: AccountTx, amount: Credits, pool: str | None, timeout_s: int, run_id: str
) -> Hold:
    """Reserve `amount` on the locked account, for a run when `run_id` is given."""
    target = pool or default_pool(tx)
    tx.check_pool(target)
    draws = tx.plan_draws(target, amount, partial=False)
    hold_id = new_id("hld_")
    expires_at = tx.now + timedelta(seconds=timeout_s)
    queries.insert_hold(
        tx.connection,
        {
            "account_id": tx.account_id,
            "hold_id": hold_id,
            "pool": target,
            "amount": amount.millicredits,
            "remaining": 0,
            "status": "active",
            "run_id": run_id,
            "created_at": tx.now,
            "expires_at": expires_at,
            "closed_at": None,
        },
    )
    lines = list(draws)
    lines += [Line("hold", -line.amount, grant_id=line.grant_id, hold_id=hold_id) for line in draws]
    tx.post(
        TransactionType.HOLD,
        target,
        lines,
        description=f"Hold {hold_id}",
        attribution=Attribution(run_id=run_id, hold_id=hold_id),
    )
    tx.note_event(expires_at)
    return Hold(
        hold_id, tx.account_id, target, amount, amount, "active", run_id, tx.now, expires_at
    )


def capture(context: Context, request: CaptureRequest) -> Charge:
    """Spend part of a hold (at most what it holds); optionally release the rest."""
    check_positive(request.amount)
    for name, value in (
        ("function", request.function),
        ("user_id", request.user_id),
        ("resource_id", request.resource_id),
    ):
        check_attribute(name, value)
    check_text("description", request.description)
    fields = {
        "hold_id": request.hold_id,
        "amount": request.amount.millicredits,
        "function": request.function,
        "user_id": request.user_id,
        "resource_id": request.resource_id,
        "description": request.description,
        "release_rest": request.release_rest,
    }

    def body(tx: AccountTx) -> Charge:
        return _capture_locked(tx, request)

    return idempotency.write(
        context,
        request.account_id,
        "capture",
        fields,
        request.idempotency_key,
        Charge,
        body,
        grants=True,
    )


def _capture_locked(tx: AccountTx, request: CaptureRequest) -> Charge:
    hold_id, amount = request.hold_id, request.amount
    held = active_hold(tx, hold_id)
    if held.run_id:
        # The run bills its hold through results, so its breakdown stays whole.
        raise StateError(
            f"hold {hold_id} belongs to run {held.run_id}: report results to the run instead"
        )
    if amount.millicredits > held.remaining:
        raise InsufficientCreditsError(held.pool, amount.millicredits, held.remaining)
    lines = tx.plan_draws(held.pool, amount, partial=False, hold_id=hold_id)
    lines.append(Line("spent", amount.millicredits))
    attribution = Attribution(
        function=request.function,
        user_id=request.user_id,
        resource_id=request.resource_id,
        run_id=held.run_id,
        hold_id=hold_id,
    )
    text = request.description or f"Captured from hold {hold_id}"
    posted = tx.post(
        TransactionType.DEDUCTION,
        held.pool,
        lines,
        description=text,
        attribution=attribution,
        quantity=0,
    )
    tx.rollup(posted.created_at, held.pool, attribution, amount.millicredits, 0, 1)
    if request.release_rest:
        tx.release_hold(hold_id, held.pool, "captured", tx.now)
    return Charge(
        posted.transfer_id,
        tx.account_id,
        held.pool,
        amount,
        amount,
        request.function,
        0,
        "",
        "",
        request.user_id,
        request.resource_id,
        held.run_id,
        text,
        posted.created_at,
    )


def release(context: Context, request: ReleaseRequest) -> Hold:
    """Give back what a hold still holds."""
    hold_id = request.hold_id

    def body(tx: AccountTx) -> Hold:
        held = active_hold(tx, hold_id)
        tx.release_hold(hold_id, held.pool, "released", tx.now)
        # What it held went back whole: the hold's row as it now stands.
        return replace(hold_from_row(held), remaining=Credits(0), status="released")

    return idempotency.write(
        context,
        request.account_id,
        "release",
        {"hold_id": hold_id},
        request.idempotency_key,
        Hold,
        body,
        grants=True,
    )


def active_hold(tx: AccountTx, hold_id: str) -> Any:
    """The hold's row; NotFoundError when there is none, StateError when it has closed."""
    found = queries.hold(tx.connection, tx.account_id, hold_id)
    if found is None:
        raise NotFoundError("hold", hold_id)
    if found.status != "active":
        raise StateError(f"hold {hold_id} is {found.status}")
    return found
