"""Events: the event object (the API's, and every webhook's payload) and a page of them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import ConfigDict, Field

from creditbook.domain.events import EventType as EventType
from creditbook.domain.payments import ZERO_DECIMAL_CURRENCIES
from creditbook.wire.common import Out


class EventOut(Out):
    """Something that happened on an account, numbered per account in commit order.

    `data` always carries what the event is about: `pool`, and the amounts as exact credits
    (`available`, `threshold`, `amount`, …), with `transfer_id` or `run_id` of the write
    that caused it. The empty `account_id` is the operator's own (an endpoint disabled).
    """

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "evt_5f0c6b1d2e3a4f5a6b7c8d9e",
                    "type": "balance.low",
                    "account_id": "acct_3f86d5d914b7110bfd718e3b",
                    "sequence": 12,
                    "created_at": "2026-12-01T09:30:00Z",
                    "data": {
                        "pool": "credits",
                        "available": 9,
                        "threshold": 10,
                        "transfer_id": "txn_e83712df0b8652fbc976a74f",
                    },
                }
            ]
        }
    )

    id: str
    type: EventType
    account_id: str
    sequence: int
    created_at: datetime
    data: dict[str, Any] = Field(default_factory=dict)


class EventList(Out):
    data: list[EventOut]
    has_more: bool
    next_cursor: str | None


def money(minor: Any, currency: Any) -> str:
    """An amount in a currency's minor unit, written in its major unit: `9.00 USD`
    (two decimal places; currencies without a minor unit show their amount as is)."""
    if not isinstance(minor, int) or not isinstance(currency, str):
        return f"{minor} {currency}"
    code = currency.upper()
    if currency.lower() in ZERO_DECIMAL_CURRENCIES:
        return f"{minor:,} {code}"
    return f"{Decimal(minor) / 100:,.2f} {code}"


def summary(event_type: str, data: dict[str, Any]) -> str:
    """One short line saying what an event means (its amounts as the API writes them)."""
    get = data.get
    day = (get("expires_at") or "")[:10]
    lines = {
        "balance.low": f"below {get('threshold')}: {get('available')} left",
        "balance.depleted": (
            f"a charge of {get('requested')} refused: {get('available')} left"
            if get("reason") == "charge_refused"
            else f"ran out: {get('available')} left"
        ),
        "balance.recovered": (
            f"back at or above {get('threshold')}: {get('available')}"
            if get("recovered_from") == "low"
            else f"credits again: {get('available')}"
        ),
        "credits.granted": f"{get('amount')} granted ({get('source')})"
        + (f", expiring {day}" if day else ""),
        "credits.expiring": f"{get('remaining')} {get('source')} credits expire {day}",
        "credits.expired": f"{get('amount')} {get('source')} credits expired",
        "period.renewed": f"period {get('period_index')}: {get('allowance')} granted, "
        f"{get('rollover')} rolled over, {get('expired')} expired",
        "run.paused": f"run {get('run_id')} paused: {get('requested')} needed",
        "run.finished": f"run {get('run_id')} {get('status')}: {get('charged')} charged, "
        f"{get('released')} released",
        "webhook_endpoint.disabled": f"endpoint {get('endpoint_id')} disabled: {get('reason')}",
        "payment.succeeded": f"{get('credits')} bought ({get('pack_id')} x {get('quantity')}) "
        f"for {money(get('amount_paid'), get('currency'))}",
        "payment.refunded": f"{money(get('amount_refunded'), get('currency'))} refunded: "
        f"{get('credits_taken_back')} taken back, {get('credits_not_recovered')} already spent",
        "payment.disputed": f"payment {get('payment_id')} disputed "
        f"({money(get('disputed_amount'), get('currency'))}, {get('reason')})",
        "auto_recharge.failed": f"auto-recharge {get('status')}: {get('reason')}",
    }
    return lines.get(event_type, event_type)
