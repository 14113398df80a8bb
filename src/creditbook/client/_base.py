"""What the sync and async clients share: requests, retries, decoding (no I/O here).

`Client` and `AsyncClient` send what this builds and sleep for as long as this says; their
settings are `config.Config`.
"""

from __future__ import annotations

import email.utils
import random
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
import simplejson
from pydantic import BaseModel

from creditbook.client.config import ACCOUNT_ID_ENV
from creditbook.client.errors import (
    REQUEST_ID_HEADER,
    APIConnectionError,
    APITimeoutError,
    CreditbookAPIError,
    KeySecretLostError,
    error_from_response,
)
from creditbook.client.models import KeyOut

# Limits: a call never waits longer than MAX_RETRY_DELAY_S between tries on its own, and
# honours a server's Retry-After only up to MAX_RETRY_AFTER_S (a longer wait is the
# caller's decision: it gets RateLimitError). How many tries: `config.MAX_RETRIES_LIMIT`.
INITIAL_RETRY_DELAY_S = 0.5
MAX_RETRY_DELAY_S = 8.0
MAX_RETRY_AFTER_S = 60.0
PAGE_LIMIT_MAX = 100  # the API caps `limit` at 100
DEFAULT_PAGE_LIMIT = 50  # a list method's page size unless told
RETRYABLE_STATUSES = frozenset({408, 429})
# Error codes of retryable statuses that no retry can change: the server lacks a setting.
PERMANENT_ERROR_CODES = frozenset({"payments_not_configured"})
IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_HIT_HEADER = "Idempotency-Hit"

# Credits in a request: an exact decimal, an int, or a decimal string ("2.5").
AmountInput = Decimal | int | str
# Instants and days in a request: datetime / date objects, or RFC 3339 / ISO text.
InstantInput = datetime | str
DayInput = date | str

ModelT = TypeVar("ModelT", bound=BaseModel)


def new_idempotency_key() -> str:
    """A fresh key for one call (and all of its retries)."""
    return f"cb-py-{uuid.uuid4().hex}"


def rfc3339(instant: datetime) -> str:
    """UTC with a `Z`; a naive datetime is taken as UTC, as the server does."""
    aware = instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)
    return aware.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, BaseModel):
        return value.model_dump(mode="python", exclude_unset=True)
    raise TypeError(f"cannot send {type(value).__name__} as JSON")


def encode_json(body: Any) -> bytes:
    """JSON with Decimal as exact numbers (`2.5`, never a float's `2.4999…`)."""
    text: str = simplejson.dumps(
        body, use_decimal=True, default=_json_default, separators=(",", ":")
    )
    return text.encode()


def query_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def fields(values: Mapping[str, Any], *skip: str) -> dict[str, Any]:
    """A body from a method's keyword arguments: the ones given, less `skip`.

    Every optional body field of the API defaults to what None means, so None is left out
    and the server applies its default.
    """
    body = {
        name: value
        for name, value in values.items()
        if value is not None and name != "self" and name not in skip
    }
    for name, value in body.items():
        refuse_floats(value, name)
    return body


def refuse_floats(value: Any, where: str) -> None:
    """A float in a request (an amount, also inside a mapping or list) is a TypeError:
    2.5 as a float is not exact, and credits are."""
    if isinstance(value, float):
        raise TypeError(
            f"{where}: a float ({value!r}) is not an exact amount; "
            f"pass Decimal({str(value)!r}), an int or a decimal string"
        )
    if isinstance(value, Mapping):
        for key, item in value.items():
            refuse_floats(item, f"{where}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            refuse_floats(item, f"{where}[{index}]")


def path(template: str, **ids: str) -> str:
    """`/v1/runs/{run_id}` with each id percent-encoded (an id never changes the route)."""
    return template.format(**{name: quote(value, safe="") for name, value in ids.items()})


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """`Retry-After` as seconds: a number of seconds, or an HTTP date."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    current = time.time() if now is None else now
    return max(0.0, moment.timestamp() - current)


def backoff_delay(retry: int, jitter: Callable[[], float] = random.random) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, initial × 2^retry)]."""
    ceiling = min(MAX_RETRY_DELAY_S, INITIAL_RETRY_DELAY_S * 2.0**retry)
    return ceiling * jitter()


def is_retryable(status_code: int) -> bool:
    return status_code in RETRYABLE_STATUSES or status_code >= 500


def error_code(response: httpx.Response) -> str | None:
    """The `code` of an error body, if it has one."""
    try:
        body = response.json()
    except ValueError:
        return None
    code = body.get("code") if isinstance(body, dict) else None
    return code if isinstance(code, str) else None


def retry_delay(retry: int, response: httpx.Response | None) -> float | None:
    """How long to wait before retry number `retry` (0-based), or None not to retry.

    `response` is None after a transport failure (always retryable: every write carries an
    idempotency key, so a retry never applies a change twice).
    """
    if response is None:
        return backoff_delay(retry)
    if not is_retryable(response.status_code) or error_code(response) in PERMANENT_ERROR_CODES:
        return None
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if retry_after is None:
        return backoff_delay(retry)
    if retry_after > MAX_RETRY_AFTER_S:
        return None
    return retry_after


def error_for(response: httpx.Response) -> CreditbookAPIError:
    return error_from_response(response, parse_retry_after(response.headers.get("Retry-After")))


# What one try ends with: the server's answer, or the transport's failure to get one.
Outcome = httpx.Response | httpx.TransportError

# Failures after which the request may or may not have reached the server; a retry is
# safe because it carries the first try's idempotency key. Others (a malformed URL, an
# unsupported scheme) would fail the same way again.
RETRYABLE_TRANSPORT_ERRORS = (httpx.NetworkError, httpx.TimeoutException, httpx.RemoteProtocolError)


def transport_error(error: httpx.TransportError) -> APIConnectionError:
    message = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    failure: APIConnectionError
    if isinstance(error, httpx.TimeoutException):
        failure = APITimeoutError(f"request timed out ({message})")
    else:
        failure = APIConnectionError(f"connection failed ({message})")
    failure.__cause__ = error
    return failure


def failure_for(outcome: Outcome) -> CreditbookAPIError:
    """The error a call raises when it gives up after `outcome`."""
    if isinstance(outcome, httpx.Response):
        return error_for(outcome)
    return transport_error(outcome)


def next_delay(retry: int, max_retries: int, outcome: Outcome) -> float | None:
    """Seconds before retry number `retry` (0-based) after a failed try, or None to give up."""
    if retry >= max_retries:
        return None
    if isinstance(outcome, httpx.Response):
        return retry_delay(retry, outcome)
    if isinstance(outcome, RETRYABLE_TRANSPORT_ERRORS):
        return retry_delay(retry, None)
    return None


def own_account(key: KeyOut) -> str:
    """The account of an account key; an operator key has none, so calls must name one."""
    if key.account_id is None:
        raise ValueError(
            "account_id is required with an operator key: pass it to the call, or set it "
            f"once with Client(account_id=...) or {ACCOUNT_ID_ENV}"
        )
    return key.account_id


def issued_key(key: KeyOut, response: httpx.Response) -> KeyOut:
    """The answer to a key creation, which must carry the secret: a replay (the first
    answer was lost and a retry got the stored one) has none, and the secret is gone."""
    # The server leaves the secret out of replays only (marked `Idempotency-Hit: true`).
    if key.secret is None:
        raise KeySecretLostError(key.key_id, response.headers.get(REQUEST_ID_HEADER))
    return key


@dataclass(frozen=True)
class Call(Generic[ModelT]):
    """One API operation, ready to send: method, path, query, body and response model."""

    method: str
    path: str
    model: type[ModelT]
    params: dict[str, Any] | None = None
    body: Any = None
    idempotency_key: str | None = None

    def __post_init__(self) -> None:
        if self.method == "POST" and self.idempotency_key is None:
            # One key per call, reused by all its retries: the server answers a retry of a
            # write it already applied with the stored result instead of applying it again.
            object.__setattr__(self, "idempotency_key", new_idempotency_key())

    def headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        if self.idempotency_key is not None:
            headers[IDEMPOTENCY_HEADER] = self.idempotency_key
        if self.body is not None:
            headers["Content-Type"] = "application/json"
        return headers

    def content(self) -> bytes | None:
        return None if self.body is None else encode_json(self.body)

    def query(self) -> dict[str, Any] | None:
        if not self.params:
            return None
        return {
            name: [query_value(v) for v in value]
            if isinstance(value, list | tuple)
            else query_value(value)
            for name, value in self.params.items()
            if value is not None
        }

    def parse(self, response: httpx.Response) -> ModelT:
        return self.model.model_validate_json(response.content)
