"""What the database holds, to prove that a request wrote nothing (or wrote one thing once)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select

from creditbook import Ledger
from creditbook.store import schema


@dataclass(frozen=True)
class Snapshot:
    """Row counts of every table, credits of every account per pool, transactions per account.

    Two equal snapshots mean nothing was written.
    """

    rows: dict[str, int]
    available: dict[str, dict[str, Decimal]]
    held: dict[str, dict[str, Decimal]]
    transactions: dict[str, int]

    def minus(self, before: Snapshot) -> dict[str, object]:
        """What changed since `before`, account ids left out: row counts per table and
        credits per pool summed over accounts (so that twin accounts compare)."""

        def totals(by_account: dict[str, dict[str, Decimal]]) -> Counter[str]:
            total: Counter[str] = Counter()
            for pools in by_account.values():
                for pool, value in pools.items():
                    total[pool] += value  # type: ignore[assignment]
            return total

        rows = {name: count - before.rows.get(name, 0) for name, count in self.rows.items()}
        available = totals(self.available)
        available.subtract(totals(before.available))
        held = totals(self.held)
        held.subtract(totals(before.held))
        return {
            "rows": {name: change for name, change in rows.items() if change},
            "available": {pool: change for pool, change in available.items() if change},
            "held": {pool: change for pool, change in held.items() if change},
        }


def snapshot(ledger: Ledger) -> Snapshot:
    with ledger.engine.connect() as connection:
        rows = {
            table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in schema.metadata.sorted_tables
        }
        transfers = schema.transfers.c
        transactions = {
            account_id: count
            for account_id, count in connection.execute(
                select(transfers.account_id, func.count()).group_by(transfers.account_id)
            )
        }
    available: dict[str, dict[str, Decimal]] = {}
    held: dict[str, dict[str, Decimal]] = {}
    for account in ledger.list_accounts(limit=1000):
        balance = ledger.balance(account.account_id)
        available[account.account_id] = {
            pool: p.available.to_decimal() for pool, p in balance.pools.items()
        }
        held[account.account_id] = {pool: p.held.to_decimal() for pool, p in balance.pools.items()}
    return Snapshot(rows, available, held, transactions)
