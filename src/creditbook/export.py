"""CSV for spreadsheets: one column order and one cell rule for every CSV creditbook writes.

The CLI's `creditbook export` and the dashboard's CSV download both write their rows
through `csv_lines`, so a file from either opens the same way and neither can carry a
formula: a text cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return — which
a spreadsheet would run — is prefixed with `'` (OWASP's advice against CSV injection).
Numbers are never touched: `-2.5` stays a number.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import simplejson

from creditbook.domain.amounts import Credits
from creditbook.domain.errors import invariant
from creditbook.engine.results import Transaction

# An account's history, in the order both exports write it.
TRANSACTION_COLUMNS = (
    "transaction_id",
    "created_at",
    "type",
    "pool",
    "amount",
    "description",
    "function",
    "run_id",
    "user_id",
    "linked_transaction_id",
)
# A spreadsheet runs a cell that starts with one of these as a formula.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# RFC 4180 ends CSV lines with CR LF.
LINE_END = "\r\n"


def csv_text(value: str) -> str:
    """Text that a spreadsheet shows as text: a leading formula character is quoted away."""
    return f"'{value}" if value.startswith(FORMULA_PREFIXES) else value


def _decimal(value: Decimal) -> str:
    """Exact, without trailing zeros or an exponent: `-2.5`, `100`."""
    return f"{value.normalize():f}"


def csv_cell(value: Any) -> str:
    """One cell: blanks for None, exact amounts, RFC 3339 UTC instants, JSON for nested
    values, and text made safe with `csv_text`."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Credits):
        return _decimal(value.to_decimal())
    if isinstance(value, Decimal):
        return _decimal(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict | list):
        return csv_text(simplejson.dumps(value, use_decimal=True, ensure_ascii=False))
    invariant(isinstance(value, str), f"no CSV cell for {type(value).__name__}")
    return csv_text(value)


def csv_row(record: Mapping[str, Any], columns: Sequence[str]) -> list[str]:
    """A record's cells in column order (a missing field is a blank cell)."""
    return [csv_cell(record.get(name)) for name in columns]


def csv_lines(records: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> Iterator[str]:
    """The header, then one line per record, each as soon as its record comes: a caller
    streams a history of any length with one row in memory."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=LINE_END)

    def flush() -> str:
        line = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return line

    writer.writerow(columns)
    yield flush()
    for record in records:
        writer.writerow(csv_row(record, columns))
        yield flush()


def transaction_record(transaction: Transaction) -> dict[str, Any]:
    """An engine transaction as the fields of `TRANSACTION_COLUMNS`."""
    return {
        "transaction_id": transaction.transaction_id,
        "created_at": transaction.created_at,
        "type": transaction.type.value,
        "pool": transaction.pool,
        "amount": transaction.amount,
        "description": transaction.description,
        "function": transaction.function,
        "run_id": transaction.run_id,
        "user_id": transaction.user_id,
        "linked_transaction_id": transaction.linked_transaction_id,
    }
