"""docs/events.md stays true: its shell, curl and Python blocks run as written."""

from __future__ import annotations

import os
import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook
from tests.client.conftest import LiveServer

from creditbook import Credits, Ledger, Plan
from creditbook.engine.events.records import Event, encode

ROOT = Path(__file__).resolve().parents[2]
PAGE = (ROOT / "docs" / "events.md").read_text()


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", PAGE, flags=re.DOTALL)


def run_shell(block: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block],
        cwd=cwd,
        env={**os.environ, "COLUMNS": "120", **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_the_command_line_walk_through(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("CREDITBOOK_")]:
        monkeypatch.delenv(name)
    # `creditbook init` writes a profile: into the test's own config file, not the user's.
    monkeypatch.setenv("CREDITBOOK_CONFIG", str(tmp_path / "config.toml"))
    (pricing,) = blocks("toml")
    (tmp_path / "pricing.toml").write_text(pricing)
    walk, listen = (block for block in blocks("sh") if "curl" not in block)
    out = run_shell(walk, tmp_path)
    assert "below 100: 40 left" in out and "below 50: 40 left" in out
    listened = run_shell(listen, tmp_path)
    assert listened.count("balance.low") == 2


def test_the_curl_lines(live_server: LiveServer, operator_key: str, ledger: Ledger) -> None:
    ledger.put_plan(Plan("starter", allowances={"credits": Credits.of(25)}))
    ledger.open_account("starter", account_id="acme")
    (curl,) = (block for block in blocks("sh") if "curl" in block)
    env = {"CREDITBOOK_BASE_URL": live_server.base_url, "CREDITBOOK_API_KEY": operator_key}
    assert ledger.events(account_id="acme").data == []
    ledger.charge(account_id="acme", amount=Credits.of(20))
    out = run_shell(curl, ROOT, env)
    assert '"source":"account"' in out
    assert '"type":"balance.low"' in out and '"available":5' in out


def test_the_python_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    monkeypatch.chdir(tmp_path)
    library, receiver = blocks("python")
    exec(compile(library, "docs/events.md (library)", "exec"), {"__name__": "events_doc"})
    assert capsys.readouterr().out.strip() == "['balance.depleted', 'balance.low']"
    namespace: dict[str, Any] = {"__name__": "events_doc_receiver"}
    exec(compile(receiver, "docs/events.md (receiver)", "exec"), namespace)
    event = Event("evt_1", "balance.low", "acme", 1, datetime.now(UTC), {"available": 9000})
    body = encode(event.body())
    now = datetime.now(UTC)
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    headers = {
        "webhook-id": "evt_1",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign("evt_1", now, body),
    }
    assert namespace["handle"](body, headers) == "acme is down to 9 credits"
