"""Each failure raises its class, with the server's message, code and request id."""

from __future__ import annotations

import httpx
import pytest
from tests.client.conftest import BASE_URL, MakeClient, Sleeps

from creditbook import Ledger, Plan
from creditbook.client import (
    AuthenticationError,
    BadRequestError,
    Client,
    ConflictError,
    CreditbookAPIError,
    InsufficientCreditsError,
    InternalServerError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    UnprocessableEntityError,
)
from creditbook.client.errors import error_class

STATUS_CLASSES = [
    (400, BadRequestError),
    (401, AuthenticationError),
    (402, InsufficientCreditsError),
    (403, PermissionDeniedError),
    (404, NotFoundError),
    (409, ConflictError),
    (413, PayloadTooLargeError),
    (422, UnprocessableEntityError),
    (429, RateLimitError),
    (500, InternalServerError),
    (503, InternalServerError),
    (418, CreditbookAPIError),
]


@pytest.mark.parametrize(("status", "cls"), STATUS_CLASSES)
def test_each_status_raises_its_class(status: int, cls: type[CreditbookAPIError]) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        body = {"detail": f"status {status}", "code": f"code_{status}"}
        headers = {"X-Request-ID": "req-1", "Retry-After": "120"}
        return httpx.Response(status, json=body, headers=headers)

    transport = httpx.MockTransport(answer)
    client = Client(api_key="k", base_url=BASE_URL, transport=transport, max_retries=0)
    with client, pytest.raises(CreditbookAPIError) as raised:
        client.health()
    error = raised.value
    assert type(error) is cls
    assert (error.message, error.status_code, error.code, error.request_id) == (
        f"status {status}",
        status,
        f"code_{status}",
        "req-1",
    )
    assert error.body == {"detail": f"status {status}", "code": f"code_{status}"}
    assert str(error) == f"[{status} code_{status}] status {status} (request req-1)"
    if cls is RateLimitError:
        assert isinstance(error, RateLimitError) and error.retry_after == 120
    assert error_class(status) is cls


def test_a_body_that_is_not_json() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(502, text="Bad gateway"))
    client = Client(api_key="k", base_url=BASE_URL, transport=transport, max_retries=0)
    with client, pytest.raises(InternalServerError) as raised:
        client.health()
    assert raised.value.code is None and raised.value.body == "Bad gateway"
    assert raised.value.message == "HTTP 502: Bad gateway"


def test_errors_from_the_server(client: Client, make_client: MakeClient) -> None:
    client.accounts.create(plan_id="pro", account_id="acme")
    read_key = client.keys.create("acme", scope="read")
    assert read_key.secret is not None

    with pytest.raises(AuthenticationError) as unknown:
        make_client(key="cb_not_a_key").credits.balance("acme")
    assert unknown.value.code == "unauthenticated"

    with pytest.raises(InsufficientCreditsError) as poor:
        client.charges.create("acme", amount=101)
    assert poor.value.code == "insufficient_credits" and "available 100" in poor.value.message

    reader = make_client(key=read_key.secret)
    with pytest.raises(PermissionDeniedError) as forbidden:
        reader.charges.create("acme", amount=1)
    assert forbidden.value.code == "forbidden"
    with pytest.raises(PermissionDeniedError) as operator_only:
        reader.plans.list().first_page()
    assert operator_only.value.code == "forbidden"
    client.keys.revoke(read_key.key_id)
    with pytest.raises(PermissionDeniedError) as revoked:
        reader.credits.balance("acme")
    assert revoked.value.code == "key_revoked"
    twice = client.keys.revoke(read_key.key_id)  # DELETE is idempotent: no error
    assert twice.key_id == read_key.key_id and twice.revoked_at is not None

    with pytest.raises(NotFoundError) as missing:
        client.accounts.get("nobody")
    assert (missing.value.code, missing.value.message) == ("not_found", "account not found: nobody")
    with pytest.raises(NotFoundError) as lobstr_shape:
        client.runs.credits("0" * 32)
    assert lobstr_shape.value.code is None and lobstr_shape.value.message == "Run not found."

    with pytest.raises(UnprocessableEntityError) as invalid:
        client.charges.create("acme", amount=1, quantity=-1)
    assert invalid.value.code == "validation_error" and "quantity" in invalid.value.message
    with pytest.raises(UnprocessableEntityError):
        client.plans.put("Not A Valid Id")


def test_conflicts(client: Client) -> None:
    client.plans.put("solo", allowances={"credits": 100}, slots=1)
    client.accounts.create(plan_id="solo", account_id="acme")
    client.runs.start(account_id="acme", rate_card_id="maps")
    with pytest.raises(ConflictError) as busy:
        client.runs.start(account_id="acme", rate_card_id="maps")
    assert busy.value.code == "no_free_slots"

    client.charges.create("acme", amount=1, idempotency_key="k1")
    with pytest.raises(ConflictError) as reused:
        client.charges.create("acme", amount=2, idempotency_key="k1")
    assert reused.value.code == "idempotency_key_conflict"


def test_rate_limited_by_the_server(
    ledger: Ledger, client: Client, make_client: MakeClient, sleeps: Sleeps
) -> None:
    """A plan allowing one request per second: the second answers 429 with Retry-After."""
    ledger.put_plan(Plan("slow", rate_limit_per_s=1, rate_limit_burst=1))
    client.accounts.create(plan_id="slow", account_id="acme")
    secret = client.keys.create("acme", scope="read").secret
    assert secret is not None
    impatient = make_client(key=secret, max_retries=0)
    impatient.credits.balance("acme")
    with pytest.raises(RateLimitError) as limited:
        impatient.credits.balance("acme")
    assert limited.value.code == "rate_limited"
    assert limited.value.retry_after is not None and limited.value.retry_after >= 1
    assert sleeps.delays == []


def test_the_request_id_is_the_servers(client: Client, make_client: MakeClient) -> None:
    tagged = make_client(headers={"X-Request-ID": "trace-42"})
    with pytest.raises(NotFoundError) as missing:
        tagged.accounts.get("nobody")
    assert missing.value.request_id == "trace-42"
    with pytest.raises(NotFoundError) as generated:
        client.accounts.get("nobody")
    assert generated.value.request_id and len(generated.value.request_id) == 16


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "malformed_request"),
        (401, "unauthenticated"),
        (402, "insufficient_credits"),
        (403, "forbidden"),
        (404, "not_found"),
        (409, "invalid_state"),
        (413, "payload_too_large"),
        (422, "validation_error"),
        (429, "rate_limited"),
        (500, None),
        (418, None),
    ],
)
def test_each_status_has_the_code_it_stands_for(status: int, code: str | None) -> None:
    """What a body without a code means (the CLI's error codes come from here)."""
    assert error_class(status).default_code == code
