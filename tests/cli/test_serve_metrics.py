"""`/metrics` of `creditbook serve --workers 2` counts the requests of both workers
(prometheus-client's multiprocess mode), and can be kept to the operator key."""

from __future__ import annotations

import os
import re
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from tests.cli.test_serve_logs import serve, stop

from creditbook import Credits, Ledger, Plan
from creditbook.api.app import create_app
from creditbook.settings import Settings

REQUESTS = 60
HEALTH_COUNT = re.compile(
    r'^creditbook_http_requests_total\{[^}]*route="/healthz"[^}]*\} ([0-9.]+)$', re.MULTILINE
)


def healthz_count(base: str) -> tuple[float, str]:
    """Send REQUESTS health checks, each on a new connection so that both workers take
    some, and return the count /metrics reports for the route (and the whole answer)."""
    for _ in range(REQUESTS):
        with httpx.Client() as client:
            assert client.get(f"{base}/healthz").status_code == 200
    response = httpx.get(f"{base}/metrics")
    assert response.status_code == 200, response.text
    return sum(float(value) for value in HEALTH_COUNT.findall(response.text)), response.text


@pytest.mark.slow
def test_metrics_sum_every_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    url = f"sqlite:///{tmp_path / 'creditbook.db'}"
    process, base, _ = serve(tmp_path, url, "--workers", "2", "--no-sweeper")
    try:
        count, text = healthz_count(base)
    finally:
        stop(process)
    # This test's requests and the one that found the server ready, whichever worker took
    # them.
    assert count == REQUESTS + 1, text


@pytest.mark.slow
def test_a_given_metrics_folder_is_emptied_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "counter_99999.db").write_bytes(b"left over by an earlier start")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))
    url = f"sqlite:///{tmp_path / 'creditbook.db'}"
    process, base, _ = serve(tmp_path, url, "--workers", "2", "--no-sweeper")
    try:
        count, text = healthz_count(base)
    finally:
        stop(process)
    assert count == REQUESTS + 1, text
    # Both workers took some: each writes its own file.
    assert len(list(folder.glob("counter_*.db"))) == 2
    assert not (folder / "counter_99999.db").exists()


def test_metrics_may_require_the_operator_key(ledger: Ledger) -> None:
    operator = ledger.create_key(None, scope="operator").secret
    ledger.put_plan(Plan("basic", allowances={"credits": Credits.of(10)}))
    ledger.open_account("basic", account_id="acme")
    reader = ledger.create_key("acme", scope="read").secret
    with TestClient(create_app(ledger, settings=Settings())) as client:
        assert client.get("/metrics").status_code == 200
    settings = Settings(metrics_require_key=True)
    with TestClient(create_app(ledger, settings=settings)) as client:
        missing = client.get("/metrics")
        assert missing.status_code == 401 and missing.json()["code"] == "unauthenticated"
        refused = client.get("/metrics", headers={"Authorization": f"Bearer {reader}"})
        assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
        answered = client.get("/metrics", headers={"Authorization": f"Bearer {operator}"})
        assert answered.status_code == 200
        assert "creditbook_http_requests_total" in answered.text
    assert os.environ.get("PROMETHEUS_MULTIPROC_DIR") is None
