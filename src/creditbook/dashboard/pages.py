"""Request plumbing of the dashboard: who is looking (from the session cookie), and pages
rendered from templates with what every page needs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from creditbook.dashboard import formatting, payment_figures
from creditbook.dashboard.session import Session, Sessions
from creditbook.domain.errors import NotFoundError
from creditbook.domain.requests import Scope
from creditbook.engine.ledger import Ledger
from creditbook.engine.principal import Principal
from creditbook.engine.results import Account
from creditbook.version import __version__

PACKAGE_DIR = Path(__file__).resolve().parent
STATIC_DIR = PACKAGE_DIR / "static"
TEMPLATES_DIR = PACKAGE_DIR / "templates"
VENDOR_DIR = STATIC_DIR / "vendor"
ASSETS_MANIFEST = PACKAGE_DIR / "assets.json"

# Why a session stopped, shown on the sign-in page (fixed texts: nothing is reflected).
SIGN_IN_REASONS = {
    "revoked": "The key this session signed in with has been revoked. Sign in with another.",
    "expired": "Your session has ended. Sign in again.",
    "signed_out": "You are signed out.",
}


def vendor_files() -> list[str]:
    """The JavaScript files the install step puts in static/vendor/ (see assets.json)."""
    manifest = json.loads(ASSETS_MANIFEST.read_text(encoding="utf-8"))
    return [item["file"] for item in manifest["files"] if item["file"].endswith(".js")]


@dataclass(frozen=True, slots=True)
class Dashboard:
    """What every dashboard request needs; kept on the dashboard app's state."""

    ledger: Ledger
    sessions: Sessions
    templates: Jinja2Templates
    mount_path: str

    def missing_assets(self) -> list[str]:
        return [name for name in vendor_files() if not (VENDOR_DIR / name).is_file()]


class SignInRequired(Exception):
    """No valid session: send the browser to the sign-in page (with a reason to show)."""

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason)
        self.reason = reason


def dashboard_of(request: Request) -> Dashboard:
    state: Dashboard = request.app.state.dashboard
    return state


def templates() -> Jinja2Templates:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(formatting.FILTERS)
    environment.globals["version"] = __version__
    return Jinja2Templates(env=environment)


# -- who is looking -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Viewer:
    """A signed-in browser: its key (as the API's Principal) and its session."""

    principal: Principal
    session: Session

    @property
    def is_operator(self) -> bool:
        return self.principal.is_operator

    @property
    def can_write(self) -> bool:
        """An account's write key (what buying credits needs, as in the API)."""
        return self.principal.key.scope is Scope.WRITE

    def account(self, ledger: Ledger, account_id: str) -> Account:
        """The account, if this viewer may see it; NotFoundError otherwise, exactly as for
        a missing account."""
        self.principal.require_account(account_id)
        return ledger.get_account(account_id)

    @property
    def home(self) -> str:
        if self.principal.account_id is None:
            return "/accounts"
        return f"/accounts/{self.principal.account_id}"


def viewer(request: Request) -> Viewer:
    """The signed-in viewer; SignInRequired without a valid session, with a revoked key or
    for a session that signed out.

    The key and the session are looked up on every request, so a revoked key's sessions
    stop at once, and so does a copy of a signed-out session's cookie.
    """
    state = dashboard_of(request)
    session = state.sessions.read(request)
    if session is None:
        raise SignInRequired("expired" if request.cookies.get("creditbook_session") else "")
    try:
        key = state.ledger.get_key(session.key_id)
    except NotFoundError:
        raise SignInRequired("expired") from None
    if key.revoked_at is not None:
        raise SignInRequired("revoked")
    if state.ledger.is_session_ended(key, session.session_id):
        raise SignInRequired("signed_out")
    return Viewer(Principal(key), session)


def optional_viewer(request: Request) -> Viewer | None:
    try:
        return viewer(request)
    except SignInRequired:
        return None


# -- pages ----------------------------------------------------------------------------------


def page(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    viewer: Viewer | None,
    status: int = 200,
) -> Response:
    """Render `template` with what the layout needs: the mount path, the viewer, its CSRF
    token, which browser assets are missing, whether this server sells credits."""
    state = dashboard_of(request)
    full = {
        "base": state.mount_path,
        "viewer": viewer,
        "csrf_token": viewer.session.csrf_token if viewer else "",
        "missing_assets": state.missing_assets(),
        "sells_credits": payment_figures.sells_credits(state.ledger),
        **context,
    }
    return state.templates.TemplateResponse(request, template, full, status_code=status)
