"""The one CSV writer of the CLI export and the dashboard download."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from creditbook import Credits, TransactionType
from creditbook.engine.results import Transaction
from creditbook.export import TRANSACTION_COLUMNS, csv_cell, csv_lines, transaction_record


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1+1", "'+1+1"),
        ("-1+1", "'-1+1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("plain text", "plain text"),
        ("a=b", "a=b"),
        ("", ""),
        (None, ""),
        (Decimal("-2.50"), "-2.5"),
        (Decimal("100.000"), "100"),
        (Credits.of("-0.5"), "-0.5"),
        (-3, "-3"),
        (True, "true"),
        (datetime(2026, 5, 1, 12, 30, tzinfo=UTC), "2026-05-01T12:30:00Z"),
        (date(2026, 5, 1), "2026-05-01"),
        ({"a": Decimal("1.5")}, '{"a": 1.5}'),
    ],
)
def test_cells_are_exact_and_never_formulas(value: object, cell: str) -> None:
    assert csv_cell(value) == cell


def test_lines_stream_a_header_then_rows_in_the_shared_order() -> None:
    transaction = Transaction(
        "t1",
        TransactionType.DEDUCTION,
        "credits",
        Credits.of("-2.5"),
        "=cmd|' /C calc'!A0",
        datetime(2026, 5, 1, tzinfo=UTC),
        "base",
        "r1",
        "@alice",
        None,
    )
    lines = list(csv_lines([transaction_record(transaction)], TRANSACTION_COLUMNS))
    assert len(lines) == 2 and all(line.endswith("\r\n") for line in lines)
    (row,) = csv.DictReader(io.StringIO("".join(lines)))
    assert tuple(row) == TRANSACTION_COLUMNS
    assert row["amount"] == "-2.5" and row["created_at"] == "2026-05-01T00:00:00Z"
    assert row["description"] == "'=cmd|' /C calc'!A0" and row["user_id"] == "'@alice"
    assert row["linked_transaction_id"] == ""
