"""The FastAPI application: `create_app()` for servers, `create_app(ledger=...)` for tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from creditbook.api import errors, routes_admin, routes_compat, routes_reports, routes_usage
from creditbook.api.deps import PlanLimits
from creditbook.api.observability import Metrics, ServiceMiddleware
from creditbook.api.ratelimit import Limiter, MemoryLimiter, RedisLimiter
from creditbook.api.responses import ExactJSONResponse, respond
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


def create_app(
    ledger: Ledger | None = None,
    settings: Settings | None = None,
    limiter: Limiter | None = None,
) -> FastAPI:
    settings = settings or Settings()
    owns_ledger = ledger is None
    service_ledger = ledger or Ledger.open(
        settings.database_url,
        group_commit=settings.group_commit,
        group_max_size=settings.group_max_size,
        group_max_wait_s=settings.group_max_wait_ms / 1000,
        key_cache_s=settings.key_cache_s,
    )
    if limiter is None:
        limiter = RedisLimiter(settings.redis_url) if settings.redis_url else MemoryLimiter()
    metrics = Metrics()
    app = FastAPI(
        title="creditbook",
        version=__version__,
        description=DESCRIPTION,
        default_response_class=ExactJSONResponse,
        lifespan=_lifespan(service_ledger, owns_ledger),
    )
    app.state.ledger = service_ledger
    app.state.limiter = limiter
    app.state.plan_limits = PlanLimits(settings.rate_limit_per_s, settings.rate_limit_burst)
    app.state.metrics = metrics
    errors.install(app)
    app.include_router(routes_admin.router)
    app.include_router(routes_usage.router)
    app.include_router(routes_reports.router)
    app.include_router(routes_compat.router)
    # The web dashboard: HTML pages with session sign-in, outside the API's OpenAPI schema.
    secret = settings.session_secret.get_secret_value() if settings.session_secret else None
    dashboard = create_dashboard(
        service_ledger, secret=secret, secure_cookies=settings.session_cookie_secure
    )
    app.mount(MOUNT_PATH, dashboard)
    app.add_middleware(ServiceMiddleware, metrics=metrics, max_body_bytes=settings.max_body_bytes)
    _add_service_routes(app, service_ledger, metrics)
    return app


def _lifespan(ledger: Ledger, owns_ledger: bool) -> Lifespan:
    """Closes what the app opened itself when it stops (a ledger passed in stays open)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if owns_ledger:
            ledger.close()
        if isinstance(app.state.limiter, RedisLimiter):
            app.state.limiter.close()

    return lifespan


def _add_service_routes(app: FastAPI, service_ledger: Ledger, metrics: Metrics) -> None:
    """The endpoints that need no key: health and Prometheus metrics."""

    @app.get(
        "/healthz",
        operation_id="health",
        summary="Health check",
        response_model=HealthOut,
        tags=["service"],
    )
    def health(request: Request) -> ExactJSONResponse:
        """Liveness and database reachability (no key needed)."""
        service_ledger.ping()
        return respond({"status": "ok", "database": service_ledger.engine.dialect.name})

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
    def prometheus_metrics() -> Response:
        """Prometheus metrics of this process (no key needed)."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
