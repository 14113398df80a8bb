"""Who is calling: API keys from `Authorization: Bearer|Token <key>` or `X-API-KEY`.

Operator keys act on any account. Account keys act on their own account only: another
account's object answers 404 exactly like a missing one; a read key that tries to write, or
any account key on an operator endpoint, answers 403.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from creditbook.domain.errors import AuthenticationError, NotFoundError, PermissionDeniedError
from creditbook.domain.requests import Scope
from creditbook.engine.keys import ApiKey

AUTH_SCHEMES = ("bearer", "token")


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated key of a request."""

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


def token_of(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() in AUTH_SCHEMES and value.strip():
            return value.strip()
        raise AuthenticationError("Authorization must be 'Bearer <key>' or 'Token <key>'")
    api_key = request.headers.get("x-api-key")
    if api_key and api_key.strip():
        return api_key.strip()
    return None
