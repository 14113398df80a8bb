"""The SDK stands alone: importing it loads no server code (no database, no web framework).

Each check runs in a fresh interpreter, where nothing else has imported those modules yet.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

SERVER_PACKAGES = ("sqlalchemy", "alembic", "fastapi", "uvicorn", "starlette")
SERVER_MODULES = ("creditbook.engine", "creditbook.store", "creditbook.api")


def loaded_after(statement: str) -> list[str]:
    """The modules in `sys.modules` after running `statement` in a new interpreter."""
    script = f"{statement}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    modules: list[str] = json.loads(done.stdout.splitlines()[-1])
    return modules


def server_modules(modules: list[str]) -> list[str]:
    return [
        name
        for name in modules
        if name.split(".")[0] in SERVER_PACKAGES
        or any(name == prefix or name.startswith(f"{prefix}.") for prefix in SERVER_MODULES)
    ]


@pytest.mark.parametrize(
    "statement",
    [
        "import creditbook.client",
        "from creditbook.client import Client, AsyncClient",
        "import creditbook.client.models",
        "import creditbook.wire",
        "import creditbook.wire.compat.catalogue",
        "from creditbook import Credits, Plan, __version__",
    ],
)
def test_the_sdk_and_the_wire_load_no_server_code(statement: str) -> None:
    assert server_modules(loaded_after(statement)) == []


def test_the_package_root_still_gives_the_ledger() -> None:
    modules = loaded_after("from creditbook import Ledger")
    assert "creditbook.engine.ledger" in modules
