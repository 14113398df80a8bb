"""The local-only commands, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.cli.conftest import invoke

from creditbook import Ledger, ManualClock
from creditbook.cli.admin import DEMO_ACCOUNTS, _load_demo


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


@pytest.mark.parametrize(
    "now",
    [
        datetime(2026, 9, 14, 16, 30, tzinfo=UTC),
        datetime(2027, 3, 3, 0, 5, tzinfo=UTC),  # the month starts on 30 January
    ],
)
def test_serve_demo_plays_a_month_that_ends_by_now(database_url: str, now: datetime) -> None:
    """`serve --demo` runs on the wall clock, so its month is recent: the dashboard shows
    spend over the last days and a run-out date, and nothing lies in the future."""
    ledger = Ledger.open(database_url, clock=ManualClock(now))
    try:
        _load_demo(ledger, database_url, "127.0.0.1", 8000)
        scraper, leads = DEMO_ACCOUNTS
        today = now.date()
        week = ledger.stats(scraper, today - timedelta(days=6), today)
        assert week.total.is_positive()
        forecast = {f.window_days: f.runs_out_on for f in week.forecast}
        assert forecast[7] is not None and forecast[7] > today
        assert ledger.stats(scraper, today - timedelta(days=29), today).total.is_positive()
        for account_id in (scraper, leads):
            history = ledger.transactions(account_id, limit=100).data
            assert history and max(t.created_at for t in history) <= now
            assert min(t.created_at for t in history) >= now - timedelta(days=34)
        assert ledger.verify().ok
    finally:
        ledger.close()


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
