"""The HTTP API in-process, on each database, with an operator key and helpers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from creditbook import Ledger
from creditbook.api.app import create_app
from creditbook.settings import Settings

PLAN = {"name": "Professional", "allowances": {"credits": 100}, "slots": 3}
RATE_CARD = {
    "credits_per_row": 4,
    "base_label": "Export Listings (No Phone)",
    "base_colors": {"bg_color": "#EAFBF3", "txt_color": "#0F9F5F"},
    "functions": {"get_phone_numbers": {"credits_per_success": 6}},
}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@dataclass
class AccountKeys:
    account_id: str
    write: str
    read: str


@dataclass
class Api:
    """A client on the app plus the operator key, with shortcuts for common set-up."""

    client: TestClient
    ledger: Ledger
    operator_key: str

    @property
    def operator(self) -> dict[str, str]:
        return bearer(self.operator_key)

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        kwargs.setdefault("headers", self.operator)
        response = self.client.request(method, path, **kwargs)
        assert response.status_code < 300, (response.status_code, response.text)
        return response.json()

    def account(self, account_id: str, plan_id: str = "pro") -> AccountKeys:
        self.ok("POST", "/v1/accounts", json={"plan_id": plan_id, "account_id": account_id})
        keys = {
            scope: self.ok("POST", f"/v1/accounts/{account_id}/api_keys", json={"scope": scope})[
                "secret"
            ]
            for scope in ("write", "read")
        }
        return AccountKeys(account_id, keys["write"], keys["read"])


@pytest.fixture
def settings() -> Settings:
    # Generous limits (the authorization matrix fails many keys from one address).
    return Settings(rate_limit_per_s=10_000, rate_limit_burst=10_000, auth_failure_limit=10_000)


@pytest.fixture
def key_cache_s() -> float:
    """Keys stay remembered all test long. Tests here count lookups, hops to a thread and
    transactions after a key's first use; the default second can pass on a busy machine,
    and the lookup after it would be counted."""
    return 60.0


@pytest.fixture
def api(ledger: Ledger, settings: Settings) -> Iterator[Api]:
    app = create_app(ledger, settings=settings)
    operator = ledger.create_key(None, scope="operator").secret
    assert operator is not None
    with TestClient(app) as client:
        api = Api(client, ledger, operator)
        api.ok("PUT", "/v1/plans/pro", json=PLAN)
        api.ok("PUT", "/v1/rate_cards/maps", json=RATE_CARD)
        yield api
