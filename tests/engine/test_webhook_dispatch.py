"""Webhooks through the library, on both databases, against a real receiver on loopback:
every event delivered at least once, in sequence order per account, signed; the retry
schedule and what its end does; secret rotation; filters; URL safety."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator

import pytest
from sqlalchemy import select, update
from standardwebhooks import Webhook, WebhookVerificationError
from tests.conftest import START
from tests.webhook_events import add_events
from tests.webhook_receiver import Receiver, serve

from creditbook import Ledger, ManualClock
from creditbook.domain.errors import (
    NotFoundError,
    StateError,
    UnknownEventTypeError,
    ValidationError,
    WebhookUrlError,
)
from creditbook.domain.webhooks import MAX_ATTEMPTS, RETRY_WINDOW
from creditbook.engine.webhooks.dispatcher import Dispatcher
from creditbook.store import schema

TIMEOUT_S = 0.5


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from serve(Receiver())


@pytest.fixture
def private(ledger: Ledger) -> Ledger:
    """The ledger, allowed to call the loopback receiver."""
    ledger.webhooks_allow_private = True
    return ledger


@pytest.fixture
def dispatcher(private: Ledger) -> Iterator[Dispatcher]:
    dispatcher = private.webhook_dispatcher(concurrency=8, timeout_s=TIMEOUT_S)
    try:
        yield dispatcher
    finally:
        dispatcher.stop()


def deliver_all(dispatcher: Dispatcher, clock: ManualClock, rounds: int = 200) -> None:
    """Drain, then move the clock an hour for the retries, until nothing is pending."""
    for _ in range(rounds):
        assert dispatcher.drain(timeout_s=60)
        with dispatcher._context.engine.connect() as connection:
            pending = connection.execute(
                select(schema.webhook_deliveries.c.delivery_id).where(
                    schema.webhook_deliveries.c.status == "pending"
                )
            ).first()
        if pending is None:
            return
        clock.advance(hours=1)
    raise AssertionError("deliveries still pending")


def test_every_event_arrives_in_order_and_signed_despite_a_chaotic_receiver(
    private: Ledger, dispatcher: Dispatcher, clock: ManualClock
) -> None:
    accounts = ["acme", "globex", "initech"]
    for account in accounts:
        add_events(private.engine, account, 12, START)
    receiver_iter = serve(Receiver(mode="chaos", seed=7))
    receiver = next(receiver_iter)
    try:
        endpoint = private.create_webhook_endpoint(receiver.url)
        assert endpoint.secret is not None and endpoint.secret.startswith("whsec_")
        add_events(private.engine, "acme", 3, START)  # after the endpoint: also delivered
        deliver_all(dispatcher, clock)
    finally:
        receiver_iter.close()
    acknowledged: dict[str, list[int]] = defaultdict(list)
    ids_by_sequence: dict[tuple[str, int], str] = {}
    for received in receiver.acknowledged():
        body = Webhook(endpoint.secret).verify(received.body, received.headers)
        assert received.headers["webhook-id"] == body["id"]
        assert received.headers["content-type"] == "application/json"
        key = (body["account_id"], body["sequence"])
        assert ids_by_sequence.setdefault(key, body["id"]) == body["id"]
        acknowledged[body["account_id"]].append(body["sequence"])
    for account in accounts:
        sequences = acknowledged[account]
        count = 15 if account == "acme" else 12
        assert set(sequences) == set(range(1, count + 1)), account  # at least once
        assert sequences == sorted(sequences), account  # in order (a repeat may follow)
    # Every attempt of one event carried the same webhook-id.
    ids: dict[bytes, set[str]] = defaultdict(set)
    for received in receiver.received:
        ids[received.body].add(received.headers["webhook-id"])
    assert all(len(found) == 1 for found in ids.values())
    assert len(receiver.received) > len(receiver.acknowledged())  # the chaos happened
    page = private.webhook_deliveries(endpoint.endpoint_id, limit=100)
    assert {d.status for d in page.data} == {"succeeded"}
    assert any(len(d.attempt_log) > 1 for d in page.data)


def test_the_body_is_the_event_and_amounts_are_credits(
    private: Ledger, dispatcher: Dispatcher, receiver: Receiver, clock: ManualClock
) -> None:
    endpoint = private.create_webhook_endpoint(receiver.url, event_types=["credits.granted"])
    (event_id,) = add_events(private.engine, "acme", 1, START)
    deliver_all(dispatcher, clock)
    (received,) = receiver.received
    assert json.loads(received.body) == {
        "id": event_id,
        "type": "credits.granted",
        "account_id": "acme",
        "sequence": 1,
        "created_at": "2025-01-01T00:00:00Z",
        "data": {"amount": 1.5, "source": "bonus"},
    }
    assert received.body == json.dumps(json.loads(received.body), separators=(",", ":")).encode()
    assert endpoint.secret is not None
    Webhook(endpoint.secret).verify(received.body, received.headers)


def test_filters_by_type_and_account(
    private: Ledger, dispatcher: Dispatcher, receiver: Receiver, clock: ManualClock
) -> None:
    # The events' accounts are made up; a filter on an account needs it to exist.
    with pytest.raises(NotFoundError):
        private.create_webhook_endpoint(receiver.url, account_id="nobody")
    typed = private.create_webhook_endpoint(receiver.url, event_types=["balance.low"])
    everything = private.create_webhook_endpoint(receiver.url)
    add_events(private.engine, "acme", 2, START, event_type="balance.low")
    add_events(private.engine, "globex", 3, START, event_type="credits.granted")
    deliver_all(dispatcher, clock)
    assert len(private.webhook_deliveries(typed.endpoint_id).data) == 2
    assert len(private.webhook_deliveries(everything.endpoint_id).data) == 5
    assert len(receiver.acknowledged()) == 7


def test_fan_out_queues_each_event_once_per_endpoint(
    private: Ledger, dispatcher: Dispatcher, receiver: Receiver, clock: ManualClock
) -> None:
    endpoint = private.create_webhook_endpoint(receiver.url)
    add_events(private.engine, "acme", 4, START)
    deliver_all(dispatcher, clock)
    with private.engine.begin() as connection:  # as if a dispatcher died before marking
        connection.execute(update(schema.events).values(dispatched=False))
    deliver_all(dispatcher, clock)
    assert len(private.webhook_deliveries(endpoint.endpoint_id).data) == 4
    assert len(receiver.received) == 4


def test_the_schedule_ends_by_disabling_the_endpoint_with_an_event(
    private: Ledger, dispatcher: Dispatcher, clock: ManualClock
) -> None:
    failing_iter = serve(Receiver(mode="fail"))
    failing = next(failing_iter)
    watching_iter = serve(Receiver())
    watching = next(watching_iter)
    try:
        broken = private.create_webhook_endpoint(failing.url, event_types=["credits.granted"])
        watcher = private.create_webhook_endpoint(
            watching.url, event_types=["webhook_endpoint.disabled"]
        )
        add_events(private.engine, "acme", 1, START)
        deliver_all(dispatcher, clock)
        (delivery,) = private.webhook_deliveries(broken.endpoint_id).data
        assert delivery.status == "failed" and delivery.attempts == MAX_ATTEMPTS
        assert [a.status_code for a in delivery.attempt_log] == [500] * MAX_ATTEMPTS
        assert delivery.attempt_log[0].response == "nope"
        assert delivery.first_attempt_at is not None
        last = delivery.attempt_log[-1].attempted_at
        assert last - delivery.first_attempt_at <= RETRY_WINDOW
        endpoint = private.get_webhook_endpoint(broken.endpoint_id)
        assert endpoint.status == "disabled" and "11 attempts" in endpoint.disabled_reason
        (received,) = watching.received  # the operator hears of it by webhook
        assert watcher.secret is not None
        body = Webhook(watcher.secret).verify(received.body, received.headers)
        assert body["type"] == "webhook_endpoint.disabled" and body["account_id"] == ""
        assert body["data"] == {
            "endpoint_id": broken.endpoint_id,
            "url": failing.url,
            "reason": endpoint.disabled_reason,
        }
        # A disabled endpoint gets nothing new; re-enabled and retried, it gets the event.
        add_events(private.engine, "acme", 1, START)
        deliver_all(dispatcher, clock)
        assert len(private.webhook_deliveries(broken.endpoint_id).data) == 1
        failing.mode = "ok"
        enabled = private.update_webhook_endpoint(broken.endpoint_id, status="enabled")
        assert enabled.status == "enabled" and enabled.disabled_reason == ""
        retried = private.retry_webhook_delivery(delivery.delivery_id)
        assert retried.status == "pending"
        deliver_all(dispatcher, clock)
        (done,) = private.webhook_deliveries(broken.endpoint_id).data
        assert done.status == "succeeded" and done.attempts == MAX_ATTEMPTS + 1
        with pytest.raises(StateError):
            private.retry_webhook_delivery(delivery.delivery_id)
    finally:
        failing_iter.close()
        watching_iter.close()


def test_rotation_signs_with_both_secrets_for_24_hours(
    private: Ledger, dispatcher: Dispatcher, receiver: Receiver, clock: ManualClock
) -> None:
    endpoint = private.create_webhook_endpoint(receiver.url)
    rotated = private.rotate_webhook_secret(endpoint.endpoint_id)
    old, new = endpoint.secret, rotated.secret
    assert old and new and old != new
    assert rotated.previous_secret_expires_at is not None
    add_events(private.engine, "acme", 1, START)
    deliver_all(dispatcher, clock)
    clock.advance(hours=24, seconds=1)
    add_events(private.engine, "acme", 1, START)
    deliver_all(dispatcher, clock)
    during, after = receiver.received
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(during.body, during.headers)
    Webhook(new).verify(during.body, during.headers)
    Webhook(new).verify(after.body, after.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(after.body, after.headers)
    assert private.get_webhook_endpoint(endpoint.endpoint_id).secret is None  # shown once


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/hooks",
        "ftp://example.com/hooks",
        "https://127.0.0.1/hooks",
        "https://localhost:8443/hooks",
        "https://10.1.2.3/hooks",
        "https://192.168.0.1/hooks",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hooks",
        "https://[::ffff:127.0.0.1]/hooks",
        "https://0.0.0.0/hooks",
        "https://224.0.0.1/hooks",
        "https://user:secret@example.com/hooks",
        "https:///hooks",
        "https://does-not-resolve.invalid/hooks",
        "not a url",
    ],
)
def test_unsafe_urls_are_refused_and_nothing_is_written(ledger: Ledger, url: str) -> None:
    with pytest.raises(WebhookUrlError) as refused:
        ledger.create_webhook_endpoint(url)
    assert refused.value.code == "webhook_url_not_allowed"
    assert ledger.webhook_endpoints().data == []


def test_private_urls_are_allowed_by_the_setting_only(ledger: Ledger) -> None:
    ledger.webhooks_allow_private = True
    endpoint = ledger.create_webhook_endpoint("http://127.0.0.1:9/hooks")
    ledger.webhooks_allow_private = False
    with pytest.raises(WebhookUrlError):
        ledger.update_webhook_endpoint(endpoint.endpoint_id, url="http://10.0.0.1/")
    assert ledger.get_webhook_endpoint(endpoint.endpoint_id).url == "http://127.0.0.1:9/hooks"


def test_the_url_is_checked_again_at_delivery_time(
    private: Ledger, receiver: Receiver, clock: ManualClock
) -> None:
    endpoint = private.create_webhook_endpoint(receiver.url)
    add_events(private.engine, "acme", 1, START)
    strict = private.webhook_dispatcher(timeout_s=TIMEOUT_S, allow_private=False)
    try:
        assert strict.drain(timeout_s=30)
    finally:
        strict.stop()
    (delivery,) = private.webhook_deliveries(endpoint.endpoint_id).data
    assert delivery.status == "pending" and receiver.received == []
    (attempt,) = delivery.attempt_log
    assert attempt.status_code is None and attempt.error.startswith("url not allowed")


def test_bad_input_is_refused_with_a_stable_code(ledger: Ledger) -> None:
    ledger.webhooks_allow_private = True
    url = "http://127.0.0.1:9/"
    with pytest.raises(UnknownEventTypeError) as unknown:
        ledger.create_webhook_endpoint(url, event_types=["balance.lowish"])
    assert unknown.value.code == "unknown_event_type"
    for event_types in ([], ["*", "balance.low"]):
        with pytest.raises(ValidationError):
            ledger.create_webhook_endpoint(url, event_types=event_types)
    with pytest.raises(ValidationError):
        ledger.create_webhook_endpoint(url, description="x" * 501)
    assert ledger.webhook_endpoints().data == []
    with pytest.raises(NotFoundError):
        ledger.get_webhook_endpoint("we_missing")
    with pytest.raises(NotFoundError):
        ledger.retry_webhook_delivery("whd_missing")


def test_endpoints_page_and_replay_by_idempotency_key(ledger: Ledger) -> None:
    ledger.webhooks_allow_private = True
    first = ledger.create_webhook_endpoint("http://127.0.0.1:9/a", idempotency_key="k1")
    again = ledger.create_webhook_endpoint("http://127.0.0.1:9/a", idempotency_key="k1")
    assert again.replayed and again.endpoint_id == first.endpoint_id
    assert again.secret == first.secret
    for number in range(4):
        ledger.create_webhook_endpoint(f"http://127.0.0.1:9/{number}")
    seen, cursor = [], None
    while True:
        page = ledger.webhook_endpoints(limit=2, cursor=cursor)
        seen += [e.endpoint_id for e in page.data]
        if not page.has_more:
            break
        cursor = page.next_cursor
    assert len(seen) == len(set(seen)) == 5
    deleted = ledger.delete_webhook_endpoint(first.endpoint_id)
    assert deleted.endpoint_id == first.endpoint_id
    with pytest.raises(NotFoundError):
        ledger.get_webhook_endpoint(first.endpoint_id)
