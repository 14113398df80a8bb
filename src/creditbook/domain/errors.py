"""Domain errors: expected failures that callers handle, each with a stable code.

    CreditbookError
    ├── ValidationError          validation_error          (422)
    │   ├── AmountRangeError     amount_out_of_range       (422)
    │   ├── WebhookUrlError      webhook_url_not_allowed   (422)
    │   └── UnknownEventTypeError  unknown_event_type      (422)
    ├── NotFoundError            not_found                 (404)
    ├── InsufficientCreditsError insufficient_credits      (402)
    ├── NoFreeSlotsError         no_free_slots             (409)
    ├── IdempotencyConflictError idempotency_key_conflict  (409)
    ├── StateError               invalid_state             (409)
    │   └── PurchaseNotFulfilledError  purchase_not_fulfilled  (409)
    ├── AuthenticationError      unauthenticated           (401)
    ├── KeyRevokedError          key_revoked               (403)
    ├── PermissionDeniedError    forbidden                 (403)
    ├── PayloadTooLargeError     payload_too_large         (413)
    ├── RateLimitedError         rate_limited              (429)
    ├── DependencyUnavailableError  rate_limiter_unavailable  (503)
    ├── SignatureError           invalid_signature         (400)
    ├── PaymentProviderError     payment_provider_error    (502)
    └── PaymentsNotConfiguredError  payments_not_configured  (503)

A broken invariant is not one of these: it is an `InvariantError`, a programmer error that
no caller handles (the API answers 500). `invariant(condition, message)` raises it; unlike
`assert` it is not removed by `python -O`.
"""

from __future__ import annotations

from decimal import Decimal


class InvariantError(Exception):
    """Something that must always be true was not: a bug, never an expected failure."""


def invariant(condition: bool, message: str) -> None:
    """Raise `InvariantError(message)` unless `condition` holds (checked even under -O)."""
    if not condition:
        raise InvariantError(message)


class CreditbookError(Exception):
    """Base class of expected failures."""

    code = "error"
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationError(CreditbookError):
    code = "validation_error"
    status = 422

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class AmountRangeError(ValidationError):
    """An amount the ledger computes (a price times a quantity, a balance, a total after a
    grant) would fall outside the range every amount keeps (see `domain.amounts`)."""

    code = "amount_out_of_range"


class WebhookUrlError(ValidationError):
    """A webhook URL the dispatcher may not call: not https, or a host that does not
    resolve to public addresses only (unless private addresses are allowed)."""

    code = "webhook_url_not_allowed"

    def __init__(self, message: str) -> None:
        super().__init__(message, field="url")


class UnknownEventTypeError(ValidationError):
    """An event type no event has (an endpoint's `event_types`)."""

    code = "unknown_event_type"

    def __init__(self, event_type: str) -> None:
        super().__init__(f"unknown event type: {event_type!r}", field="event_types")
        self.event_type = event_type


class NotFoundError(CreditbookError):
    code = "not_found"
    status = 404

    def __init__(self, kind: str, identifier: str) -> None:
        super().__init__(f"{kind} not found: {identifier}")
        self.kind = kind
        self.identifier = identifier


class InsufficientCreditsError(CreditbookError):
    code = "insufficient_credits"
    status = 402

    def __init__(self, pool: str, requested_millicredits: int, available_millicredits: int):
        super().__init__(
            f"insufficient credits in pool {pool!r}: requested "
            f"{Decimal(requested_millicredits) / 1000:f}, "
            f"available {Decimal(available_millicredits) / 1000:f}"
        )
        self.pool = pool
        self.requested_millicredits = requested_millicredits
        self.available_millicredits = available_millicredits


class NoFreeSlotsError(CreditbookError):
    code = "no_free_slots"
    status = 409

    def __init__(self, requested: int, used: int, total: int) -> None:
        super().__init__(f"no free slots: requested {requested}, {used} of {total} in use")
        self.requested = requested
        self.used = used
        self.total = total


class IdempotencyConflictError(CreditbookError):
    code = "idempotency_key_conflict"
    status = 409

    def __init__(self, key: str) -> None:
        super().__init__(f"idempotency key {key!r} was used with a different request")
        self.key = key


class StateError(CreditbookError):
    code = "invalid_state"
    status = 409


class AuthenticationError(CreditbookError):
    """No key, or a key that is not one of ours."""

    code = "unauthenticated"
    status = 401


class KeyRevokedError(CreditbookError):
    code = "key_revoked"
    status = 403


class PermissionDeniedError(CreditbookError):
    """A valid key whose scope does not allow the operation."""

    code = "forbidden"
    status = 403


class PayloadTooLargeError(CreditbookError):
    code = "payload_too_large"
    status = 413


class RateLimitedError(CreditbookError):
    code = "rate_limited"
    status = 429

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"rate limit exceeded, retry after {retry_after_s} s")
        self.retry_after_s = retry_after_s


class DependencyUnavailableError(CreditbookError):
    """A service the request needs did not answer in time (the shared rate limiter)."""

    code = "rate_limiter_unavailable"
    status = 503


class PaymentsNotConfiguredError(CreditbookError):
    """Payments need Stripe settings this server was not given."""

    code = "payments_not_configured"
    status = 503


class PaymentProviderError(CreditbookError):
    """Stripe refused a request or did not answer; nothing was recorded."""

    code = "payment_provider_error"
    status = 502


class SignatureError(CreditbookError):
    """An inbound notification whose signature does not verify (or is too old)."""

    code = "invalid_signature"
    status = 400


class PurchaseNotFulfilledError(StateError):
    """A refund or dispute of a creditbook purchase whose payment has not been reported yet:
    refused, so that Stripe sends it again after the purchase's own notification."""

    code = "purchase_not_fulfilled"
