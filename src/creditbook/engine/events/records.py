"""An event as stored and as the world sees it.

Stored, an event's `data` keeps amounts as integer millicredits under the names in
`AMOUNT_FIELDS`; its body (the API's event object, and the webhook payload byte for byte)
shows them as exact credits, like every amount creditbook answers with.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import simplejson

from creditbook.domain.amounts import Credits
from creditbook.domain.events import EVENT_TYPES as EVENT_TYPES
from creditbook.domain.periods import rfc3339

# Fields of `data` that are amounts (stored in millicredits, shown in credits).
AMOUNT_FIELDS = frozenset(
    {
        "amount",
        "available",
        "threshold",
        "requested",
        "remaining",
        "allowance",
        "rollover",
        "charged",
        "released",
        "expired",
        "credits",
        "credits_refunded",
        "credits_taken_back",
        "credits_not_recovered",
    }
)


@dataclass(frozen=True, slots=True)
class Event:
    """One event: `sequence` numbers an account's events in commit order (the empty
    account id is the operator's own events, such as an endpoint disabled)."""

    event_id: str
    type: str
    account_id: str
    sequence: int
    created_at: datetime
    data: dict[str, Any]

    @classmethod
    def from_row(cls, row: Any) -> Event:
        return cls(row.event_id, row.type, row.account_id, row.seq, row.created_at, row.data)

    def body(self) -> dict[str, Any]:
        """The event as JSON values (amounts as Decimal): the API object and webhook payload."""
        return {
            "id": self.event_id,
            "type": self.type,
            "account_id": self.account_id,
            "sequence": self.sequence,
            "created_at": rfc3339(self.created_at),
            "data": shown_data(self.data),
        }


def shown_data(data: dict[str, Any]) -> dict[str, Any]:
    """`data` with its amounts in credits (exact decimals)."""
    return {
        name: _credits(value) if name in AMOUNT_FIELDS else value for name, value in data.items()
    }


def _credits(value: Any) -> Any:
    if value is None:
        return None
    # Stored, so shown as it is: an `available` may pass the amount range on a database
    # written before the bound.
    shown: Decimal | int = Credits.unbounded(int(value)).to_json()
    return shown


def encode(body: dict[str, Any]) -> bytes:
    """An event body as the webhook sends it: compact JSON with exact numbers."""
    text: str = simplejson.dumps(body, use_decimal=True, ensure_ascii=False, separators=(",", ":"))
    return text.encode()
