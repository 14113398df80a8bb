"""The command line, run in-process on both databases."""

from __future__ import annotations

from typer.testing import CliRunner

from creditbook.cli import app

runner = CliRunner()


def test_demo_plays_the_month_and_verifies(database_url: str) -> None:
    result = runner.invoke(app, ["demo", "--database-url", database_url])
    assert result.exit_code == 0, result.output
    assert "116 credits, 20 results" in " ".join(result.output.split())
    assert "verify: ok" in result.output
    for figure in ("82", "10200", "Monthly credit reset", "get_phone_numbers"):
        assert figure in result.output


def test_verify_tick_and_migrate(database_url: str) -> None:
    for command in ("migrate", "tick", "verify"):
        result = runner.invoke(app, [command, "--database-url", database_url])
        assert result.exit_code == 0, result.output
    assert "0 accounts" in result.output
