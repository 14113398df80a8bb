"""Events: the event object (the API's, and every webhook's payload) and a page of them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field

from creditbook.wire.common import Out

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
    "webhook_endpoint.disabled",
]


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
