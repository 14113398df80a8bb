"""Dashboard sessions: a signed, expiring cookie that names an API key, and CSRF tokens.

Signing in with an API key sets `creditbook_session`: the key's id, a random session id
and a CSRF token, signed with the session secret (itsdangerous, HMAC-SHA1 over a
timestamped payload) and refused after `SESSION_MAX_AGE_S`. The key itself is never stored
in the cookie. Every request looks the key up again, so revoking the key ends its sessions
at once; signing out records the session id in the ledger (`Ledger.end_session`), so a copy
of the cookie is refused from then on too.

CSRF: every POST form carries a token that must match one the attacker cannot read. Before
sign-in that is a signed `creditbook_login_csrf` cookie (double submit); after sign-in it is
the token inside the session. Both cookies are HttpOnly, scoped to the dashboard's path and
Secure when the request came over https (or always, or never, when configured); the
session is SameSite=Lax (a link from elsewhere opens the dashboard signed in; only GETs,
which change nothing, follow such links), the sign-in form's cookie SameSite=Strict.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any, Literal

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

SESSION_COOKIE = "creditbook_session"
LOGIN_CSRF_COOKIE = "creditbook_login_csrf"
CSRF_FIELD = "csrf_token"
SESSION_MAX_AGE_S = 8 * 60 * 60
LOGIN_FORM_MAX_AGE_S = 60 * 60
TOKEN_BYTES = 32
SESSION_ID_BYTES = 16
MAX_COOKIE_CHARS = 1024
MIN_SECRET_CHARS = 16


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in browser.

    Attributes:
        key_id: the API key it signed in with (looked up on every request).
        session_id: random; signing out records it so the cookie is refused afterwards.
        csrf_token: the token its POST forms must carry.
    """

    key_id: str
    session_id: str
    csrf_token: str


class Sessions:
    """Issues and reads session and login-form cookies signed with one secret."""

    def __init__(self, secret: str, cookie_path: str, *, secure: bool | None = None) -> None:
        """`secure`: the cookies' Secure flag; None sets it when the request came over https
        (behind a proxy that ends TLS, the request looks like http unless uvicorn trusts the
        proxy's X-Forwarded-Proto, so say True there)."""
        # A configuration error (the setting is checked too), not a broken invariant.
        if len(secret) < MIN_SECRET_CHARS:
            raise ValueError(f"the session secret needs at least {MIN_SECRET_CHARS} characters")
        self._session = URLSafeTimedSerializer(secret, salt="creditbook.dashboard.session")
        self._login = URLSafeTimedSerializer(secret, salt="creditbook.dashboard.login-csrf")
        self.cookie_path = cookie_path
        self.secure = secure

    # -- sessions ---------------------------------------------------------------------------

    def start(self, response: Response, request: Request, key_id: str) -> Session:
        """Sign in: a fresh session (and a fresh CSRF token) for `key_id`."""
        session = Session(
            key_id, secrets.token_urlsafe(SESSION_ID_BYTES), secrets.token_urlsafe(TOKEN_BYTES)
        )
        payload = {"key_id": key_id, "sid": session.session_id, "csrf": session.csrf_token}
        value = self._session.dumps(payload)
        self._set(response, request, SESSION_COOKIE, value, SESSION_MAX_AGE_S, "lax")
        response.delete_cookie(LOGIN_CSRF_COOKIE, path=self.cookie_path)
        return session

    def read(self, request: Request) -> Session | None:
        """The request's valid, unexpired session, else None."""
        payload = self._load(self._session, request, SESSION_COOKIE, SESSION_MAX_AGE_S)
        if not isinstance(payload, dict):
            return None
        key_id, session_id, csrf = payload.get("key_id"), payload.get("sid"), payload.get("csrf")
        if not isinstance(key_id, str) or not isinstance(csrf, str):
            return None
        if not isinstance(session_id, str):
            return None  # a cookie signed before sessions had ids: sign in again
        return Session(key_id, session_id, csrf)

    def end(self, response: Response) -> None:
        response.delete_cookie(SESSION_COOKIE, path=self.cookie_path)

    # -- the sign-in form -------------------------------------------------------------------

    def login_token(self, request: Request) -> str:
        """The CSRF token for the sign-in form: the browser's own while its cookie is valid
        (so two open tabs both work), else a new one."""
        token = self._load(self._login, request, LOGIN_CSRF_COOKIE, LOGIN_FORM_MAX_AGE_S)
        return token if isinstance(token, str) else secrets.token_urlsafe(TOKEN_BYTES)

    def remember_login_token(self, response: Response, request: Request, token: str) -> None:
        value = self._login.dumps(token)
        self._set(response, request, LOGIN_CSRF_COOKIE, value, LOGIN_FORM_MAX_AGE_S, "strict")

    def login_token_matches(self, request: Request, submitted: str | None) -> bool:
        token = self._load(self._login, request, LOGIN_CSRF_COOKIE, LOGIN_FORM_MAX_AGE_S)
        return isinstance(token, str) and tokens_match(token, submitted)

    # -- helpers ----------------------------------------------------------------------------

    def _set(
        self,
        response: Response,
        request: Request,
        name: str,
        value: str,
        max_age_s: int,
        same_site: Literal["lax", "strict"],
    ) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age_s,
            path=self.cookie_path,
            httponly=True,
            samesite=same_site,
            secure=self.secure if self.secure is not None else request.url.scheme == "https",
        )

    @staticmethod
    def _load(
        serializer: URLSafeTimedSerializer, request: Request, name: str, max_age_s: int
    ) -> Any:
        value = request.cookies.get(name)
        if not value or len(value) > MAX_COOKIE_CHARS:
            return None
        try:
            return serializer.loads(value, max_age=max_age_s)
        except BadSignature:  # also an expired signature
            return None


def tokens_match(expected: str, submitted: str | None) -> bool:
    if not submitted:
        return False
    return hmac.compare_digest(expected.encode(), submitted.encode())
