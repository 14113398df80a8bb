"""Retries: lost answers never bill twice; 408/429/5xx and connection errors are retried
with capped, jittered backoff or the server's Retry-After; other errors are not."""

from __future__ import annotations

import email.utils
import time
from typing import Any

import httpx
import pytest
from tests.client.conftest import BASE_URL, MakeClient, Recorder, Sleeps

from creditbook.client import (
    APIConnectionError,
    APITimeoutError,
    Client,
    ConflictError,
    CreditbookAPIError,
    InsufficientCreditsError,
    InternalServerError,
    KeySecretLostError,
    RateLimitError,
)
from creditbook.client._base import (
    INITIAL_RETRY_DELAY_S,
    MAX_RETRY_AFTER_S,
    MAX_RETRY_DELAY_S,
    backoff_delay,
    parse_retry_after,
)


def _open(client: Client, account_id: str = "acme") -> None:
    client.accounts.create(plan_id="pro", account_id=account_id)


def _spent(client: Client, account_id: str = "acme") -> list[Any]:
    return [t.amount for t in client.credits.transactions(account_id, type="DEDUCTION")]


@pytest.mark.parametrize("failure", [httpx.ReadError, httpx.RemoteProtocolError])
def test_a_charge_whose_answer_is_lost_is_billed_once(
    client: Client, make_client: MakeClient, sleeps: Sleeps, failure: type[httpx.TransportError]
) -> None:
    """The server charges, the answer is lost, the SDK retries with the same idempotency
    key and gets the first charge back: the balance moves once, one transaction exists."""
    _open(client)
    flaky = Recorder(drop=1, failure=failure)
    charging = make_client(through=flaky)

    charge = charging.charges.create("acme", amount=7, description="job 1")

    assert len(flaky.requests) == 2
    first_key, second_key = flaky.keys()
    assert first_key is not None and first_key == second_key
    assert client.credits.balance("acme").pools["credits"].available == 93
    history = list(client.credits.transactions("acme", type="DEDUCTION"))
    assert [(t.transaction_id, t.amount) for t in history] == [(charge.charge_id, -7)]
    assert len(sleeps.delays) == 1 and 0 <= sleeps.delays[0] <= INITIAL_RETRY_DELAY_S


def test_every_write_survives_a_lost_answer(client: Client, make_client: MakeClient) -> None:
    """Batches, runs, results, grants and refunds: each lost answer is retried safely."""
    _open(client)
    flaky = Recorder()
    operator = make_client(through=flaky)

    def lossy(call: Any) -> Any:
        flaky.drop = 1
        return call()

    grant = lossy(lambda: operator.grants.create("acme", amount=100, source="top_up"))
    batch = lossy(
        lambda: operator.charges.batch(
            [{"account_id": "acme", "amount": 1}, {"account_id": "acme", "amount": 2}]
        )
    )
    refund = lossy(lambda: operator.charges.refund(batch.data[1].charge.charge_id))
    run = lossy(lambda: operator.runs.start(account_id="acme", rate_card_id="maps", hold=50))
    lossy(lambda: operator.runs.report_results(run.run_id, rows_kept=5))
    finished = lossy(lambda: operator.runs.finish(run.run_id))

    assert grant.amount == 100 and refund.amount == 2
    assert finished.credits == 20 and finished.status == "finished"
    assert _spent(client) == [-20, -2, -1]
    assert client.credits.balance("acme").pools["credits"].available == 200 - 21
    assert client.credits.balance("acme").used_slots == 0
    assert client.ledger.verify().ok


def test_a_key_whose_answer_is_lost_says_so_and_names_the_key(
    client: Client, make_client: MakeClient
) -> None:
    """The server issued the key, the answer with its secret was lost, the retry got the
    replay (no secret: only its hash is stored): the SDK says which key to revoke."""
    _open(client)
    flaky = Recorder(drop=1)
    operator = make_client(through=flaky)
    with pytest.raises(KeySecretLostError) as raised:
        operator.keys.create("acme", scope="write", name="backend")
    lost = raised.value
    assert isinstance(lost, CreditbookAPIError) and lost.code == "key_secret_lost"
    assert len(flaky.requests) == 2 and flaky.requests[1].headers["Idempotency-Key"]
    assert lost.key_id in str(lost) and "revoke" in str(lost)
    assert client.keys.revoke(lost.key_id).revoked_at is not None
    fresh = operator.keys.create("acme", scope="write")  # an answer that arrives has it
    assert fresh.secret is not None and fresh.key_id != lost.key_id


def test_a_revoke_whose_answer_is_lost_succeeds_on_the_retry(
    client: Client, make_client: MakeClient, sleeps: Sleeps
) -> None:
    """The server revoked the key, the answer was lost, the SDK sent the DELETE again: the
    retry answers the key as the first revocation left it, not a conflict."""
    _open(client)
    key = client.keys.create("acme", scope="read")
    flaky = Recorder(drop=1)
    operator = make_client(through=flaky)
    revoked = operator.keys.revoke(key.key_id)
    assert [request.method for request in flaky.requests] == ["DELETE", "DELETE"]
    assert len(sleeps.delays) == 1
    assert revoked.key_id == key.key_id and revoked.revoked_at is not None
    assert client.keys.revoke(key.key_id) == revoked  # and again: the same key, unchanged


def test_the_callers_idempotency_key_makes_repeated_calls_one(client: Client) -> None:
    _open(client)
    first = client.charges.create("acme", amount=5, idempotency_key="order-17")
    again = client.charges.create("acme", amount=5, idempotency_key="order-17")
    assert again == first
    assert _spent(client) == [-5]
    with pytest.raises(ConflictError) as raised:
        client.charges.create("acme", amount=6, idempotency_key="order-17")
    assert raised.value.code == "idempotency_key_conflict"


def test_each_call_has_its_own_key(client: Client, make_client: MakeClient) -> None:
    _open(client)
    recorder = Recorder()
    operator = make_client(through=recorder)
    operator.charges.create("acme", amount=1)
    operator.charges.create("acme", amount=1)
    operator.credits.balance("acme")
    first, second, read = recorder.keys()
    assert first and second and first != second
    assert read is None  # only POSTs carry a key
    assert _spent(client) == [-1, -1]


def test_429_waits_as_long_as_retry_after_says(
    client: Client, make_client: MakeClient, sleeps: Sleeps
) -> None:
    _open(client)
    limited = Recorder(refuse=[(429, {"Retry-After": "3"})])
    operator = make_client(through=limited)
    charge = operator.charges.create("acme", amount=4)
    assert sleeps.delays == [3.0]
    assert len(limited.requests) == 2 and len(set(limited.keys())) == 1
    assert [t.transaction_id for t in client.credits.transactions("acme", type="DEDUCTION")] == [
        charge.charge_id
    ]


def test_retry_after_as_an_http_date(
    client: Client, make_client: MakeClient, sleeps: Sleeps
) -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    limited = Recorder(refuse=[(503, {"Retry-After": when})])
    operator = make_client(through=limited)
    assert operator.health().status == "ok"
    assert len(sleeps.delays) == 1 and 25 <= sleeps.delays[0] <= 30


def test_a_retry_after_beyond_the_cap_is_the_callers_call(
    make_client: MakeClient, sleeps: Sleeps
) -> None:
    wait = str(int(MAX_RETRY_AFTER_S) + 1)
    limited = Recorder(refuse=[(429, {"Retry-After": wait})])
    operator = make_client(through=limited)
    with pytest.raises(RateLimitError) as raised:
        operator.health()
    assert raised.value.retry_after == MAX_RETRY_AFTER_S + 1
    assert sleeps.delays == [] and len(limited.requests) == 1


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_retryable_statuses_back_off_with_jitter(
    make_client: MakeClient, sleeps: Sleeps, status: int
) -> None:
    failing = Recorder(refuse=[(status, {}), (status, {})])
    operator = make_client(through=failing)
    assert operator.health().status == "ok"
    assert len(failing.requests) == 3
    first, second = sleeps.delays
    assert 0 <= first <= INITIAL_RETRY_DELAY_S
    assert 0 <= second <= 2 * INITIAL_RETRY_DELAY_S


def test_retries_stop_after_max_retries(make_client: MakeClient, sleeps: Sleeps) -> None:
    down = Recorder(refuse=[(503, {})] * 10)
    operator = make_client(through=down)
    with pytest.raises(InternalServerError) as raised:
        operator.health()
    assert raised.value.status_code == 503
    assert len(down.requests) == 1 + 2 and len(sleeps.delays) == 2

    patient = Recorder(refuse=[(503, {})] * 10)
    several = make_client(through=patient, max_retries=5)
    with pytest.raises(InternalServerError):
        several.health()
    assert len(patient.requests) == 6

    once = Recorder(refuse=[(503, {})])
    no_retries = make_client(through=once, max_retries=0)
    with pytest.raises(InternalServerError):
        no_retries.health()
    assert len(once.requests) == 1


def test_refusals_are_not_retried(client: Client, make_client: MakeClient, sleeps: Sleeps) -> None:
    _open(client)
    recorder = Recorder()
    operator = make_client(through=recorder)
    with pytest.raises(InsufficientCreditsError):
        operator.charges.create("acme", amount=1_000)
    assert len(recorder.requests) == 1 and sleeps.delays == []


def _unreachable(error: type[httpx.TransportError]) -> httpx.MockTransport:
    def fail(request: httpx.Request) -> httpx.Response:
        raise error("no route", request=request)

    return httpx.MockTransport(fail)


def test_connection_errors_are_retried_then_raised(sleeps: Sleeps) -> None:
    attempts: list[httpx.Request] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        raise httpx.ConnectError("connection refused", request=request)

    with (
        Client(
            api_key="k", base_url=BASE_URL, transport=httpx.MockTransport(refuse), sleep=sleeps
        ) as client,
        pytest.raises(APIConnectionError) as raised,
    ):
        client.charges.create("acme", amount=1)
    assert not isinstance(raised.value, APITimeoutError)
    assert raised.value.status_code is None and raised.value.request_id is None
    assert isinstance(raised.value.__cause__, httpx.ConnectError)
    assert len(attempts) == 3 and len(sleeps.delays) == 2
    assert len({r.headers["Idempotency-Key"] for r in attempts}) == 1


def test_timeouts_raise_api_timeout_error(sleeps: Sleeps) -> None:
    with (
        Client(
            api_key="k", base_url=BASE_URL, transport=_unreachable(httpx.ReadTimeout), sleep=sleeps
        ) as client,
        pytest.raises(APITimeoutError),
    ):
        client.health()
    assert len(sleeps.delays) == 2


def test_a_request_that_cannot_be_sent_is_not_retried(sleeps: Sleeps) -> None:
    with (
        Client(
            api_key="k",
            base_url=BASE_URL,
            transport=_unreachable(httpx.UnsupportedProtocol),
            sleep=sleeps,
        ) as client,
        pytest.raises(APIConnectionError),
    ):
        client.health()
    assert sleeps.delays == []


def test_backoff_is_exponential_capped_and_fully_jittered() -> None:
    ceilings = [backoff_delay(retry, jitter=lambda: 1.0) for retry in range(8)]
    assert ceilings == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0, 8.0]
    assert ceilings[-1] == MAX_RETRY_DELAY_S
    assert backoff_delay(3, jitter=lambda: 0.0) == 0.0
    assert all(0 <= backoff_delay(retry) <= MAX_RETRY_DELAY_S for retry in range(20))


def test_parse_retry_after() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after("2", now) == 2.0
    assert parse_retry_after("1.5", now) == 1.5
    assert parse_retry_after("-4", now) == 0.0
    assert parse_retry_after(email.utils.formatdate(now + 10, usegmt=True), now) == 10.0
    assert parse_retry_after(email.utils.formatdate(now - 10, usegmt=True), now) == 0.0
    for nothing in (None, "", "soon"):
        assert parse_retry_after(nothing, now) is None
