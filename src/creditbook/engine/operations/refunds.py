"""Refunds: a charge reversed, whole or in part, back into the grants it drew from."""

from __future__ import annotations

from typing import Any

from creditbook.domain.amounts import Credits
from creditbook.domain.errors import NotFoundError, ValidationError, invariant
from creditbook.domain.grants import TransactionType
from creditbook.domain.requests import RefundRequest
from creditbook.engine import idempotency
from creditbook.engine.account.lines import Attribution, Line
from creditbook.engine.account.state import AccountTx
from creditbook.engine.context import Context
from creditbook.engine.results import Refund
from creditbook.engine.validation import check_positive, check_text
from creditbook.store.queries import refunds as queries


def refund(context: Context, request: RefundRequest) -> Refund:
    """Reverse (part of) a charge, back into the grants it drew from, last drawn first.

    Credits whose grant has expired since the charge expire again at once.
    """
    amount = request.amount
    if amount is not None:
        check_positive(amount)
    check_text("description", request.description)
    fields = {
        "charge_id": request.charge_id,
        "amount": None if amount is None else amount.millicredits,
        "description": request.description,
    }

    def body(tx: AccountTx) -> Refund:
        return _refund_locked(tx, request.charge_id, amount, request.description)

    return idempotency.write(
        context, request.account_id, "refund", fields, request.idempotency_key, Refund, body
    )


def _refund_locked(
    tx: AccountTx, charge_id: str, amount: Credits | None, description: str
) -> Refund:
    charge = queries.charge(tx.connection, tx.account_id, charge_id)
    if charge is None:
        raise NotFoundError("charge", charge_id)
    refundable = -charge.amount - charge.refunded
    wanted = refundable if amount is None else amount.millicredits
    if wanted > refundable or wanted <= 0:
        raise ValidationError(
            f"at most {Credits(refundable)} credits of this charge can be refunded",
            field="amount",
        )
    lines = _give_back(tx, charge, wanted)
    attribution = Attribution(
        charge.function,
        charge.module,
        charge.service,
        charge.user_id,
        charge.resource_id,
        charge.run_id,
    )
    # The refund that completes a charge takes its units back out of the stats.
    full = charge.refunded + wanted == -charge.amount
    posted_quantity = -charge.quantity if full else 0
    posted = tx.post(
        TransactionType.REFUND,
        charge.pool,
        lines,
        description=description or f"Refund of {charge_id}",
        attribution=attribution,
        linked_seq=charge.seq,
        quantity=posted_quantity,
    )
    tx.rollup(posted.created_at, charge.pool, attribution, -wanted, posted_quantity, 0)
    queries.add_refunded(tx.connection, tx.account_id, charge.seq, wanted)
    return Refund(
        posted.transfer_id,
        charge_id,
        tx.account_id,
        Credits(wanted),
        Credits(posted.amount),
        posted.created_at,
    )


def _give_back(tx: AccountTx, charge: Any, wanted: int) -> list[Line]:
    """The refund's lines: `wanted` back into the grants the charge drew from, last drawn
    first and past what earlier refunds already took back; into `expired` for grants that
    have closed since."""
    drawn = queries.drawn(tx.connection, tx.account_id, charge.seq)
    already = charge.refunded
    closed = tx._closed_grants([row.grant_id for row in drawn])
    lines: list[Line] = [Line("spent", -wanted)]
    missing, expired = wanted, 0
    for row in drawn:
        part = -row.amount
        skip = min(already, part)
        already -= skip
        take = min(missing, part - skip)
        if take <= 0:
            continue
        missing -= take
        if row.grant_id in closed:
            expired += take
        else:
            lines.append(Line("grant", take, grant_id=row.grant_id))
    invariant(missing == 0, "a refund within the refundable amount is drawn back in full")
    if expired:
        lines.append(Line("expired", expired))
    return lines
