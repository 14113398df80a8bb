"""One error body everywhere: `{"detail": "<message>", "code": "<snake_case>"}`."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from creditbook.api.responses import ExactJSONResponse
from creditbook.domain.errors import CreditbookError, RateLimitedError

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
}


def error_body(detail: str, code: str) -> dict[str, str]:
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


def install(app: FastAPI) -> None:
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
