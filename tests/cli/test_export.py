"""Export streams transactions (both modes) and entries (local mode) as CSV or JSON Lines."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from tests.cli.conftest import Mode, one_error_line

from creditbook import ChargeRequest, Credits, Ledger
from creditbook.cli import local
from creditbook.export import TRANSACTION_COLUMNS

CHARGES = 130  # more than one page of 100


@pytest.fixture
def busy(mode: Mode, acme: str) -> str:
    """`acme` with a bonus and 130 charges: 132 transactions with the first allowance."""
    ledger = Ledger.open(mode.database_url)
    try:
        ledger.grant(acme, Credits.of(1000), source="top_up")
        requests = [
            ChargeRequest(account_id=acme, amount=Credits.of("0.5"), description=f"call {i}")
            for i in range(CHARGES)
        ]
        ledger.charge_batch(requests)
    finally:
        ledger.close()
    return acme


def entry_total(database_url: str) -> int:
    ledger = Ledger.open(database_url)
    try:
        return ledger.verify().entries
    finally:
        ledger.close()


def test_transactions_as_csv_and_jsonl(mode: Mode, busy: str, tmp_path: Path) -> None:
    out = tmp_path / "history.csv"
    result = mode.run("export", "transactions", busy, "--output", str(out))
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == CHARGES + 2
    assert rows[0]["type"] == "DEDUCTION" and rows[0]["amount"] == "-0.5"
    assert rows[-1]["type"] == "MONTHLY_RESET"
    assert f"exported {CHARGES + 2} transactions as csv" in result.stderr
    assert "exporting transactions" in result.stderr  # the progress bar, on stderr
    # its total is known before the first row, in both modes
    assert f"{CHARGES + 2}/{CHARGES + 2}" in result.stderr
    streamed = mode.run("export", "transactions", busy, "--format", "jsonl")
    assert streamed.exit_code == 0, streamed.stderr
    lines = [json.loads(line) for line in streamed.stdout.splitlines()]
    assert len(lines) == CHARGES + 2
    assert lines[0]["amount"] == -0.5 and lines[0]["description"] == f"call {CHARGES - 1}"
    only = mode.run(
        "export", "transactions", busy, "-o", str(tmp_path / "t.jsonl"), "--type", "TOP_UP"
    )
    assert only.exit_code == 0, only.stderr
    assert len((tmp_path / "t.jsonl").read_text().splitlines()) == 1


def test_csv_export_defuses_formulas_like_the_dashboard(
    mode: Mode, acme: str, tmp_path: Path
) -> None:
    ledger = Ledger.open(mode.database_url)
    try:
        ledger.charge(
            ChargeRequest(account_id=acme, amount=Credits.of(2), description='=HYPERLINK("x")')
        )
    finally:
        ledger.close()
    out = tmp_path / "history.csv"
    assert mode.run("export", "transactions", acme, "-o", str(out)).exit_code == 0
    text = out.read_bytes().decode()
    assert text.startswith(",".join(TRANSACTION_COLUMNS) + "\r\n")
    first = next(csv.DictReader(io.StringIO(text)))
    assert first["description"] == '\'=HYPERLINK("x")' and first["amount"] == "-2"


def test_entries_stream_in_batches(
    mode: Mode, busy: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if mode.name == "remote":
        result = mode.run("export", "entries", busy)
        assert result.exit_code == 2
        assert "local mode" in one_error_line(result)
        return
    monkeypatch.setattr(local, "ENTRIES_BATCH", 7)  # many keyset batches
    total = entry_total(mode.database_url)
    out = tmp_path / "entries.jsonl"
    result = mode.run("export", "entries", "--output", str(out))
    assert result.exit_code == 0, result.stderr
    entries = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(entries) == total
    keys = [(e["account_id"], e["seq"], e["line"]) for e in entries]
    assert keys == sorted(keys) and len(set(keys)) == total
    assert sum(Credits.of(str(e["amount"])).millicredits for e in entries) == 0  # double entry
    as_csv = mode.run("export", "entries", busy, "--format", "csv")
    assert as_csv.exit_code == 0, as_csv.stderr
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert len(rows) == total and set(rows[0]) == set(local.ENTRY_FIELDS)
    missing = mode.run("export", "entries", "nobody")
    assert missing.exit_code == 3
