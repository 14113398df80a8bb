"""`creditbook serve` delivers webhooks in-process, and does not with `--no-webhooks`."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from standardwebhooks import Webhook
from tests.cli.test_serve_logs import serve, stop
from tests.webhook_events import add_events
from tests.webhook_receiver import Receiver
from tests.webhook_receiver import serve as serve_receiver

from creditbook import Ledger

pytestmark = pytest.mark.slow
ALLOW_PRIVATE = {"CREDITBOOK_WEBHOOKS_ALLOW_PRIVATE": "1"}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from serve_receiver(Receiver())


def test_serve_delivers_webhooks_unless_told_not_to(tmp_path: Path, receiver: Receiver) -> None:
    url = f"sqlite:///{tmp_path / 'creditbook.db'}"
    ledger = Ledger.open(url, webhooks_allow_private=True)
    try:
        endpoint = ledger.create_webhook_endpoint(receiver.url)
        add_events(ledger.engine, "acme", 2, datetime.now(UTC))
    finally:
        ledger.close()
    quiet, _, quiet_log = serve(tmp_path, url, "--no-webhooks", env_extra=ALLOW_PRIVATE)
    try:
        time.sleep(1.5)
        assert receiver.received == []
    finally:
        stop(quiet)
    assert "no webhooks" in quiet_log.read_text()
    server, _, log = serve(
        tmp_path, url, "--webhooks-poll-interval", "0.1", env_extra=ALLOW_PRIVATE
    )
    try:
        deadline = time.monotonic() + 20
        while len(receiver.acknowledged()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop(server)
    assert endpoint.secret is not None
    sequences = [
        Webhook(endpoint.secret).verify(r.body, r.headers)["sequence"]
        for r in receiver.acknowledged()
    ]
    assert sequences == [1, 2]
    text = log.read_text()
    assert "webhook dispatcher started" in text and "webhook dispatcher stopped" in text
