"""Checks of what a request carries that need no database: lengths, ranges, shapes.

Each raises `ValidationError` naming the field, before anything is read or written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from creditbook.domain.amounts import Credits
from creditbook.domain.errors import ValidationError
from creditbook.domain.grants import GRANT_TRANSACTION_TYPE, MAX_PRIORITY, MIN_PRIORITY, GrantSource
from creditbook.domain.periods import check_instant
from creditbook.domain.plans import check_identifier
from creditbook.domain.requests import (
    MAX_DESCRIPTION_CHARS,
    MAX_HOLD_TIMEOUT_S,
    MAX_IDEMPOTENCY_KEY_CHARS,
    MAX_METADATA_BYTES,
    MAX_QUANTITY,
    ChargeRequest,
)
from creditbook.store import schema


def check_text(name: str, value: str, limit: int = MAX_DESCRIPTION_CHARS) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise ValidationError(f"{name} must be a string of at most {limit} characters", field=name)
    return value


def check_key(key: str | None) -> None:
    """An idempotency key, when given, is a string of bounded length."""
    if key is not None:
        check_text("idempotency_key", key, MAX_IDEMPOTENCY_KEY_CHARS)


def check_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(metadata, dict):
        raise ValidationError("metadata must be an object", field="metadata")
    try:
        size = len(json.dumps(metadata))
    except (TypeError, ValueError):
        raise ValidationError("metadata must be plain JSON", field="metadata") from None
    if size > MAX_METADATA_BYTES:
        raise ValidationError(
            f"metadata is limited to {MAX_METADATA_BYTES} bytes", field="metadata"
        )
    return dict(metadata)


def check_attribute(name: str, value: str) -> str:
    return check_identifier(name, value) if value else value


def check_positive(amount: Credits) -> None:
    if not amount.is_positive():
        raise ValidationError("amount must be positive", field="amount")


def check_hold(amount: Credits, timeout_s: int) -> None:
    if not amount.is_positive():
        raise ValidationError("hold amount must be positive", field="amount")
    if not 1 <= timeout_s <= MAX_HOLD_TIMEOUT_S:
        raise ValidationError(
            f"hold timeout must be within 1..{MAX_HOLD_TIMEOUT_S} s", field="timeout_s"
        )


def check_grant(
    source: GrantSource,
    amount: Credits,
    priority: int | None,
    description: str,
    effective_at: datetime | None,
    expires_at: datetime | None,
) -> None:
    """What a grant may carry: a source callers may grant from, a positive amount (negative
    only for adjustments), a priority in range and a window that ends after it starts."""
    if source not in GRANT_TRANSACTION_TYPE:
        raise ValidationError("source must be bonus, top_up or adjustment", field="source")
    if not amount.is_positive() and not (source is GrantSource.ADJUSTMENT and amount.is_negative()):
        raise ValidationError("amount must be positive", field="amount")
    if priority is not None and not MIN_PRIORITY <= priority <= MAX_PRIORITY:
        raise ValidationError(
            f"priority must be within {MIN_PRIORITY}..{MAX_PRIORITY}", field="priority"
        )
    check_text("description", description)
    for name, value in (("effective_at", effective_at), ("expires_at", expires_at)):
        if value is not None:
            check_instant(name, value)
    if effective_at and expires_at and expires_at <= effective_at:
        raise ValidationError("expires_at must be after effective_at", field="expires_at")


def check_charge(request: ChargeRequest) -> None:
    """A charge gives an amount or a priced function, a quantity in range, and attribution
    identifiers and texts within their limits."""
    if (request.amount is None) == (request.function is None):
        raise ValidationError("give either amount or rate_card_id with function")
    if request.amount is not None and not request.amount.is_positive():
        raise ValidationError("amount must be positive", field="amount")
    if request.function is not None:
        if request.rate_card_id is None:
            raise ValidationError("function needs rate_card_id", field="rate_card_id")
        if not 0 < request.quantity <= MAX_QUANTITY:
            raise ValidationError(f"quantity must be within 1..{MAX_QUANTITY}", field="quantity")
    elif not 0 <= request.quantity <= MAX_QUANTITY:
        raise ValidationError(f"quantity must be within 0..{MAX_QUANTITY}", field="quantity")
    for name in ("module", "service", "user_id", "resource_id", "run_id"):
        check_attribute(name, getattr(request, name))
    check_text("description", request.description)
    if request.resource_name is not None:
        check_text("resource_name", request.resource_name, schema.NAME)
    check_key(request.idempotency_key)
