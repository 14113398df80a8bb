"""The CLI in-process: local mode on each database, remote mode against a live server.

Remote mode talks HTTP to a real uvicorn server on a free loopback port (a thread of the
test process) over the same database, so both modes are checked against one ledger.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from typer.testing import CliRunner, Result

from creditbook import Ledger
from creditbook.api.app import create_app
from creditbook.cli import app
from creditbook.settings import Settings

ENVIRONMENT = (
    "CREDITBOOK_BASE_URL",
    "CREDITBOOK_API_KEY",
    "CREDITBOOK_DATABASE_URL",
    "CREDITBOOK_ACCOUNT_ID",
    "CREDITBOOK_PROFILE",
)

PRICING_TOML = """\
[plans.starter]
name = "Starter"
allowances = { credits = 100 }
slots = 2

[plans.daily]
interval = "daily"
allowances = { credits = 10 }

[rate_cards.maps]
credits_per_row = 4
base_label = "Export Listings"
module = "scraper"

[rate_cards.maps.functions.get_phone_numbers]
credits_per_success = 6
"""


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No CREDITBOOK_* variable of the machine leaks in; the config file is the test's."""
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "config" / "config.toml"
    monkeypatch.setenv("CREDITBOOK_CONFIG", str(config))
    monkeypatch.setenv("COLUMNS", "200")  # rich tables on one line each
    monkeypatch.chdir(tmp_path)
    return config


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, list(args), env=env)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Server:
    url: str
    operator_key: str


@contextmanager
def serving(ledger: Ledger) -> Iterator[str]:
    """The API over `ledger` on a free loopback port, for as long as the block runs: its URL."""
    settings = Settings(rate_limit_per_s=10_000, rate_limit_burst=10_000)
    port = free_port()
    config = uvicorn.Config(
        create_app(ledger, settings=settings),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        ws="none",
    )
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not running.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert running.started, "the test server did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        running.should_exit = True
        thread.join(timeout=30)


@pytest.fixture
def server(database_url: str) -> Iterator[Server]:
    """The API on a free loopback port over `database_url`, with an operator key."""
    ledger = Ledger.open(database_url)
    operator = ledger.create_key(None, scope="operator").secret
    assert operator is not None
    try:
        with serving(ledger) as url:
            yield Server(url, operator)
    finally:
        ledger.close()


@dataclass
class Mode:
    """How a test reaches the ledger: `args` select the target; `run` invokes the CLI."""

    name: str
    args: tuple[str, ...]
    env: dict[str, str]
    database_url: str

    def run(self, *args: str, env: dict[str, str] | None = None) -> Result:
        return invoke(*args, *self.args, env={**self.env, **(env or {})})

    def ok(self, *args: str) -> Result:
        result = self.run(*args)
        assert result.exit_code == 0, (result.stdout, result.stderr)
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json").stdout)


@pytest.fixture(params=["local", "remote"])
def mode(request: pytest.FixtureRequest, database_url: str) -> Mode:
    if request.param == "local":
        return Mode("local", ("--database-url", database_url), {}, database_url)
    server: Server = request.getfixturevalue("server")
    return Mode(
        "remote",
        ("--base-url", server.url),
        {"CREDITBOOK_API_KEY": server.operator_key},
        database_url,
    )


@pytest.fixture
def pricing_file(tmp_path: Path) -> Path:
    path = tmp_path / "pricing.toml"
    path.write_text(PRICING_TOML)
    return path


@pytest.fixture
def acme(mode: Mode, pricing_file: Path) -> str:
    """Pricing applied and an account `acme` on the starter plan (100 credits)."""
    mode.ok("apply", str(pricing_file))
    mode.ok("accounts", "create", "--plan", "starter", "--id", "acme", "--name", "Acme")
    return "acme"


def one_error_line(result: Result) -> str:
    """The stderr of an expected failure: one `error: <code>: <message>` line."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]
