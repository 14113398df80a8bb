"""docs/cli.md names every command and sub-command of the app; its pricing file and its
selling walk-through run as written."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from tests.stripe_fake import API_KEY, FakeStripe, serve
from typer.main import get_command

from creditbook.cli import app

DOCS = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text()


def command_paths(group: typer.Typer) -> list[str]:
    """Every command and sub-command, as typed after `creditbook`."""

    def walk(command: Any, prefix: str) -> list[str]:
        children = getattr(command, "commands", None)
        if not children:
            return [prefix]
        paths = [prefix] if prefix else []
        for name, sub in children.items():
            paths += walk(sub, f"{prefix} {name}".strip())
        return paths

    return walk(get_command(group), "")


def test_every_command_is_documented() -> None:
    paths = command_paths(app)
    assert "accounts list" in paths and "keys revoke" in paths and "export" in paths
    assert len(paths) >= 20
    for path in paths:
        assert f"`creditbook {path}" in DOCS, path


def test_exit_codes_are_documented() -> None:
    from creditbook.cli.errors import EXIT_CODES

    for code, status in EXIT_CODES.items():
        assert f"| {status} |" in DOCS, status
        assert f"`{code}`" in DOCS, code


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOCS, flags=re.DOTALL)


@pytest.fixture
def stripe() -> Iterator[FakeStripe]:
    yield from serve(FakeStripe())


def test_the_selling_walk_through(
    tmp_path: Path, stripe: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pricing file of `creditbook apply` and the selling commands, in local mode on a
    new SQLite file, with Stripe at a local stand-in."""
    for name in [n for n in os.environ if n.startswith("CREDITBOOK_")]:
        monkeypatch.delenv(name)
    (pricing,) = (block for block in blocks("toml") if "[packs." in block)
    (tmp_path / "pricing.toml").write_text(pricing)
    (walk,) = (block for block in blocks("sh") if "creditbook buy" in block)
    env = {
        **os.environ,
        "COLUMNS": "160",
        "CREDITBOOK_CONFIG": str(tmp_path / "config.toml"),
        "CREDITBOOK_STRIPE_API_KEY": API_KEY,
        "CREDITBOOK_STRIPE_API_BASE": stripe.url,
    }
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", walk],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "1,000 credits" in out and "8.50 EUR, 9.00 USD" in out
    assert re.search(r"^https://checkout\.stripe\.com/\S+$", out, flags=re.MULTILINE)
    assert re.search(r"status\s+│ on ", out) and re.search(r"status\s+│ off ", out)
    assert "acme: 0 purchases" in out  # nothing is granted before Stripe reports the payment
    (session,) = stripe.calls_to("POST", "/v1/checkout/sessions")
    assert session.params["success_url"] == "https://example.com/billing?paid={CHECKOUT_SESSION_ID}"
