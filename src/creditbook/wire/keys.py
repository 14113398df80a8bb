"""API keys: issuing one, and a key as answered (its secret only at creation)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Protocol

from pydantic import ConfigDict, Field

from creditbook.domain.requests import CreateKeyRequest, Scope
from creditbook.wire.common import Name, OptionalId, Out, Strict


class KeyCreate(Strict):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"scope": "write", "user_id": "u1", "name": "backend"}]}
    )

    scope: Literal["read", "write"] = "read"
    user_id: OptionalId = ""
    name: Name = ""

    def to_request(
        self, account_id: str | None, *, idempotency_key: str | None = None
    ) -> CreateKeyRequest:
        """An account's key; with no account, an operator key (the body's scope is for
        account keys)."""
        scope = Scope.OPERATOR if account_id is None else Scope(self.scope)
        return CreateKeyRequest(
            account_id=account_id,
            scope=scope,
            user_id=self.user_id,
            name=self.name,
            idempotency_key=idempotency_key,
        )


class Issued(Protocol):
    """An issued key as the engine returns it: the key and its secret (None on a replay)."""

    @property
    def key(self) -> Any: ...

    @property
    def secret(self) -> str | None: ...


class KeyOut(Out):
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    key_id: str
    account_id: str | None
    scope: str
    user_id: str
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None
    secret: str | None = Field(None, description="The key itself, shown once at creation.")

    @classmethod
    def issued(cls, issued: Issued) -> KeyOut:
        """A new key with its secret (the key itself has none)."""
        return cls.model_validate(issued.key).model_copy(update={"secret": issued.secret})
