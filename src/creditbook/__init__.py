"""creditbook: the credits ledger of an API business.

from creditbook import Ledger, Plan, Credits

The names below are imported on first use (PEP 562), so that `import creditbook.client`
(the SDK) or `creditbook.wire` does not load the engine, SQLAlchemy or Alembic.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from creditbook.domain.amounts import Credits
    from creditbook.domain.errors import (
        CreditbookError,
        IdempotencyConflictError,
        InsufficientCreditsError,
        NoFreeSlotsError,
        NotFoundError,
        StateError,
        ValidationError,
    )
    from creditbook.domain.grants import GrantSource, TransactionType
    from creditbook.domain.payments import AutoRecharge, CreditPack
    from creditbook.domain.periods import Interval
    from creditbook.domain.plans import Plan, RolloverPolicy
    from creditbook.domain.rates import Colors, FilterRate, FunctionRate, RateCard
    from creditbook.domain.requests import ChargeRequest
    from creditbook.engine.clock import Clock, ManualClock, SystemClock
    from creditbook.engine.ledger import Ledger
    from creditbook.engine.payments.checkout import CheckoutRequest
    from creditbook.engine.payments.stripe_api import StripeSettings

from creditbook.version import __version__

# Each public name and the module it lives in.
_SOURCES = {
    "AutoRecharge": "creditbook.domain.payments",
    "CheckoutRequest": "creditbook.engine.payments.checkout",
    "CreditPack": "creditbook.domain.payments",
    "StripeSettings": "creditbook.engine.payments.stripe_api",
    "ChargeRequest": "creditbook.domain.requests",
    "Clock": "creditbook.engine.clock",
    "Colors": "creditbook.domain.rates",
    "CreditbookError": "creditbook.domain.errors",
    "Credits": "creditbook.domain.amounts",
    "FilterRate": "creditbook.domain.rates",
    "FunctionRate": "creditbook.domain.rates",
    "GrantSource": "creditbook.domain.grants",
    "IdempotencyConflictError": "creditbook.domain.errors",
    "InsufficientCreditsError": "creditbook.domain.errors",
    "Interval": "creditbook.domain.periods",
    "Ledger": "creditbook.engine.ledger",
    "ManualClock": "creditbook.engine.clock",
    "NoFreeSlotsError": "creditbook.domain.errors",
    "NotFoundError": "creditbook.domain.errors",
    "Plan": "creditbook.domain.plans",
    "RateCard": "creditbook.domain.rates",
    "RolloverPolicy": "creditbook.domain.plans",
    "StateError": "creditbook.domain.errors",
    "SystemClock": "creditbook.engine.clock",
    "TransactionType": "creditbook.domain.grants",
    "ValidationError": "creditbook.domain.errors",
}

__all__ = [
    "AutoRecharge",
    "ChargeRequest",
    "CheckoutRequest",
    "Clock",
    "Colors",
    "CreditPack",
    "CreditbookError",
    "Credits",
    "FilterRate",
    "FunctionRate",
    "GrantSource",
    "IdempotencyConflictError",
    "InsufficientCreditsError",
    "Interval",
    "Ledger",
    "ManualClock",
    "NoFreeSlotsError",
    "NotFoundError",
    "Plan",
    "RateCard",
    "RolloverPolicy",
    "StateError",
    "StripeSettings",
    "SystemClock",
    "TransactionType",
    "ValidationError",
    "__version__",
]


if not TYPE_CHECKING:
    # Hidden from type checkers, which see the imports above: a misspelt name stays an error.

    def __getattr__(name: str) -> Any:
        source = _SOURCES.get(name)
        if source is None:
            raise AttributeError(f"module 'creditbook' has no attribute {name!r}")
        value = getattr(importlib.import_module(source), name)
        globals()[name] = value  # the next lookup is a plain attribute
        return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
