"""How a client is configured: the environment variables it reads, its defaults, and `Config`.

Each argument of `Client` / `AsyncClient` falls back to an environment variable, then a
default. The CLI reads the same variables, so a remote command and a script on the SDK
reach the same server as the same key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

from creditbook.version import __version__

__all__ = [
    "ACCOUNT_ID_ENV",
    "API_KEY_ENV",
    "BASE_URL_ENV",
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT_S",
    "MAX_RETRIES_LIMIT",
    "USER_AGENT",
    "Config",
]

API_KEY_ENV = "CREDITBOOK_API_KEY"
BASE_URL_ENV = "CREDITBOOK_BASE_URL"
ACCOUNT_ID_ENV = "CREDITBOOK_ACCOUNT_ID"
DEFAULT_BASE_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MAX_RETRIES = 2
# A call never tries more than 1 + MAX_RETRIES_LIMIT times.
MAX_RETRIES_LIMIT = 10
USER_AGENT = f"creditbook-python/{__version__}"


@dataclass(frozen=True)
class Config:
    """A client's settings, resolved from arguments and then the environment.

    Attributes:
        api_key: sent as `Authorization: Bearer <key>`; None sends no key (health only).
        base_url: the server, without a trailing slash.
        account_id: the account that account-scoped calls use when they name none; None:
            the key's own account, asked of the server once (an operator key has none).
        timeout: httpx timeout for each try.
        max_retries: retries after the first try (0 turns retries off).
        headers: extra headers sent with every request.
    """

    api_key: str | None
    base_url: str
    account_id: str | None
    timeout: httpx.Timeout
    max_retries: int
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def resolve(
        cls,
        *,
        api_key: str | None,
        base_url: str | None,
        account_id: str | None,
        timeout: float | httpx.Timeout | None,
        max_retries: int,
        headers: Mapping[str, str] | None,
    ) -> Config:
        if not 0 <= max_retries <= MAX_RETRIES_LIMIT:
            raise ValueError(f"max_retries must be 0 to {MAX_RETRIES_LIMIT}, not {max_retries}")
        url = base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
        if isinstance(timeout, httpx.Timeout):
            resolved_timeout = timeout
        else:
            resolved_timeout = httpx.Timeout(DEFAULT_TIMEOUT_S if timeout is None else timeout)
        return cls(
            api_key=api_key or os.environ.get(API_KEY_ENV) or None,
            base_url=url.rstrip("/"),
            account_id=account_id or os.environ.get(ACCOUNT_ID_ENV) or None,
            timeout=resolved_timeout,
            max_retries=max_retries,
            headers=dict(headers or {}),
        )

    def default_headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        headers.update(self.headers)
        return headers
