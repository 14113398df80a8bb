"""Moved to `creditbook.domain.requests`; kept importable for existing callers."""

from creditbook.domain.requests import (
    MAX_BATCH_ITEMS,
    MAX_DESCRIPTION_CHARS,
    MAX_IDEMPOTENCY_KEY_CHARS,
    ChargeRequest,
)

__all__ = ["MAX_BATCH_ITEMS", "MAX_DESCRIPTION_CHARS", "MAX_IDEMPOTENCY_KEY_CHARS", "ChargeRequest"]
