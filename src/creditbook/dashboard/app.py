"""The dashboard application, mounted by the API at `/dashboard`.

A FastAPI sub-application with its own error pages (HTML, not the API's JSON), its static
files and no OpenAPI document: the dashboard is for people, the API for programs.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from creditbook.dashboard import routes
from creditbook.dashboard.pages import (
    STATIC_DIR,
    Dashboard,
    SignInRequired,
    dashboard_of,
    optional_viewer,
    page,
    templates,
)
from creditbook.dashboard.session import Sessions
from creditbook.domain.errors import (
    InvariantError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from creditbook.engine.ledger import Ledger

MOUNT_PATH = "/dashboard"
# Where the "Buy credits" form's answer sends the browser: browsers apply `form-action` to
# the redirects that follow a form too, so Stripe's hosted Checkout page is named here.
STRIPE_CHECKOUT_ORIGIN = "https://checkout.stripe.com"
# Scripts load only from this origin; styles may be inline (chart sizes, percentage bars).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; "
    f"form-action 'self' {STRIPE_CHECKOUT_ORIGIN}"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def create_dashboard(
    ledger: Ledger,
    *,
    secret: str | None = None,
    secure_cookies: bool | None = None,
    mount_path: str = MOUNT_PATH,
) -> FastAPI:
    """The dashboard over `ledger`, to mount at `mount_path`. Without `secret` sessions are
    signed with a random per-process secret (they end when the process restarts).
    `secure_cookies` forces the cookies' Secure flag on or off; None sets it for https
    requests."""
    if secret is None:
        secret = secrets.token_urlsafe(32)
    sessions = Sessions(secret, mount_path, secure=secure_cookies)
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.state.dashboard = Dashboard(ledger, sessions, templates(), mount_path)
    app.mount("/static", StaticFiles(directory=STATIC_DIR, check_dir=False), name="static")
    app.include_router(routes.router)
    install_error_pages(app)

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if not request.url.path.startswith(f"{mount_path}/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    return app


# -- error pages ----------------------------------------------------------------------------


def error_page(request: Request, status: int, title: str, message: str) -> Response:
    context = {"title": title, "message": message}
    return page(request, "error.html", context, viewer=optional_viewer(request), status=status)


def install_error_pages(app: FastAPI) -> None:
    async def sign_in(request: Request, error: Exception) -> Response:
        if not isinstance(error, SignInRequired):
            raise InvariantError("the sign-in page answers SignInRequired alone")
        state = dashboard_of(request)
        query = {}
        if request.method == "GET":
            wanted = request.url.path
            query["next"] = f"{wanted}?{request.url.query}" if request.url.query else wanted
        if error.reason:
            query["reason"] = error.reason
        target = f"{state.mount_path}/login"
        if query:
            target += f"?{urlencode(query)}"
        response: Response
        if request.headers.get("hx-request"):
            # htmx would swap the sign-in page into a fragment; make it navigate instead.
            response = Response(status_code=204, headers={"HX-Redirect": target})
        else:
            response = RedirectResponse(target, status_code=303)
        state.sessions.end(response)
        return response

    async def not_found(request: Request, error: Exception) -> Response:
        # The same page for a missing object and for another account's: nothing tells them
        # apart.
        return error_page(
            request, 404, "Not found", "There is no such page, or it is not yours to see."
        )

    async def forbidden(request: Request, error: Exception) -> Response:
        return error_page(request, 403, "Not allowed", str(error))

    async def bad_request(request: Request, error: Exception) -> Response:
        message = str(error) if isinstance(error, ValidationError) else "The address is malformed."
        return error_page(request, 400, "Bad request", message)

    async def http_error(request: Request, error: Exception) -> Response:
        if not isinstance(error, StarletteHTTPException):
            raise InvariantError("the HTTP error page answers HTTP exceptions alone")
        if error.status_code == 404:
            return await not_found(request, error)
        return error_page(request, error.status_code, "Error", str(error.detail))

    app.add_exception_handler(SignInRequired, sign_in)
    app.add_exception_handler(NotFoundError, not_found)
    app.add_exception_handler(PermissionDeniedError, forbidden)
    app.add_exception_handler(ValidationError, bad_request)
    app.add_exception_handler(RequestValidationError, bad_request)
    app.add_exception_handler(StarletteHTTPException, http_error)
