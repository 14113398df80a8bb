"""What callers ask the engine to do, as values (batch items, run results)."""

from __future__ import annotations

from dataclasses import dataclass

from creditbook.domain.amounts import Credits

MAX_DESCRIPTION_CHARS = 500
MAX_BATCH_ITEMS = 1000
MAX_IDEMPOTENCY_KEY_CHARS = 255


@dataclass(frozen=True, slots=True)
class ChargeRequest:
    """A charge: either `amount` raw credits, or `function` × `quantity` from a rate card.

    Attributes:
        account_id: the account charged.
        amount: raw credits (exclusive with rate_card_id/function).
        rate_card_id, function, quantity: price the charge from a rate card: the base
            function bills per row, an enrichment per success.
        pool: where to draw from (default: the function's pool, or the plan's only pool).
        partial: charge what is available when the full amount is not.
        module, service, user_id, resource_id, resource_name, run_id: attribution.
        description: shown in the customer's history.
        idempotency_key: scoped to the account.
    """

    account_id: str
    amount: Credits | None = None
    rate_card_id: str | None = None
    function: str | None = None
    quantity: int = 0
    pool: str | None = None
    partial: bool = False
    module: str = ""
    service: str = ""
    user_id: str = ""
    resource_id: str = ""
    resource_name: str | None = None
    run_id: str = ""
    description: str = ""
    idempotency_key: str | None = None
