"""`creditbook serve` logs as docs/http.md says: a listening line, one JSON line per request
(method, route template, status, duration, request id, key id, never the secret) and every
failed authentication; `--log-format console` and `--log-level` change them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from creditbook import Ledger

STARTUP_TIMEOUT_S = 30.0
SERVE = (sys.executable, "-m", "creditbook", "serve")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def serve(
    tmp_path: Path, url: str, *options: str, env_extra: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = free_port()
    log = tmp_path / f"serve-{port}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDITBOOK_")}
    env.update(env_extra or {})
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*SERVE, "--database-url", url, "--port", str(port), *options],
            cwd=tmp_path,
            env=env,
            stdout=output,
            stderr=output,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            # Wait for an answer rather than ask again: a worker still starting can take
            # more than a second, and a check given up on is still served (and counted
            # by /metrics, which test_serve_metrics checks to the request).
            timeout = httpx.Timeout(max(deadline - time.monotonic(), 0.1), connect=1.0)
            if httpx.get(f"{base}/healthz", timeout=timeout).status_code == 200:
                return process, base, log
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError(f"server did not start:\n{log.read_text()}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture
def keyed(tmp_path: Path) -> tuple[str, str, str]:
    url = f"sqlite:///{tmp_path / 'creditbook.db'}"
    ledger = Ledger.open(url)
    try:
        issued = ledger.create_key(None, scope="operator")
    finally:
        ledger.close()
    assert issued.secret is not None
    return url, issued.secret, issued.key.key_id


def test_json_logs_one_line_per_request_and_each_failed_authentication(
    tmp_path: Path, keyed: tuple[str, str, str]
) -> None:
    url, secret, key_id = keyed
    process, base, log = serve(tmp_path, url, "--log-format", "json")
    try:
        good = httpx.get(
            f"{base}/v1/accounts/nobody/balance",
            headers={"Authorization": f"Bearer {secret}", "X-Request-ID": "req-good-1"},
        )
        bad = httpx.get(f"{base}/v1/accounts", headers={"X-API-KEY": "cb_abc_wrong_x"})
    finally:
        stop(process)
    assert good.status_code == 404 and bad.status_code == 401
    text = log.read_text()
    assert secret not in text
    lines: list[dict[str, Any]] = [json.loads(line) for line in text.splitlines() if line]
    assert any(
        "listening on http://127.0.0.1:" in line["message"] and line["levelname"] == "INFO"
        for line in lines
    ), text
    requests = [line for line in lines if line["name"] == "creditbook.access"]
    (mine,) = [line for line in requests if line["request_id"] == "req-good-1"]
    assert mine["method"] == "GET"
    assert mine["route"] == "/v1/accounts/{account_id}/balance"
    assert mine["status"] == 404
    assert mine["key_id"] == key_id
    assert isinstance(mine["duration_ms"], float) and mine["duration_ms"] >= 0
    refused = [line for line in requests if line["status"] == 401]
    assert len(refused) == 1 and refused[0]["request_id"] == bad.headers["x-request-id"]
    failed = [line for line in lines if line["name"] == "creditbook.auth"]
    assert len(failed) == 1, failed
    assert failed[0]["code"] == "unauthenticated" and failed[0]["client"] == "127.0.0.1"
    assert failed[0]["levelname"] == "WARNING"
    assert failed[0]["request_id"] == bad.headers["x-request-id"]


def test_console_format_and_log_level(tmp_path: Path, keyed: tuple[str, str, str]) -> None:
    url, _, _ = keyed
    process, base, log = serve(tmp_path, url, "--log-format", "console")
    try:
        httpx.get(f"{base}/v1/accounts", headers={"X-API-KEY": "cb_abc_wrong_x"})
    finally:
        stop(process)
    text = log.read_text()
    assert "INFO creditbook.server creditbook" in text and "listening on" in text
    assert "creditbook.access request method=GET route=/v1/accounts status=401" in text
    assert "WARNING creditbook.auth authentication failed" in text
    process, base, log = serve(tmp_path, url, "--log-level", "warning")
    try:
        httpx.get(f"{base}/v1/accounts", headers={"X-API-KEY": "cb_abc_wrong_x"})
    finally:
        stop(process)
    lines = [json.loads(line) for line in log.read_text().splitlines() if line]
    assert {line["levelname"] for line in lines} == {"WARNING"}, lines


def test_unknown_log_format_is_a_usage_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [*SERVE, "--log-format", "xml", "--database-url", f"sqlite:///{tmp_path / 'x.db'}"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "--log-format must be json or console, not 'xml'" in result.stderr + result.stdout
