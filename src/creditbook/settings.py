"""Configuration from `CREDITBOOK_*` environment variables."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from creditbook.domain.webhooks import (
    DEFAULT_CONCURRENCY,
    DEFAULT_TIMEOUT_S,
    MAX_CONCURRENCY,
)
from creditbook.engine.group_commit import DEFAULT_MAX_SIZE, DEFAULT_MAX_WAIT_S
from creditbook.engine.key_cache import DEFAULT_TTL_S as DEFAULT_KEY_CACHE_S
from creditbook.engine.payments.stripe_api import StripeSettings
from creditbook.store.database import DEFAULT_POOL_SIZE

DEFAULT_DATABASE_URL = "sqlite:///creditbook.db"


class Settings(BaseSettings):
    """Attributes:
    database_url: SQLAlchemy URL; a SQLite file in the working directory by default,
        `postgresql://…` in production.
    database_pool_size: the database connections each process keeps (opened as needed,
        never more); a request that finds all of them busy waits for one.
    redis_url: when set, rate limits are shared by every process through this Redis.
    redis_timeout_s: how long a request waits for Redis (to connect, then to answer).
    rate_limit_fail_open: when Redis does not answer, let requests through unlimited
        instead of refusing them with 503 `rate_limiter_unavailable`.
    rate_limit_per_s, rate_limit_burst: the default per-key limit (plans may override).
    max_body_bytes: larger request bodies are refused with 413.
    session_secret: signs the dashboard's session cookies; give every process the same one
        (unset: a random secret per process, so sessions end when it restarts).
    session_cookie_secure: the dashboard cookies' Secure flag. Unset: set when the request
        came over https; true behind a proxy that ends TLS; false forces it off.
    auth_failure_limit, auth_failure_window_s: a client address that fails to authenticate
        (unknown or revoked key, refused dashboard sign-in) this many times in a window of
        this many seconds gets 429 on every request until the window ends.
    metrics_require_key: `GET /metrics` answers only to the operator key.
    group_commit: gather the writes the server's threads make at once into one
        transaction and one commit (see docs/ledger.md, "Group commit").
    group_max_size: the most writes one group commit takes.
    group_max_wait_ms: how long a group waits for more writes before it runs smaller
        than `group_max_size` (0: it takes what queued during the previous commit).
    key_cache_s: how long a process answers an authenticated key from memory; a key
        revoked by another process still works here for at most this long (0: never).
    webhooks_allow_private: webhook endpoints may use http and private or loopback
        addresses (off: https to public addresses only; see docs/webhooks.md).
    webhooks_concurrency, webhooks_timeout_s: the dispatcher's deliveries in flight at
        once, and how long one request may take.
    stripe_api_key: Stripe's secret key (`sk_test_…`, `sk_live_…`): Checkout and
        auto-recharge (unset: they answer 503 `payments_not_configured`).
    stripe_webhook_secret: the signing secret of the Stripe webhook endpoint (`whsec_…`)
        that `POST /v1/integrations/stripe/webhook` verifies notifications with.
    stripe_api_base: another address for Stripe's API (a local stand-in for tests).
    """

    model_config = SettingsConfigDict(env_prefix="CREDITBOOK_")

    database_url: str = DEFAULT_DATABASE_URL
    database_pool_size: int = Field(default=DEFAULT_POOL_SIZE, ge=1, le=1000)
    redis_url: str | None = None
    redis_timeout_s: float = Field(default=0.25, gt=0, le=30)
    rate_limit_fail_open: bool = False
    rate_limit_per_s: float = Field(default=100.0, gt=0)
    rate_limit_burst: int = Field(default=200, ge=1)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    session_secret: SecretStr | None = Field(default=None, min_length=16)
    session_cookie_secure: bool | None = None
    auth_failure_limit: int = Field(default=20, ge=1)
    auth_failure_window_s: int = Field(default=60, ge=1, le=3600)
    metrics_require_key: bool = False
    group_commit: bool = True
    group_max_size: int = Field(default=DEFAULT_MAX_SIZE, ge=1)
    group_max_wait_ms: float = Field(default=DEFAULT_MAX_WAIT_S * 1000, ge=0)
    key_cache_s: float = Field(default=DEFAULT_KEY_CACHE_S, ge=0, le=60)
    webhooks_allow_private: bool = False
    webhooks_concurrency: int = Field(default=DEFAULT_CONCURRENCY, ge=1, le=MAX_CONCURRENCY)
    webhooks_timeout_s: float = Field(default=DEFAULT_TIMEOUT_S, gt=0, le=60)
    stripe_api_key: SecretStr | None = None
    stripe_webhook_secret: SecretStr | None = None
    stripe_api_base: str | None = None

    def stripe(self) -> StripeSettings:
        """How the ledger reaches Stripe."""
        return StripeSettings(
            api_key=_secret(self.stripe_api_key),
            webhook_secret=_secret(self.stripe_webhook_secret),
            api_base=self.stripe_api_base or None,
        )


def _secret(value: SecretStr | None) -> str | None:
    return (value.get_secret_value() or None) if value is not None else None
