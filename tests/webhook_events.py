"""Events for webhook tests, written as the ledger's outbox writes them (rows in `events`,
numbered after the account's last event, which they become), under made-up account ids (the
events table has no foreign key) or real ones."""

from __future__ import annotations

import itertools
from datetime import datetime

from sqlalchemy import Engine, func, select, update

from creditbook.store import schema
from creditbook.store.queries.events import insert_events

_numbers = itertools.count(1)


def add_events(
    engine: Engine,
    account_id: str,
    count: int,
    at: datetime,
    event_type: str = "credits.granted",
) -> list[str]:
    """`count` new events of one account, numbered after its last; their ids."""
    with engine.begin() as connection:
        last = connection.execute(
            select(func.max(schema.events.c.seq)).where(schema.events.c.account_id == account_id)
        ).scalar_one()
        accounts = schema.accounts.c
        numbered = connection.execute(
            select(accounts.last_event_seq).where(accounts.account_id == account_id)
        ).scalar()
        first = max(last or 0, numbered or 0) + 1
        rows = [
            {
                "account_id": account_id,
                "seq": seq,
                "event_id": f"evt_test{next(_numbers):06d}{seq:04d}",
                "type": event_type,
                "pool": "credits",
                "data": {"amount": 1500 * seq, "source": "bonus"},
                "transfer_id": "",
                "run_id": "",
                "created_at": at,
            }
            for seq in range(first, first + count)
        ]
        insert_events(connection, rows)
        connection.execute(
            update(schema.accounts)
            .where(accounts.account_id == account_id)
            .values(last_event_seq=first + count - 1)
        )
    return [str(row["event_id"]) for row in rows]
