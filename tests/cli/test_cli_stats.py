"""Stats: totals, tables and a terminal bar chart of daily spend."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

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


def test_the_default_range_ends_today_in_the_accounts_time_zone(mode: Mode, acme: str) -> None:
    """A day ahead of UTC (Kiritimati, UTC+14) or behind it (Pago Pago, UTC−11) for much
    of every UTC day: whichever side, the range ends on the account's local today."""
    for account_id, timezone in (("east", "Pacific/Kiritimati"), ("west", "Pacific/Pago_Pago")):
        mode.ok(
            "accounts", "create", "--plan", "starter", "--id", account_id, "--timezone", timezone
        )
        before = datetime.now(ZoneInfo(timezone)).date()
        found = mode.json("stats", account_id)
        after = datetime.now(ZoneInfo(timezone)).date()
        assert found["end"] in (before.isoformat(), after.isoformat()), timezone
        first = date.fromisoformat(found["end"]) - timedelta(days=29)
        assert found["start"] == first.isoformat()


def test_charges_without_a_function_are_the_other_row_of_by_function(mode: Mode, acme: str) -> None:
    mode.ok(
        "charge", acme, "--rate-card", "maps", "--function", "get_phone_numbers", "--quantity", "3"
    )
    mode.ok("charge", acme, "2", "--module", "api")  # raw credits: no function
    mode.ok("charge", acme, "0.5")
    people = mode.ok("stats", acme).stdout
    section = people[people.index("by function") : people.index("by module")]
    rows = {
        cells[0]: Decimal(cells[1])
        for line in section.splitlines()
        if len(cells := [c.strip() for c in line.split("│")[1:-1]]) == 3
        and cells[1].replace(".", "").isdigit()
    }
    assert rows == {"get_phone_numbers": 18, "Other": Decimal("2.5")}
    assert sum(rows.values()) == Decimal(str(mode.json("stats", acme)["total"]))
