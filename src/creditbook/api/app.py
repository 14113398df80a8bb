"""The FastAPI application: `create_app()` for servers, `create_app(ledger=...)` for tests."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI, Request
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.responses import Response

from creditbook.api import (
    errors,
    routes_admin,
    routes_compat,
    routes_events,
    routes_payments,
    routes_reports,
    routes_usage,
    routes_webhooks,
    tracing,
)
from creditbook.api.deps import PlanLimits, principal
from creditbook.api.observability import Metrics, ServiceMiddleware
from creditbook.api.ratelimit import Limiter, MemoryLimiter, RedisLimiter
from creditbook.api.responses import ExactJSONResponse, respond
from creditbook.api.throttle import AuthThrottle, FailureCounter, MemoryFailures, RedisFailures
from creditbook.dashboard import MOUNT_PATH, create_dashboard
from creditbook.engine.ledger import Ledger
from creditbook.settings import Settings
from creditbook.version import __version__
from creditbook.wire.common import HealthOut

DESCRIPTION = """The credits ledger of an API business: plans, grants, charges, runs,
balances, history and stats. Authenticate with `Authorization: Bearer <key>`,
`Authorization: Token <key>` or `X-API-KEY: <key>`. Errors are
`{"detail": "<message>", "code": "<snake_case>"}`."""
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


# The API's routes, in the order the OpenAPI document lists them.
ROUTES = (
    routes_admin,
    routes_usage,
    routes_reports,
    routes_events,
    routes_compat,
    routes_webhooks,
    routes_payments,
)


def create_app(
    ledger: Ledger | None = None,
    settings: Settings | None = None,
    limiter: Limiter | None = None,
    failures: FailureCounter | None = None,
) -> FastAPI:
    settings = settings or Settings()
    owns_ledger = ledger is None
    service_ledger = ledger or Ledger.open(
        settings.database_url,
        group_commit=settings.group_commit,
        group_max_size=settings.group_max_size,
        group_max_wait_s=settings.group_max_wait_ms / 1000,
        key_cache_s=settings.key_cache_s,
        webhooks_allow_private=settings.webhooks_allow_private,
        stripe=settings.stripe(),
        pool_size=settings.database_pool_size,
    )
    if limiter is None:
        limiter = _limiter(settings)
    if failures is None:
        failures = (
            RedisFailures(settings.redis_url, timeout_s=settings.redis_timeout_s)
            if settings.redis_url
            else MemoryFailures()
        )
    metrics = Metrics()
    app = FastAPI(
        title="creditbook",
        version=__version__,
        description=DESCRIPTION,
        default_response_class=ExactJSONResponse,
        lifespan=_lifespan(service_ledger, owns_ledger, failures),
    )
    app.state.ledger = service_ledger
    app.state.limiter = limiter
    app.state.plan_limits = PlanLimits(settings.rate_limit_per_s, settings.rate_limit_burst)
    app.state.metrics = metrics
    errors.install(app)
    for routes in ROUTES:
        app.include_router(routes.router)
    # The web dashboard: HTML pages with session sign-in, outside the API's OpenAPI schema.
    secret = settings.session_secret.get_secret_value() if settings.session_secret else None
    dashboard = create_dashboard(
        service_ledger, secret=secret, secure_cookies=settings.session_cookie_secure
    )
    app.mount(MOUNT_PATH, dashboard)
    app.add_middleware(
        AuthThrottle,
        failures=failures,
        limit=settings.auth_failure_limit,
        window_s=settings.auth_failure_window_s,
    )
    app.add_middleware(ServiceMiddleware, metrics=metrics, max_body_bytes=settings.max_body_bytes)
    _add_service_routes(app, service_ledger, metrics, settings.metrics_require_key)
    app.state.tracer_provider = tracing.install(app, service_ledger)
    return app


def _limiter(settings: Settings) -> Limiter:
    if not settings.redis_url:
        return MemoryLimiter()
    return RedisLimiter(
        settings.redis_url,
        timeout_s=settings.redis_timeout_s,
        fail_open=settings.rate_limit_fail_open,
    )


def _lifespan(ledger: Ledger, owns_ledger: bool, failures: FailureCounter) -> Lifespan:
    """Closes what the app opened itself when it stops (a ledger passed in stays open)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        _freeze_startup_objects()
        yield
        if app.state.tracer_provider is not None:
            tracing.uninstall(app, app.state.tracer_provider)
        if owns_ledger:
            ledger.close()
        if isinstance(app.state.limiter, RedisLimiter):
            app.state.limiter.close()
        if isinstance(failures, RedisFailures):
            await failures.close()

    return lifespan


def _freeze_startup_objects() -> None:
    """Leave what the process built before serving (the app, its routes, schemas and
    models: over a hundred thousand objects) out of every later garbage collection, once
    per process. Without it each full collection walks them all: a 90 ms pause of every
    request in flight, every few seconds under load (see docs/http.md)."""
    if gc.get_freeze_count() == 0:
        gc.collect()
        gc.freeze()


def _add_service_routes(
    app: FastAPI, service_ledger: Ledger, metrics: Metrics, metrics_require_key: bool
) -> None:
    """The endpoints that need no key: health and Prometheus metrics."""

    @app.get(
        "/healthz",
        operation_id="health",
        summary="Health check",
        response_model=HealthOut,
        tags=["service"],
        responses={
            503: {
                "model": HealthOut,
                "description": "The shared rate limiter (Redis) does not answer: "
                "`status` is `unavailable` and `rate_limiter` says `unavailable`.",
            }
        },
    )
    def health(request: Request) -> ExactJSONResponse:
        """Liveness, database reachability and the rate limiter's (no key needed)."""
        service_ledger.ping()
        limiter = request.app.state.limiter.status()
        healthy = limiter != "unavailable"
        body = {
            "status": "ok" if healthy else "unavailable",
            "database": service_ledger.engine.dialect.name,
            "rate_limiter": limiter,
        }
        return respond(body, 200 if healthy else 503)

    @app.get(
        "/metrics",
        operation_id="metrics",
        summary="Prometheus metrics",
        tags=["service"],
        response_class=Response,
        responses={
            200: {
                "description": "The Prometheus text exposition format.",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            }
        },
    )
    def prometheus_metrics(request: Request) -> Response:
        """Prometheus metrics of the server, summed over its worker processes (no key
        needed unless the server is configured to require the operator key)."""
        if metrics_require_key:
            principal(request, None, None).require_operator()
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
