"""The connection pool keeps what it opened: a burst of concurrent requests opens
connections once, and the next burst reuses them instead of opening new ones."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import event

from creditbook import Credits, Ledger, Plan
from creditbook.api.app import create_app
from creditbook.settings import Settings
from creditbook.store.database import DEFAULT_POOL_SIZE

BURST = 12  # more than the old pool's 10 kept connections, within the default size


def test_a_second_burst_opens_no_connection(database_url: str) -> None:
    ledger = Ledger.open(database_url)
    opened: list[Any] = []
    event.listen(ledger.engine, "connect", lambda connection, record: opened.append(record))
    try:
        ledger.put_plan(Plan("p", allowances={"credits": Credits.of(10)}))
        account = ledger.open_account("p").account_id
        ledger.engine.dispose()  # start with an empty pool
        barrier = threading.Barrier(BURST)

        def read(_: int) -> None:
            # Every thread holds its connection until all of them hold one.
            with ledger.engine.connect():
                barrier.wait(timeout=30)
            ledger.balance(account)

        with ThreadPoolExecutor(BURST) as threads:
            list(threads.map(read, range(BURST)))
            first = len(opened)
            barrier.reset()
            list(threads.map(read, range(BURST)))
        assert first >= BURST
        assert len(opened) == first
    finally:
        ledger.close()


def test_the_pool_size_is_a_setting(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().database_pool_size == DEFAULT_POOL_SIZE
    monkeypatch.setenv("CREDITBOOK_DATABASE_POOL_SIZE", "3")
    settings = Settings(database_url=database_url)
    app = create_app(settings=settings)
    try:
        pool = app.state.ledger.engine.pool
        assert (pool.size(), pool._max_overflow) == (3, 0)
    finally:
        app.state.ledger.close()


@pytest.mark.parametrize("size", ["0", "1001", "many"])
def test_a_pool_size_out_of_range_is_refused(size: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDITBOOK_DATABASE_POOL_SIZE", size)
    with pytest.raises(ValueError, match="database_pool_size"):
        Settings()
