"""docs/cli.md names every command and sub-command of the app."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
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
