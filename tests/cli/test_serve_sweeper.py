"""`creditbook serve` sweeps by itself: due resets, rollovers and expiries are applied
without `creditbook tick`, by exactly one of several servers on one PostgreSQL database
(an advisory lock), and by none with `--no-sweeper`."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.cli.test_serve_logs import serve, stop

from creditbook import Credits, Interval, Ledger, ManualClock, Plan
from creditbook.store.queries import accounts as account_queries

pytestmark = pytest.mark.slow
DUE_ACCOUNTS = 3


def due(ledger: Ledger, account_id: str) -> bool:
    """Whether the account still has something due now, read without catching it up."""
    with ledger.engine.connect() as connection:
        at = account_queries.next_event_at(connection, account_id)
    assert at is not None
    return at <= datetime.now(UTC)


@pytest.fixture
def overdue(database_url: str) -> Iterator[tuple[str, Ledger]]:
    """Accounts whose month ended weeks ago, never touched since (on each database: on
    SQLite the servers share the file, and a lock file beside it)."""
    clock = ManualClock(datetime.now(UTC) - timedelta(days=70))
    past = Ledger.open(database_url, clock=clock)
    past.put_plan(
        Plan("monthly", interval=Interval.MONTHLY, allowances={"credits": Credits.of(10)})
    )
    for index in range(DUE_ACCOUNTS):
        past.open_account("monthly", account_id=f"acct{index}")
    past.close()
    ledger = Ledger.open(database_url, upgrade=False)
    yield database_url, ledger
    ledger.close()


def json_lines(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


def test_one_of_two_servers_sweeps_and_none_with_no_sweeper(
    tmp_path: Path, overdue: tuple[str, Ledger]
) -> None:
    url, ledger = overdue
    accounts = [f"acct{index}" for index in range(DUE_ACCOUNTS)]
    assert all(due(ledger, account_id) for account_id in accounts)
    quiet, _, quiet_log = serve(tmp_path, url, "--no-sweeper", "--sweep-interval", "0.2")
    try:
        time.sleep(2)
        assert all(due(ledger, account_id) for account_id in accounts)
    finally:
        stop(quiet)
    assert "no sweeper" in quiet_log.read_text()
    servers = [serve(tmp_path, url, "--sweep-interval", "0.2") for _ in range(2)]
    try:
        deadline = time.monotonic() + 20
        while any(due(ledger, a) for a in accounts) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(due(ledger, account_id) for account_id in accounts)
        time.sleep(1)  # several more rounds: the other server must still not sweep
        lines = [sweeper_messages(log) for _, _, log in servers]
        holding = [index for index, messages in enumerate(lines) if holds(messages)]
        assert len(holding) == 1, lines
        holder, other = holding[0], 1 - holding[0]
        assert f"swept: caught up {DUE_ACCOUNTS} accounts" in lines[holder]
        assert lines[other] == [WAITING], lines
        # When the holder stops, the other takes the lock over.
        stop(servers[holder][0])
        deadline = time.monotonic() + 10
        while not holds(sweeper_messages(servers[other][2])) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert holds(sweeper_messages(servers[other][2]))
    finally:
        for process, _, _ in servers:
            stop(process)


WAITING = "another process holds the sweeper lock: this one takes over when it stops"


def sweeper_messages(log: Path) -> list[str]:
    return [line["message"] for line in json_lines(log) if line["name"] == "creditbook.sweeper"]


def holds(messages: list[str]) -> bool:
    return any(message.startswith("this process holds the sweeper lock") for message in messages)
