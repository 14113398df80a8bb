"""The local-only commands, on both databases."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.cli.conftest import invoke


def test_demo_plays_the_month_and_verifies(database_url: str) -> None:
    result = invoke("demo", "--database-url", database_url)
    assert result.exit_code == 0, result.output
    assert "116 credits, 20 results" in " ".join(result.output.split())
    assert "verify: ok" in result.output
    for figure in ("82", "10200", "Monthly credit reset", "get_phone_numbers"):
        assert figure in result.output


def test_demo_without_a_database_plays_on_a_temporary_one(
    tmp_path: Path, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The user's own database (here: the environment's and the working directory's
    default) is never written to by a plain `creditbook demo`."""
    own = tmp_path / "own.db"
    monkeypatch.setenv("CREDITBOOK_DATABASE_URL", f"sqlite:///{own}")
    result = invoke("demo")
    assert result.exit_code == 0, result.output
    assert "fresh temporary database" in result.output and "verify: ok" in result.output
    assert not own.exists() and not (tmp_path / "creditbook.db").exists()


def test_verify_tick_and_migrate(database_url: str) -> None:
    for command in ("migrate", "tick", "verify"):
        result = invoke(command, "--database-url", database_url)
        assert result.exit_code == 0, result.output
    assert "0 accounts" in result.output


def test_the_environment_names_the_database(database_url: str) -> None:
    result = invoke("verify", "--json", env={"CREDITBOOK_DATABASE_URL": database_url})
    assert result.exit_code == 0, result.stderr
    assert '"ok": true' in result.stdout


def test_an_unreachable_database_exits_7() -> None:
    url = "postgresql://nobody@127.0.0.1:1/nothing"
    result = invoke("verify", "--database-url", url)
    assert result.exit_code == 7, result.output
    assert result.stderr.startswith("error: connection_error: ")
