"""Verification: replay the entries and compare them with every materialised figure."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Connection

from creditbook.domain.errors import NotFoundError
from creditbook.domain.grants import GrantSource, TransactionType
from creditbook.domain.periods import local_date
from creditbook.engine.reports.balance import SPEND_TYPES
from creditbook.engine.results import VerifyReport
from creditbook.store.queries.reports import verify as queries
from creditbook.store.queries.reports.verify import ROLLUP_DIMENSIONS

CHARGE = TransactionType.DEDUCTION.value
REFUND = TransactionType.REFUND.value
# (account, local day, *ROLLUP_DIMENSIONS): what a daily rollup row is keyed by.
RollupKey = tuple[Any, ...]


def verify(connection: Connection, account_id: str | None) -> VerifyReport:
    """Replay the entries and compare them with every materialised figure, for one account
    or (None) for all."""
    differences: list[str] = []
    for row in connection.execute(queries.unbalanced_transfers(account_id)):
        differences.append(f"{row.account_id} transfer #{row.seq}: entries sum to {row.total}")
    total = connection.execute(queries.entries_total(account_id)).scalar_one()
    if int(total) != 0:
        differences.append(f"all entries sum to {total}, not 0")

    differences += _verify_books(connection, account_id)
    differences += _verify_transfers(connection, account_id)
    differences += _verify_rollups(connection, account_id)
    differences += _verify_runs(connection, account_id)
    differences += [
        f"{row.account_id} events: {row.count} numbered up to {row.highest}, "
        f"the account's last event number is {row.last_event_seq}"
        for row in connection.execute(queries.event_numbering(account_id))
    ]
    differences += [
        f"{row.account_id} purchase {row.payment_id}: bought {row.credits} millicredits, "
        + ("no top-up grant" if row.granted is None else f"granted {row.granted}")
        for row in connection.execute(queries.unmatched_purchases(account_id))
    ]

    counts = [connection.execute(count).scalar_one() for count in queries.row_counts(account_id)]
    if account_id is not None and counts[0] == 0:
        raise NotFoundError("account", account_id)
    return VerifyReport(differences, int(counts[0]), int(counts[1]), int(counts[2]))


def _verify_books(connection: Connection, account_id: str | None) -> list[str]:
    """Each grant's and hold's `remaining` against its book; no grant but the overdraft
    below zero."""
    differences = []
    for book in ("grant", "hold"):
        for row in connection.execute(queries.book_mismatches(book, account_id)):
            differences.append(
                f"{row.account_id} {book} {row[1]}: stored {row.remaining}, replayed {row.total}"
            )
    overdraft = GrantSource.OVERDRAFT.value
    for negative in connection.execute(queries.negative_grants(account_id, overdraft)):
        differences.append(f"{negative.account_id} grant {negative.grant_id} is below zero")
    return differences


def _verify_transfers(connection: Connection, account_id: str | None) -> list[str]:
    """Each transfer's amount against its customer books; each charge's `refunded` against
    its refunds."""
    differences = []
    for row in connection.execute(queries.transfer_amount_mismatches(account_id)):
        differences.append(
            f"{row.account_id} transfer #{row.seq}: amount {row.amount}, entries {row.net}"
        )
    for row in connection.execute(queries.refunded_mismatches(account_id, CHARGE, REFUND)):
        differences.append(
            f"{row.account_id} charge #{row.seq}: refunded {row.refunded}, replayed {row.total}"
        )
    return differences


def _verify_rollups(connection: Connection, account_id: str | None) -> list[str]:
    """The daily rollups against the spend transfers replayed into local days."""
    replayed = _replayed_rollups(connection, account_id)
    stored = {
        (row.account_id, row.day, *[getattr(row, name) for name in ROLLUP_DIMENSIONS]): [
            row.amount,
            row.quantity,
            row.charges,
        ]
        for row in connection.execute(queries.rollups(account_id))
    }
    differences = []
    for key in sorted(set(stored) | set(replayed), key=str):
        if stored.get(key, [0, 0, 0]) != replayed.get(key, [0, 0, 0]):
            differences.append(
                f"rollup {key}: stored {stored.get(key)}, replayed {replayed.get(key)}"
            )
    return differences


def _replayed_rollups(
    connection: Connection, account_id: str | None
) -> defaultdict[RollupKey, list[int]]:
    """[amount, quantity, charges] per (account, local day, dimensions...), replayed."""
    rows = connection.execute(queries.account_timezones(account_id)).all()
    timezones: dict[str, str] = dict(rows)
    replayed: defaultdict[RollupKey, list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in connection.execute(queries.spend_transfers(account_id, SPEND_TYPES)):
        day = local_date(row.created_at, timezones[row.account_id])
        key = (row.account_id, day, *[getattr(row, name) for name in ROLLUP_DIMENSIONS])
        values = replayed[key]
        values[0] += int(row.spent)
        values[1] += row.quantity
        values[2] += 1 if row.type == CHARGE else 0
    return replayed


def _verify_runs(connection: Connection, account_id: str | None) -> list[str]:
    """Each run's lines against its charges, and its `charged` against its lines."""
    billed = {
        (row.account_id, row.run_id, row.function): -int(row.total)
        for row in connection.execute(queries.billed_by_run_function(account_id, CHARGE))
    }
    recorded: dict[tuple[str, str, str], int] = {}
    per_run: dict[tuple[str, str], int] = defaultdict(int)
    for row in connection.execute(queries.run_lines(account_id)):
        function = row.name if row.kind == "function" else f"filter:{row.name}"
        if row.amount:
            recorded[(row.account_id, row.run_id, function)] = row.amount
        per_run[(row.account_id, row.run_id)] += row.amount
    differences = []
    for key in sorted(set(billed) | set(recorded)):
        if billed.get(key, 0) != recorded.get(key, 0):
            differences.append(
                f"run line {key}: recorded {recorded.get(key)}, billed {billed.get(key)}"
            )
    for row in connection.execute(queries.run_charges(account_id)):
        charged = per_run.get((row.account_id, row.run_id), 0)
        if charged != row.charged:
            differences.append(f"run {row.run_id}: charged {row.charged}, lines {charged}")
    return differences
