"""docs/sdk.md stays true: its Python examples run, in order, against a live server."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from tests.client.conftest import LiveServer

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "sdk.md"


def examples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.DOTALL)


def test_the_examples_run(
    live_server: LiveServer, operator_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREDITBOOK_API_KEY", operator_key)
    monkeypatch.setenv("CREDITBOOK_BASE_URL", live_server.base_url)
    monkeypatch.delenv("CREDITBOOK_ACCOUNT_ID", raising=False)
    blocks = examples()
    assert len(blocks) >= 8
    namespace: dict[str, Any] = {"__name__": "sdk_docs"}
    try:
        for number, block in enumerate(blocks, 1):
            exec(compile(block, f"docs/sdk.md (example {number})", "exec"), namespace)
    finally:
        client = namespace.get("client")
        if client is not None:
            client.close()
    assert namespace["finished"].credits == 116
    assert namespace["ids"] == ["acme"]
    assert [item.ok for item in namespace["batch"].data] == [True, False]
