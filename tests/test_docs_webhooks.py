"""docs/webhooks.md stays true: its curl blocks are replayed against the app (as the compat
pages are, by tests/test_docs_compat.py), its receiver code verifies what the dispatcher
signs, and its library example runs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.test_docs_compat import read_page, replay

from creditbook import Ledger, ManualClock
from creditbook.api.app import create_app
from creditbook.engine.webhooks.delivery import Request, headers
from creditbook.engine.webhooks.endpoints import new_secret
from creditbook.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
PAGE = "webhooks.md"
TEXT = (ROOT / "docs" / PAGE).read_text()


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", TEXT, flags=re.DOTALL)


@pytest.fixture
def client(ledger: Ledger) -> Iterator[TestClient]:
    ledger.webhooks_allow_private = True  # as the page's server was started
    settings = Settings(rate_limit_per_s=10_000, rate_limit_burst=10_000)
    with TestClient(create_app(ledger, settings=settings)) as client:
        yield client


def test_the_curl_examples_answer_as_documented(
    client: TestClient, ledger: Ledger, clock: ManualClock
) -> None:
    page = read_page(PAGE)
    clock.set(page.recorded_at)
    operator = ledger.create_key(None, scope="operator").secret
    assert operator is not None
    assert replay(client, page, operator) == 3
    (endpoint,) = ledger.webhook_endpoints().data
    assert endpoint.previous_secret_expires_at is not None  # the rotation ran


def test_the_receiver_code_verifies_a_signed_delivery() -> None:
    (receiver,) = [block for block in blocks("python") if "def handle" in block]
    namespace: dict[str, Any] = {}
    exec(compile(receiver, PAGE, "exec"), namespace)
    handle = namespace["handle"]
    secret, other = new_secret(), new_secret()
    body = b'{"id":"evt_1","type":"balance.low","account_id":"acme","sequence":1}'
    request = Request(None, "https://example.com/", "evt_1", body, (secret,))
    sent = headers(request, datetime.now(UTC).replace(microsecond=0))
    assert handle(body, sent, secret)["type"] == "balance.low"
    assert handle(body, sent, other) is None
    assert handle(body.replace(b"acme", b"evil"), sent, secret) is None


def test_the_library_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (example,) = [block for block in blocks("python") if "Ledger.open" in block]
    monkeypatch.chdir(tmp_path)
    exec(compile(example, PAGE, "exec"), {})
    assert (tmp_path / "hooks.db").exists()
