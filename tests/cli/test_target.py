"""Choosing the target: options, environment, profiles; local-only commands; init."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from tests.cli.conftest import Server, invoke, one_error_line

from creditbook.cli.target import Target, TargetOptions, resolve


def write_config(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_resolution_order(isolated: Path, monkeypatch: object) -> None:
    import pytest

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    write_config(
        isolated,
        'default_profile = "prod"\n'
        '[profiles.prod]\nbase_url = "https://credits.example"\napi_key = "cb_prod"\n'
        'account_id = "acme"\n'
        '[profiles.local]\ndatabase_url = "sqlite:///local.db"\n',
    )
    assert resolve(TargetOptions()) == Target(
        base_url="https://credits.example", api_key="cb_prod", account="acme", source="profile prod"
    )
    assert resolve(TargetOptions(profile="local")).database_url == "sqlite:///local.db"
    monkeypatch.setenv("CREDITBOOK_DATABASE_URL", "sqlite:///env.db")
    assert resolve(TargetOptions()).database_url == "sqlite:///env.db"
    monkeypatch.setenv("CREDITBOOK_BASE_URL", "https://env.example")
    assert resolve(TargetOptions()).base_url == "https://env.example"
    assert resolve(TargetOptions(profile="prod")).api_key == "cb_prod"
    monkeypatch.setenv("CREDITBOOK_API_KEY", "cb_env")
    assert resolve(TargetOptions(profile="prod")).api_key == "cb_env"
    explicit = resolve(TargetOptions(database_url="sqlite:///x.db", base_url="https://y"))
    assert explicit.database_url == "sqlite:///x.db" and not explicit.is_remote
    monkeypatch.delenv("CREDITBOOK_API_KEY")
    remote = resolve(TargetOptions(base_url="https://y", profile="prod"))
    assert remote.base_url == "https://y" and remote.api_key == "cb_prod"


def test_no_config_means_the_sqlite_default() -> None:
    assert resolve(TargetOptions()).database_url == "sqlite:///creditbook.db"


def test_profiles_reach_a_server(server: Server, isolated: Path, pricing_file: Path) -> None:
    write_config(
        isolated,
        f'[profiles.staging]\nbase_url = "{server.url}"\napi_key = "{server.operator_key}"\n',
    )
    result = invoke("apply", str(pricing_file), "--profile", "staging", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["summary"]["added"] == 3
    missing = invoke("balance", "acme", "--profile", "nope")
    assert missing.exit_code == 2
    assert "no profile 'nope'" in one_error_line(missing)


def test_bad_profiles_are_usage_errors(isolated: Path) -> None:
    write_config(isolated, '[profiles.both]\nbase_url = "http://x"\ndatabase_url = "sqlite://"\n')
    assert "exactly one of" in one_error_line(invoke("balance", "a", "--profile", "both"))
    write_config(isolated, "this is not toml")
    assert invoke("balance", "a").exit_code == 2


def test_local_only_commands_refuse_a_server(server: Server, isolated: Path) -> None:
    for args in (("tick",), ("migrate",), ("demo",), ("serve",), ("init",)):
        result = invoke(*args, "--base-url", server.url) if args != ("tick",) else None
        if result is None:
            write_config(isolated, f'[profiles.s]\nbase_url = "{server.url}"\n')
            result = invoke("tick", "--profile", "s")
        assert result.exit_code == 2, (args, result.output)
        assert "works on a database only" in one_error_line(result)


def test_init_writes_a_database_pricing_and_a_profile(isolated: Path, tmp_path: Path) -> None:
    result = invoke("init", "--database-url", "sqlite:///books.db", "--operator-key", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    database = f"sqlite:///{tmp_path / 'books.db'}"
    assert report["database_url"] == database
    assert report["operator_key"].startswith("cb_")
    assert (tmp_path / "books.db").exists()
    config = tomllib.loads(isolated.read_text())
    assert config == {"default_profile": "local", "profiles": {"local": {"database_url": database}}}
    # The starter pricing applies on the new database through the written default profile.
    applied = invoke("apply", "pricing.toml", "--json")
    assert applied.exit_code == 0, applied.stderr
    assert json.loads(applied.stdout)["summary"]["added"] == 3
    again = invoke("init", "--database-url", "sqlite:///books.db", "--json")
    assert json.loads(again.stdout)["pricing_written"] is False
    assert json.loads(again.stdout)["profile_written"] is False
    other = invoke("init", "--database-url", "sqlite:///two.db", "--profile", "two")
    assert other.exit_code == 0 and "profile 'two' written" in other.stdout
    config = tomllib.loads(isolated.read_text())
    assert config["default_profile"] == "local" and set(config["profiles"]) == {"local", "two"}
