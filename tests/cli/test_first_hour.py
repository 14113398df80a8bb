"""The first hour with the CLI, as a newcomer types it: amounts as written, a rate card's
base rate, files and databases named when they are missing."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import Mode, invoke, one_error_line


def test_a_negative_amount_is_typed_as_it_reads(mode: Mode, acme: str) -> None:
    granted = mode.json("grant", acme, "-5", "--source", "adjustment")
    assert granted["amount"] == -5
    assert mode.json("balance", acme)["pools"]["credits"]["available"] == 95


def test_a_charge_without_a_function_is_the_base_rate(mode: Mode, acme: str) -> None:
    charged = mode.json("charge", acme, "--rate-card", "maps", "--quantity", "3")
    assert (charged["function"], charged["amount"]) == ("base", 12)  # 3 rows at 4


def test_a_misspelt_rate_card_is_not_found(mode: Mode, acme: str) -> None:
    result = mode.run("charge", acme, "--rate-card", "mapz", "--quantity", "3")
    assert result.exit_code == 3
    assert one_error_line(result).startswith("error: not_found: rate card not found: mapz")


def test_an_amount_is_shown_as_written(mode: Mode, acme: str) -> None:
    result = mode.run("charge", acme, "1.0001")
    assert result.exit_code == 2
    line = one_error_line(result)
    assert "1.0001 is finer than a millicredit" in line and "Decimal" not in line


def test_a_missing_pricing_file_is_a_file_error(database_url: str) -> None:
    result = invoke("apply", "nothere.toml", "--database-url", database_url)
    assert result.exit_code == 2
    assert one_error_line(result).startswith("error: file_error: cannot read nothere.toml")


def test_migrate_says_what_it_did(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    created = invoke("migrate", "--database-url", url)
    assert created.exit_code == 0, created.output
    assert created.stdout.startswith(f"created the schema in {url}")
    again = invoke("migrate", "--database-url", url)
    assert again.stdout.startswith(f"the schema of {url} is up to date")
