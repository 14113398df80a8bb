"""Pricing as code: validate, diff against what is live, apply once."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import Mode, one_error_line

PRICING_YAML = """\
plans:
  starter:
    name: Starter
    allowances: {credits: 100}
    slots: 2
  daily:
    interval: daily
    allowances: {credits: 10}
rate_cards:
  maps:
    credits_per_row: 4
    base_label: Export Listings
    module: scraper
    functions:
      get_phone_numbers: {credits_per_success: 6}
"""


def statuses(report: dict[str, object]) -> dict[str, str]:
    changes = report["changes"]
    assert isinstance(changes, list)
    return {f"{c['kind']}:{c['id']}": c["status"] for c in changes}


def test_dry_run_writes_nothing_and_apply_is_idempotent(mode: Mode, pricing_file: Path) -> None:
    dry = mode.json("apply", str(pricing_file), "--dry-run")
    assert dry["dry_run"] is True
    assert statuses(dry) == {
        "plan:starter": "added",
        "plan:daily": "added",
        "rate_card:maps": "added",
    }
    assert mode.json("apply", str(pricing_file), "--dry-run")["summary"]["added"] == 3
    applied = mode.json("apply", str(pricing_file))
    assert applied["summary"] == {"added": 3, "changed": 0, "unchanged": 0}
    again = mode.json("apply", str(pricing_file))
    assert again["summary"] == {"added": 0, "changed": 0, "unchanged": 3}
    people = mode.ok("apply", str(pricing_file)).stdout
    assert "0 added, 0 changed, 3 unchanged" in people


def test_dry_run_shows_field_level_changes(mode: Mode, pricing_file: Path) -> None:
    mode.ok("apply", str(pricing_file))
    text = pricing_file.read_text()
    pricing_file.write_text(
        text.replace("allowances = { credits = 100 }", "allowances = { credits = 250 }").replace(
            "credits_per_success = 6", "credits_per_success = 6.5"
        )
        + "\n[plans.team]\nallowances = { credits = 1000 }\n"
    )
    dry = mode.json("apply", str(pricing_file), "--dry-run")
    assert statuses(dry) == {
        "plan:starter": "changed",
        "plan:daily": "unchanged",
        "plan:team": "added",
        "rate_card:maps": "changed",
    }
    starter = next(c for c in dry["changes"] if c["id"] == "starter")
    assert starter["fields"] == [{"field": "allowances.credits", "before": 100, "after": 250}]
    card = next(c for c in dry["changes"] if c["id"] == "maps")
    assert card["fields"] == [
        {"field": "functions.get_phone_numbers.credits_per_success", "before": 6, "after": 6.5}
    ]
    people = mode.ok("apply", str(pricing_file), "--dry-run").stdout
    assert "allowances.credits: 100 → 250" in people and "nothing written" in people
    mode.ok("apply", str(pricing_file))
    assert mode.json("apply", str(pricing_file))["summary"]["unchanged"] == 4


def test_yaml_declares_the_same_pricing(mode: Mode, pricing_file: Path, tmp_path: Path) -> None:
    mode.ok("apply", str(pricing_file))
    yaml_file = tmp_path / "pricing.yaml"
    yaml_file.write_text(PRICING_YAML)
    report = mode.json("apply", str(yaml_file), "--dry-run")
    assert report["summary"] == {"added": 0, "changed": 0, "unchanged": 3}


def test_invalid_files_are_refused_whole(mode: Mode, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[plans.starter]\nallowances = { credits = "lots" }\nslotz = 1\n'
        '[plans."Bad Id"]\n[rate_cards.maps]\nbase_label = "no rate"\n'
    )
    result = mode.run("apply", str(bad))
    assert result.exit_code == 2
    line = one_error_line(result)
    assert line.startswith("error: validation_error: ")
    for problem in (
        "plans.starter.allowances.credits",
        "plans.starter.slotz",
        "plans.Bad Id: not a valid id",
        "rate_cards.maps.credits_per_row",
    ):
        assert problem in line
    assert mode.run("apply", str(tmp_path / "missing.toml")).exit_code == 2  # file_error
    broken = tmp_path / "broken.yaml"
    broken.write_text("plans: [unclosed\n")
    assert mode.run("apply", str(broken)).exit_code == 2
    currency = tmp_path / "currency.toml"
    currency.write_text("[plans.p]\nprices = { usd = 1 }\n")
    assert "currency" in one_error_line(mode.run("apply", str(currency)))
