"""The event types creditbook records, in the order the docs list them."""

from __future__ import annotations

from typing import Literal, get_args

EventType = Literal[
    "balance.low",
    "balance.depleted",
    "balance.recovered",
    "credits.granted",
    "credits.expiring",
    "credits.expired",
    "period.renewed",
    "run.paused",
    "run.finished",
    "payment.succeeded",
    "payment.refunded",
    "payment.disputed",
    "auto_recharge.failed",
    "webhook_endpoint.disabled",
]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
