"""Stats: totals, tables and a terminal bar chart of daily spend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.cli.conftest import Mode


def test_stats_chart_and_tables(mode: Mode, acme: str) -> None:
    mode.ok(
        "charge", acme, "--rate-card", "maps", "--function", "get_phone_numbers", "--quantity", "3"
    )
    mode.ok("charge", acme, "2", "--module", "api", "--user-id", "u1")
    today = datetime.now(UTC).date()
    start = (today - timedelta(days=6)).isoformat()
    found = mode.json("stats", acme, "--from", start, "--to", today.isoformat())
    assert found["total"] == 20
    assert {t["key"]: t["credits"] for t in found["by_module"]} == {"scraper": 18, "api": 2}
    people = mode.ok("stats", acme, "--from", start, "--to", today.isoformat()).stdout
    lines = people.splitlines()
    assert "20 credits" in lines[0]
    bars = [line for line in lines if line[:10].count("-") == 2 and line[:4].isdigit()]
    assert len(bars) == 7  # every day of the range, empty ones too
    assert "█" * 40 in bars[-1] and bars[-1].rstrip().endswith("20")
    assert all(bar.rstrip().endswith(" 0") for bar in bars[:-1])
    assert "by function" in people and "get_phone_numbers" in people and "by user" in people
    assert "█" in mode.ok("stats", acme).stdout  # the last 30 days by default


def test_long_ranges_chart_buckets(mode: Mode, acme: str) -> None:
    mode.ok("charge", acme, "5")
    today = datetime.now(UTC).date()
    people = mode.ok(
        "stats", acme, "--from", (today - timedelta(days=400)).isoformat(), "--group-by", "month"
    ).stdout
    assert people.count("█") >= 40
    assert mode.run("stats", acme, "--group-by", "year").exit_code == 2
    assert mode.run("stats", acme, "--from", "2030-01-02", "--to", "2030-01-01").exit_code == 2
