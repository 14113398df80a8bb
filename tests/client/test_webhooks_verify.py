"""`creditbook.client.webhooks.verify`: a receiver checks a delivery signed per Standard
Webhooks and reads a typed event with exact amounts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from standardwebhooks.webhooks import Webhook

from creditbook.client import webhooks
from creditbook.engine.events.records import Event, encode

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OLD_SECRET = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"


def delivery(secret: str, *, sent_at: datetime | None = None) -> tuple[bytes, dict[str, str]]:
    event = Event(
        "evt_0123456789abcdef01234567",
        "balance.low",
        "acme",
        3,
        datetime(2026, 12, 1, 9, 30, tzinfo=UTC),
        {"pool": "credits", "available": 9500, "threshold": 10000, "transfer_id": "txn_1"},
    )
    body = encode(event.body())
    at = sent_at or datetime.now(UTC)
    signature = Webhook(secret).sign(event.event_id, at, body)
    headers = {
        "webhook-id": event.event_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }
    return body, headers


def test_a_signed_delivery_reads_as_a_typed_event_with_exact_amounts() -> None:
    body, headers = delivery(SECRET)
    event = webhooks.verify(body, headers, SECRET)
    assert event.type == "balance.low"
    assert event.sequence == 3
    assert event.data["available"] == Decimal("9.5")
    assert isinstance(event.data["available"], Decimal)
    assert event.created_at == datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def test_headers_in_any_case_and_either_of_two_secrets() -> None:
    body, headers = delivery(OLD_SECRET)
    upper = {name.upper(): value for name, value in headers.items()}
    assert webhooks.verify(body, upper, [SECRET, OLD_SECRET]).id == headers["webhook-id"]


@pytest.mark.parametrize("change", ["body", "secret", "stale", "headers"])
def test_a_delivery_that_does_not_check_out_is_refused(change: str) -> None:
    sent_at = datetime.now(UTC) - timedelta(minutes=10) if change == "stale" else None
    body, headers = delivery(SECRET, sent_at=sent_at)
    if change == "body":
        body = body.replace(b"9.5", b"95")
    if change == "headers":
        del headers["webhook-signature"]
    secret = OLD_SECRET if change == "secret" else SECRET
    with pytest.raises(webhooks.WebhookVerificationError):
        webhooks.verify(body, headers, secret)
