"""OpenTelemetry, with the `otel` extra: off without `OTEL_*` variables; with
`OTEL_TRACES_EXPORTER=console` a request gives a server span (FastAPI) with the database's
spans (SQLAlchemy) under it, and httpx calls give client spans."""

from __future__ import annotations

import json
import socket
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from creditbook import Ledger
from creditbook.api.app import create_app
from creditbook.settings import Settings

pytest.importorskip(
    "opentelemetry.sdk", reason="the otel extra is not installed: pip install 'creditbook[otel]'"
)


def spans_of(output: str) -> list[dict[str, Any]]:
    """The spans the console exporter printed (JSON objects, one after another)."""
    decoder = json.JSONDecoder()
    spans, index = [], 0
    while (start := output.find("{", index)) != -1:
        span, index = decoder.raw_decode(output, start)
        spans.append(span)
    return spans


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_off_without_otel_variables(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_SDK_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    assert create_app(ledger, settings=Settings()).state.tracer_provider is None
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert create_app(ledger, settings=Settings()).state.tracer_provider is None


def test_console_exporter_prints_request_database_and_httpx_spans(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "creditbook-test")
    operator = ledger.create_key(None, scope="operator").secret
    app = create_app(ledger, settings=Settings())
    assert app.state.tracer_provider is not None
    capfd.readouterr()
    with TestClient(app) as client:
        answer = client.get("/v1/accounts/nobody", headers={"Authorization": f"Bearer {operator}"})
        # An outgoing call through httpx's own transport (to a port nobody listens on).
        with pytest.raises(httpx.TransportError), httpx.Client() as outside:
            outside.get(f"http://127.0.0.1:{closed_port()}/")
    assert answer.status_code == 404
    spans = spans_of(capfd.readouterr().out)
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for span in spans:
        assert span["resource"]["attributes"]["service.name"] == "creditbook-test"
        by_kind.setdefault(span["kind"], []).append(span)
    (server,) = [s for s in by_kind["SpanKind.SERVER"] if s["name"].startswith("GET ")]
    assert server["name"] == "GET /v1/accounts/{account_id}"
    assert server["attributes"]["http.route"] == "/v1/accounts/{account_id}"
    trace_id = server["context"]["trace_id"]
    database = [
        s for s in by_kind["SpanKind.CLIENT"] if s["attributes"].get("db.system") is not None
    ]
    assert database and all(s["context"]["trace_id"] == trace_id for s in database)
    outgoing = [s for s in by_kind["SpanKind.CLIENT"] if "db.system" not in s["attributes"]]
    assert any(s["name"] == "GET" for s in outgoing), outgoing
