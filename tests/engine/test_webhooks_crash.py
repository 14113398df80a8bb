"""`creditbook webhooks run` killed with SIGKILL in the middle of deliveries, several times,
then a clean dispatcher: every event is delivered (at least once, in order per account,
signed), on both databases. And a SIGTERM stops it gracefully."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from standardwebhooks import Webhook
from tests.webhook_events import add_events
from tests.webhook_receiver import Receiver, serve

from creditbook import Ledger
from creditbook.store import schema
from creditbook.store.database import make_engine

pytestmark = pytest.mark.slow

ACCOUNTS = 4
EVENTS_EACH = 50
KILLS = 3
RUN_TIMEOUT_S = 90.0


@pytest.fixture
def ledger(database_url: str) -> Iterator[Ledger]:
    """On the dispatcher processes' clock (the system's)."""
    ledger = Ledger(make_engine(database_url), webhooks_allow_private=True)
    try:
        yield ledger
    finally:
        ledger.close()


def start_dispatcher(database_url: str, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CREDITBOOK_WEBHOOKS_ALLOW_PRIVATE": "1",
        "CREDITBOOK_WEBHOOKS_TIMEOUT_S": "2",
    }
    command = [sys.executable, "-m", "creditbook", "webhooks", "run", "--poll-interval", "0.1"]
    with log.open("ab") as output:
        return subprocess.Popen(
            [*command, "--log-format", "console", "--database-url", database_url],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
        )


def pending(ledger: Ledger) -> int:
    with ledger.engine.connect() as connection:
        undispatched = connection.execute(
            select(func.count()).where(schema.events.c.dispatched.is_(False))
        ).scalar_one()
        waiting = connection.execute(
            select(func.count()).where(schema.webhook_deliveries.c.status == "pending")
        ).scalar_one()
    return int(undispatched) + int(waiting)


def wait_for(condition: Callable[[], bool], message: str) -> None:
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(0.02)


def test_kill_9_mid_delivery_loses_nothing(
    database_url: str, ledger: Ledger, tmp_path: Path
) -> None:
    receiver_iter = serve(Receiver(delay_s=0.03))
    receiver = next(receiver_iter)
    log = tmp_path / "dispatcher.log"
    try:
        endpoint = ledger.create_webhook_endpoint(receiver.url)
        for index in range(ACCOUNTS):
            add_events(ledger.engine, f"acct{index}", EVENTS_EACH, datetime.now(UTC))
        for _ in range(KILLS):
            target = len(receiver.received) + 10
            process = start_dispatcher(database_url, log)
            wait_for(lambda: len(receiver.received) >= target, "no progress before the kill")  # noqa: B023
            process.kill()  # SIGKILL: requests in flight, attempts not yet recorded
            process.wait(timeout=10)
        assert pending(ledger) > 0, "the killed dispatchers finished everything"
        clean = start_dispatcher(database_url, log)
        wait_for(lambda: pending(ledger) == 0, "the clean dispatcher did not finish")
        clean.send_signal(signal.SIGTERM)
        assert clean.wait(timeout=30) == 0
    finally:
        receiver_iter.close()
    assert "webhook dispatcher stopped" in log.read_text()
    assert endpoint.secret is not None
    verifier = Webhook(endpoint.secret)
    acknowledged: dict[str, list[int]] = defaultdict(list)
    ids: dict[tuple[str, int], set[str]] = defaultdict(set)
    for received in receiver.acknowledged():
        body = verifier.verify(received.body, received.headers)
        acknowledged[body["account_id"]].append(body["sequence"])
        ids[(body["account_id"], body["sequence"])].add(received.headers["webhook-id"])
    assert all(len(found) == 1 for found in ids.values())  # a repeat has the same id
    for index in range(ACCOUNTS):
        sequences = acknowledged[f"acct{index}"]
        assert set(sequences) == set(range(1, EVENTS_EACH + 1))
        assert sequences == sorted(sequences)
    deliveries = ledger.webhook_deliveries(endpoint.endpoint_id, limit=100)
    assert {delivery.status for delivery in deliveries.data} == {"succeeded"}
