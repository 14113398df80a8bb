"""The package root's public surface is pinned: changing it is a deliberate act."""

from __future__ import annotations

import creditbook


def test_public_surface() -> None:
    assert sorted(creditbook.__all__) == [
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
    for name in creditbook.__all__:
        assert getattr(creditbook, name) is not None
