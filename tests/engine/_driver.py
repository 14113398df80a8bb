"""What the tests of the driver-level write path share: an account on a plain plan, its
available credits, a column read back, and the statements the driver runs."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from creditbook import Credits, Ledger, Plan
from creditbook.store.queries import hot

POOL = "credits"


def open_accounts(ledger: Ledger, *account_ids: str, allowance: int = 100) -> None:
    """Accounts on the plan "hot", `allowance` credits a period in POOL."""
    ledger.put_plan(Plan("hot", allowances={POOL: Credits.of(allowance)}))
    for account_id in account_ids:
        ledger.open_account("hot", account_id=account_id)


def pool_available(ledger: Ledger, account_id: str) -> Credits:
    return ledger.balance(account_id).pools[POOL].available


def first_column(ledger: Ledger, sql: str, **params: Any) -> list[Any]:
    """The first column of what `sql` answers."""
    with ledger.engine.connect() as connection:
        return list(connection.execute(text(sql), params).scalars())


def driver_statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The statements the hot path runs from now on (in the list returned): each execution
    or executemany once."""
    ran: list[str] = []
    run, many = hot._run, hot.executemany

    def recording(connection: Any, sql: str, *rest: Any) -> Any:
        ran.append(sql)
        return run(connection, sql, *rest)

    def recording_many(connection: Any, sql: str, rows: Any) -> Any:
        if len(rows) != 1 or not hot.is_postgres(connection):  # else one execution, recorded
            ran.append(sql)
        return many(connection, sql, rows)

    monkeypatch.setattr(hot, "_run", recording)
    monkeypatch.setattr(hot, "executemany", recording_many)
    return ran
