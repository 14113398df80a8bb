"""One error body everywhere: `{"detail": "<message>", "code": "<snake_case>"}`."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from creditbook.api.responses import ExactJSONResponse
from creditbook.domain.errors import CreditbookError, RateLimitedError
from creditbook.wire.common import ErrorOut

error_log = logging.getLogger("creditbook.errors")
INTERNAL_ERROR = "internal_error"

HTTP_CODES = {
    400: "malformed_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: INTERNAL_ERROR,
}


def _documented(description: str, code: str, detail: str) -> dict[str, Any]:
    example = {"detail": detail, "code": code}
    return {
        "model": ErrorOut,
        "description": description,
        "content": {"application/json": {"example": example}},
    }


# The errors any authenticated endpoint may answer, documented once for every router.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _documented(
        "`malformed_request`: the body is not valid JSON.",
        "malformed_request",
        "request body is not valid JSON",
    ),
    401: _documented(
        "`unauthenticated`: no API key, or a key that is not known.",
        "unauthenticated",
        "missing API key",
    ),
    403: _documented(
        "`key_revoked`: the key was revoked; `forbidden`: the key's scope does not allow this.",
        "forbidden",
        "this endpoint needs an operator key",
    ),
    404: _documented(
        "`not_found`: the object does not exist, or belongs to another account.",
        "not_found",
        "account not found: acme",
    ),
    409: _documented(
        "`idempotency_key_conflict`: the key was used with a different request; "
        "`no_free_slots`; `invalid_state`: the object cannot do this now.",
        "idempotency_key_conflict",
        "idempotency key 'k1' was used with a different request",
    ),
    413: _documented(
        "`payload_too_large`: the body is larger than the server accepts.",
        "payload_too_large",
        "request body is larger than 1048576 bytes",
    ),
    422: _documented(
        "`validation_error`: a parameter or body field is invalid; `amount_out_of_range`: an "
        "amount the request computes (a price times a quantity, the credits granted to the "
        "account) would pass 10^15 credits.",
        "validation_error",
        "plan_id: Field required",
    ),
    429: {
        **_documented(
            "`rate_limited`: this key's token bucket is empty; retry after `Retry-After` s.",
            "rate_limited",
            "rate limit exceeded, retry after 1 s",
        ),
        "headers": {
            "Retry-After": {
                "description": "Seconds until a request may succeed.",
                "schema": {"type": "integer"},
            }
        },
    },
    500: _documented(
        "`internal_error`: a bug; the `X-Request-ID` response header finds it in the server's log.",
        INTERNAL_ERROR,
        "internal server error",
    ),
    503: _documented(
        "`rate_limiter_unavailable`: the shared rate limiter (Redis) did not answer in time; "
        "nothing was done, retry later.",
        "rate_limiter_unavailable",
        "the rate limiter did not answer within 0.25 s; retry later",
    ),
}
# What the payment routes answer besides: Stripe's refusals, and a server without Stripe.
PAYMENT_RESPONSES: dict[int | str, dict[str, Any]] = {
    502: _documented(
        "`payment_provider_error`: Stripe refused the request or did not answer; nothing "
        "was recorded.",
        "payment_provider_error",
        "Stripe refused the request: No such customer: 'cus_123'",
    ),
    503: _documented(
        "`payments_not_configured`: the server has no Stripe secret key (or, for Stripe's "
        "notifications, no signing secret); `rate_limiter_unavailable`: see above.",
        "payments_not_configured",
        "payments need a Stripe secret key: set CREDITBOOK_STRIPE_API_KEY",
    ),
}
SIGNATURE_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _documented(
        "`invalid_signature`: the `Stripe-Signature` header is missing, does not verify with "
        "the endpoint's signing secret, or is older than 5 minutes; nothing changed.",
        "invalid_signature",
        "the Stripe signature does not verify: No signatures found matching the expected "
        "signature for payload",
    ),
    409: _documented(
        "`purchase_not_fulfilled`: a refund or dispute of a creditbook payment whose purchase "
        "is not recorded yet; Stripe sends it again later.",
        "purchase_not_fulfilled",
        "payment pi_123 of account acme is not fulfilled yet: send this again after its purchase",
    ),
    502: PAYMENT_RESPONSES[502],
    503: PAYMENT_RESPONSES[503],
}
INSUFFICIENT_CREDITS: dict[int | str, dict[str, Any]] = {
    402: _documented(
        "`insufficient_credits`: the account cannot pay.",
        "insufficient_credits",
        "insufficient credits in pool 'credits': requested 116, available 100",
    )
}


# A message never echoes a long input whole: it is cut to this many characters.
MAX_DETAIL_CHARS = 300


def error_body(detail: str, code: str) -> dict[str, str]:
    if len(detail) > MAX_DETAIL_CHARS:
        detail = detail[: MAX_DETAIL_CHARS - 1] + "…"
    return {"detail": detail, "code": code}


def error_response(
    status: int, detail: str, code: str, headers: dict[str, str] | None = None
) -> ExactJSONResponse:
    return ExactJSONResponse(error_body(detail, code), status_code=status, headers=headers)


def _describe_validation(errors: list[Any]) -> tuple[int, str, str]:
    first = errors[0] if errors else {}
    if first.get("type") == "json_invalid":
        return 400, "request body is not valid JSON", "malformed_request"
    location = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
    message = first.get("msg", "invalid request")
    return 422, f"{location}: {message}" if location else message, "validation_error"


def _request_id_headers(request: Request) -> dict[str, str]:
    request_id = getattr(request.state, "request_id", None)
    return {"X-Request-ID": request_id} if request_id else {}


def _internal_error(
    request: Request, error: Exception, *, with_request_id: bool = False
) -> ExactJSONResponse:
    """A bug: logged with its traceback and request id, answered as the documented error
    body (the request id lets an operator find the log line)."""
    request_id = getattr(request.state, "request_id", None)
    error_log.error(
        "unhandled error",
        exc_info=error,
        extra={"request_id": request_id, "path": request.url.path},
    )
    request.state.refusal = INTERNAL_ERROR
    headers = _request_id_headers(request) if with_request_id else None
    return error_response(500, "internal server error", INTERNAL_ERROR, headers=headers)


class UnhandledErrorMiddleware:
    """Answers any error an endpoint raises with the documented error body (500
    `internal_error`) inside the other middleware, so the response carries the request id
    and the connection stays open. (An `Exception` handler alone runs in the outermost
    server-error middleware, which re-raises and makes the server close the connection.)"""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except StarletteHTTPException:
            raise  # answered further out (a body that grows too large while it is read)
        except Exception as error:
            if started:  # too late for another answer: the server closes the connection
                raise
            response = _internal_error(Request(scope), error)
            await response(scope, receive, send)


def install(app: FastAPI) -> None:
    app.add_middleware(UnhandledErrorMiddleware)

    # What still escapes (an error in a middleware) reaches the server-error middleware,
    # outside the one that adds the request id to responses.
    @app.exception_handler(Exception)
    async def escaped_error(request: Request, error: Exception) -> ExactJSONResponse:
        return _internal_error(request, error, with_request_id=True)

    @app.exception_handler(CreditbookError)
    async def domain_error(request: Request, error: CreditbookError) -> ExactJSONResponse:
        request.state.refusal = error.code
        headers = None
        if isinstance(error, RateLimitedError):
            headers = {"Retry-After": str(error.retry_after_s)}
        return error_response(error.status, error.message, error.code, headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(
        request: Request, error: RequestValidationError
    ) -> ExactJSONResponse:
        status, detail, code = _describe_validation(list(error.errors()))
        return error_response(status, detail, code)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> ExactJSONResponse:
        code = HTTP_CODES.get(error.status_code, "error")
        return error_response(error.status_code, str(error.detail), code, dict(error.headers or {}))
