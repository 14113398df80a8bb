"""Request ids, structured JSON logs, Prometheus metrics, body-size limit.

One pure ASGI middleware does all four, so a request pays for one wrapper.
"""

from __future__ import annotations

import logging
import logging.config
import os
import secrets
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from creditbook.api.errors import error_body
from creditbook.api.responses import ExactJSONResponse

access_log = logging.getLogger("creditbook.access")
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
# The fields of a log line a console line shows after its message, in this order.
CONSOLE_FIELDS = (
    "method",
    "route",
    "status",
    "duration_ms",
    "request_id",
    "key_id",
    "client",
    "code",
)


class ConsoleFormatter(logging.Formatter):
    """`time level logger message key=value …`: the JSON line's fields, for a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = [
            f"{name}={getattr(record, name)}"
            for name in CONSOLE_FIELDS
            if getattr(record, name, None) not in (None, "")
        ]
        return " ".join([line, *fields])


def logging_config(level: str = "info", fmt: str = "json") -> dict[str, Any]:
    """The `logging.config.dictConfig` of the server: creditbook's and uvicorn's loggers on
    stderr, one JSON object a line (or `console` lines). uvicorn applies it in every worker."""
    formatters: dict[str, Any] = {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "{asctime}{levelname}{name}{message}",
            "style": "{",
        },
        "console": {
            "()": "creditbook.api.observability.ConsoleFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
        },
    }
    handler = {"class": "logging.StreamHandler", "formatter": fmt, "stream": "ext://sys.stderr"}
    named = {"level": level.upper(), "handlers": ["default"], "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {fmt: formatters[fmt]},
        "handlers": {"default": handler},
        "loggers": {name: dict(named) for name in ("creditbook", "uvicorn", "uvicorn.error")}
        | {"uvicorn.access": {"level": "WARNING", "handlers": [], "propagate": False}},
    }


def configure_logging(level: str = "info", fmt: str = "json") -> None:
    """Apply `logging_config` to this process."""
    logging.config.dictConfig(logging_config(level, fmt))


class Metrics:
    """The service's Prometheus metrics, in a registry of its own.

    With `PROMETHEUS_MULTIPROC_DIR` set (as `creditbook serve --workers N` does) every
    process writes its values to files there and `exposition()` sums all of them.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "creditbook_http_requests_total",
            "HTTP requests",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "creditbook_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )
        self.charges = Counter(
            "creditbook_charges_total", "Charges accepted", registry=self.registry
        )
        self.refusals = Counter(
            "creditbook_refusals_total",
            "Requests refused, by error code",
            ["code"],
            registry=self.registry,
        )

    def exposition(self) -> bytes:
        """The Prometheus text format: of every process when in multiprocess mode."""
        if os.environ.get(MULTIPROCESS_ENV):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return bytes(generate_latest(registry))
        return bytes(generate_latest(self.registry))


class BodyTooLarge(HTTPException):
    """A body that grows past the limit while it is read (no Content-Length to refuse early).

    An HTTPException, so that FastAPI's body parsing lets it through (it turns any other
    error into 400) and the error handlers answer 413 `payload_too_large`.
    """

    def __init__(self, max_body_bytes: int) -> None:
        super().__init__(413, f"request body is larger than {max_body_bytes} bytes")


class ServiceMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics, max_body_bytes: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")[:64]
        request_id = incoming if incoming.isprintable() and incoming else secrets.token_hex(8)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        started = time.perf_counter()
        status_holder: dict[str, Any] = {"status": 500}
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            response = ExactJSONResponse(
                error_body(
                    f"request body is larger than {self.max_body_bytes} bytes", "payload_too_large"
                ),
                status_code=413,
            )
            await self._send_with_headers(response, scope, receive, send, status_holder)
            self._record(scope, status_holder["status"], started, request_id)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLarge(self.max_body_bytes)
            return message

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                sent = list(message.get("headers", []))
                present = {name.lower() for name, _ in sent}
                extra = [(b"x-request-id", request_id.encode())]
                for name, value in (state.get("extra_headers") or {}).items():
                    if name.lower().encode() not in present:  # e.g. an error's Retry-After
                        extra.append((name.lower().encode(), value.encode()))
                message["headers"] = sent + extra
            await send(message)

        try:
            await self.app(scope, limited_receive, send_wrapper)
        except BodyTooLarge:
            response = ExactJSONResponse(
                error_body(
                    f"request body is larger than {self.max_body_bytes} bytes", "payload_too_large"
                ),
                status_code=413,
            )
            await self._send_with_headers(response, scope, receive, send, status_holder)
        finally:
            self._record(scope, status_holder["status"], started, request_id)

    async def _send_with_headers(
        self,
        response: ExactJSONResponse,
        scope: Scope,
        receive: Receive,
        send: Send,
        status_holder: dict[str, Any],
    ) -> None:
        status_holder["status"] = response.status_code
        response.headers["x-request-id"] = scope["state"]["request_id"]
        await response(scope, receive, send)

    def _record(self, scope: Scope, status: int, started: float, request_id: str) -> None:
        elapsed = time.perf_counter() - started
        route = getattr(scope.get("route"), "path", "unmatched")
        method = scope.get("method", "")
        self.metrics.requests.labels(method, route, str(status)).inc()
        self.metrics.latency.labels(method, route).observe(elapsed)
        state = scope.get("state", {})
        if status >= 400 and state.get("refusal"):
            self.metrics.refusals.labels(state["refusal"]).inc()
        access_log.info(
            "request",
            extra={
                "request_id": request_id,
                "method": method,
                "path": scope.get("path", ""),
                "route": route,
                "status": status,
                "duration_ms": round(elapsed * 1000, 3),
                "key_id": state.get("key_id"),
                "client": (scope.get("client") or ("",))[0],
            },
        )
