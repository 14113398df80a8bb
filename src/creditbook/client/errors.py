"""What the SDK raises: one class per HTTP status, plus transport failures.

    CreditbookAPIError               every failure of a call (message, status_code, code,
    │                                request_id, body)
    ├── APIConnectionError           no response: refused, reset, dropped mid-answer
    │   └── APITimeoutError          no response in time
    ├── BadRequestError              400 malformed_request (invalid_period on /credits/stats)
    ├── AuthenticationError          401 unauthenticated
    ├── InsufficientCreditsError     402 insufficient_credits
    ├── PermissionDeniedError        403 key_revoked, forbidden
    ├── NotFoundError                404 not_found
    ├── ConflictError                409 idempotency_key_conflict, no_free_slots, invalid_state
    ├── PayloadTooLargeError         413 payload_too_large
    ├── UnprocessableEntityError     422 validation_error
    ├── RateLimitError               429 rate_limited (retry_after: seconds, when given)
    ├── InternalServerError          5xx
    └── KeySecretLostError           key_secret_lost: a key was issued but its secret's only
                                     answer was lost (key_id: revoke it, issue another)

`code` is the server's stable snake_case code (None when the body has none, e.g. the
lobstr-shaped 404 of a run's credits; each class's `default_code` is the code its status
stands for then); `request_id` is the server's `X-Request-ID`.
"""

from __future__ import annotations

from typing import Any

import httpx

REQUEST_ID_HEADER = "X-Request-ID"


class CreditbookAPIError(Exception):
    """A call that did not succeed.

    Attributes:
        message: the server's `detail`, or what went wrong on the way.
        status_code: the HTTP status; None when no response came back.
        code: the server's stable error code (`insufficient_credits`, ...), or None.
        request_id: the server's request id (`X-Request-ID`), to find the call in its logs.
        body: the decoded response body (a dict for JSON errors), or None.
    """

    # The code this kind of failure stands for when the server's body names none.
    default_code: str | None = None

    def __init__(
        self,
        message: str,
        status_code: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.code = code
        self.request_id = request_id
        self.body = body

    def __str__(self) -> str:
        parts = [str(self.status_code)] if self.status_code is not None else []
        if self.code:
            parts.append(self.code)
        prefix = f"[{' '.join(parts)}] " if parts else ""
        suffix = f" (request {self.request_id})" if self.request_id else ""
        return f"{prefix}{self.message}{suffix}"


class APIConnectionError(CreditbookAPIError):
    """No response: the connection failed or broke before the answer was read."""

    default_code = "connection_error"


class APITimeoutError(APIConnectionError):
    """No response within the client's timeout."""


class BadRequestError(CreditbookAPIError):
    """400: the body is not JSON, or (stats) the period is invalid."""

    default_code = "malformed_request"


class AuthenticationError(CreditbookAPIError):
    """401: no key, or a key the server does not know."""

    default_code = "unauthenticated"


class InsufficientCreditsError(CreditbookAPIError):
    """402: the account cannot pay; nothing was charged."""

    default_code = "insufficient_credits"


class PermissionDeniedError(CreditbookAPIError):
    """403: the key was revoked (`key_revoked`) or its scope does not allow this."""

    default_code = "forbidden"


class NotFoundError(CreditbookAPIError):
    """404: no such object, or one that belongs to another account."""

    default_code = "not_found"


class ConflictError(CreditbookAPIError):
    """409: idempotency key reused with another body, no free slots, or invalid state."""

    default_code = "invalid_state"


class PayloadTooLargeError(CreditbookAPIError):
    """413: the body is larger than the server accepts."""

    default_code = "payload_too_large"


class UnprocessableEntityError(CreditbookAPIError):
    """422: a parameter or body field is invalid."""

    default_code = "validation_error"


class RateLimitError(CreditbookAPIError):
    """429: the key's rate-limit bucket is empty.

    Attributes:
        retry_after: seconds the server asked to wait (`Retry-After`), or None.
    """

    default_code = "rate_limited"

    def __init__(
        self,
        message: str,
        status_code: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        body: Any = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status_code, code, request_id, body)
        self.retry_after = retry_after


class InternalServerError(CreditbookAPIError):
    """5xx: the server failed; a retry may succeed (the SDK already retried)."""


class KeySecretLostError(CreditbookAPIError):
    """A key was issued, but the answer carrying its secret was lost (a retry got the
    server's replay, which has no secret: secrets are stored hashed). The key works and
    nobody knows its secret: revoke it (`keys.revoke(error.key_id)`) and issue another.

    Attributes:
        key_id: the issued key's id.
    """

    default_code = "key_secret_lost"

    def __init__(self, key_id: str, request_id: str | None = None) -> None:
        super().__init__(
            f"key {key_id} was issued but its secret was lost with the first answer (a "
            f"replay has no secret): revoke {key_id} and issue another key",
            status_code=None,
            code=self.default_code,
            request_id=request_id,
        )
        self.key_id = key_id


ERRORS_BY_STATUS: dict[int, type[CreditbookAPIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: InsufficientCreditsError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def error_class(status_code: int) -> type[CreditbookAPIError]:
    if status_code >= 500:
        return InternalServerError
    return ERRORS_BY_STATUS.get(status_code, CreditbookAPIError)


def error_from_response(
    response: httpx.Response, retry_after: float | None = None
) -> CreditbookAPIError:
    """The exception for an error response, with the server's message, code and request id."""
    body: Any
    try:
        body = response.json()
    except ValueError:
        body = response.text or None
    message, code = f"HTTP {response.status_code}", None
    if isinstance(body, dict):
        detail, given_code = body.get("detail"), body.get("code")
        if isinstance(detail, str) and detail:
            message = detail
        if isinstance(given_code, str) and given_code:
            code = given_code
    elif isinstance(body, str):
        message = f"HTTP {response.status_code}: {body[:200]}"
    request_id = response.headers.get(REQUEST_ID_HEADER)
    cls = error_class(response.status_code)
    if cls is RateLimitError:
        return RateLimitError(
            message, response.status_code, code, request_id, body, retry_after=retry_after
        )
    return cls(message, response.status_code, code, request_id, body)
