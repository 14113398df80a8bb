"""Broken invariants raise InvariantError, also under `python -O` (which drops asserts): a
transfer whose entries do not sum to zero is refused before anything is written."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

# Opens a fresh SQLite ledger, locks its account as an operation would, and posts a transfer
# that creates one credit from nothing.
UNBALANCED_TRANSFER = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime

    from sqlalchemy import select, update

    from creditbook import Credits, Ledger, ManualClock, Plan
    from creditbook.domain.errors import InvariantError
    from creditbook.domain.grants import TransactionType
    from creditbook.engine.account.lines import Line
    from creditbook.engine.account.state import AccountTx
    from creditbook.store import schema
    from creditbook.store.database import make_engine, migrate

    engine = make_engine("sqlite:///" + sys.argv[1])
    migrate(engine)
    clock = ManualClock(datetime(2025, 1, 1, tzinfo=UTC))
    ledger = Ledger(engine, clock)
    plan = Plan("plan", allowances={"credits": Credits.of(100)})
    ledger.put_plan(plan)
    ledger.open_account("plan", account_id="acme")
    with engine.begin() as connection:
        # Lock the row and reserve a transfer number, as every write does.
        accounts = schema.accounts
        acme = accounts.c.account_id == "acme"
        connection.execute(
            update(accounts).where(acme).values(last_seq=accounts.c.last_seq + 1)
        )
        row = connection.execute(select(accounts).where(acme)).one()
        tx = AccountTx(connection, row, plan, clock.now())
        try:
            tx.post(
                TransactionType.ADJUSTMENT,
                "credits",
                [Line("issued", -1000), Line("spent", 999)],
                description="unbalanced",
            )
        except InvariantError as error:
            print(f"optimize={sys.flags.optimize} InvariantError: {error}")
        else:
            print(f"optimize={sys.flags.optimize} posted")
    """
)


def test_an_unbalanced_transfer_is_refused_under_python_O(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-O", "-c", UNBALANCED_TRANSFER, str(tmp_path / "ledger.db")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "optimize=1 InvariantError: entries must sum to zero"
