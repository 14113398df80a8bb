"""The local-only commands, on both databases."""

from __future__ import annotations

from tests.cli.conftest import invoke


def test_demo_plays_the_month_and_verifies(database_url: str) -> None:
    result = invoke("demo", "--database-url", database_url)
    assert result.exit_code == 0, result.output
    assert "116 credits, 20 results" in " ".join(result.output.split())
    assert "verify: ok" in result.output
    for figure in ("82", "10200", "Monthly credit reset", "get_phone_numbers"):
        assert figure in result.output


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
