"""creditbook: the credits ledger of an API business.

from creditbook import Ledger, Plan, Credits
"""

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
from creditbook.domain.periods import Interval
from creditbook.domain.plans import Plan, RolloverPolicy
from creditbook.domain.rates import Colors, FilterRate, FunctionRate, RateCard
from creditbook.domain.requests import ChargeRequest
from creditbook.engine.clock import Clock, ManualClock, SystemClock
from creditbook.engine.ledger import Ledger

__version__ = "0.1.0"

__all__ = [
    "ChargeRequest",
    "Clock",
    "Colors",
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
    "SystemClock",
    "TransactionType",
    "ValidationError",
    "__version__",
]
