"""Who is calling: the authenticated API key of a request, and what it may touch.

Operator keys act on any account. Account keys act on their own account only: another
account's object answers 404 exactly like a missing one; a read key that tries to write, or
any account key on an operator endpoint, answers 403. The API and the dashboard both ask
these questions, so the answers live here, below both of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from creditbook.domain.errors import AuthenticationError, NotFoundError, PermissionDeniedError
from creditbook.domain.requests import Scope
from creditbook.engine.keys import ApiKey

# `Authorization: <scheme> <key>`: the schemes a key may be sent with.
AUTH_SCHEMES = ("bearer", "token")


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated key of a request.

    Attributes:
        key: the key, as the ledger authenticated it.
    """

    key: ApiKey

    @property
    def is_operator(self) -> bool:
        return self.key.scope is Scope.OPERATOR

    @property
    def account_id(self) -> str | None:
        return self.key.account_id

    def require_operator(self) -> None:
        if not self.is_operator:
            raise PermissionDeniedError("this endpoint needs an operator key")

    def require_account(
        self,
        account_id: str,
        *,
        write: bool = False,
        kind: str = "account",
        identifier: str | None = None,
    ) -> None:
        """Allow the operator, or this account's own key (a write key to write)."""
        if self.is_operator:
            return
        if self.key.account_id != account_id:
            raise NotFoundError(kind, identifier or account_id)
        if write and self.key.scope is not Scope.WRITE:
            raise PermissionDeniedError("this key can only read")

    def own_account(self) -> str:
        """The account of an account key (compat endpoints speak for the caller)."""
        if self.key.account_id is None:
            raise PermissionDeniedError("this endpoint needs an account key")
        return self.key.account_id


def token_from_headers(authorization: str | None, api_key: str | None) -> str | None:
    """The key sent as `Authorization: Bearer|Token <key>` or else as `X-API-KEY: <key>`;
    None when neither header carries one. A malformed Authorization header is refused."""
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() in AUTH_SCHEMES and value.strip():
            return value.strip()
        raise AuthenticationError("Authorization must be 'Bearer <key>' or 'Token <key>'")
    if api_key and api_key.strip():
        return api_key.strip()
    return None
