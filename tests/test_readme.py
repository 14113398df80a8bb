"""The README stays true: two Quick-start commands, a runnable example, every command."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from creditbook.cli import app

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


def test_quick_start_has_exactly_two_shell_commands() -> None:
    commands = blocks("sh")
    assert len(commands) == 2
    assert all(len(block.strip().splitlines()) == 1 for block in commands)
    assert "creditbook demo" in commands[0]
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "n==2" in ci and "README.md" in ci  # it extracts the second sh block
    assert "CREDITBOOK_TEST_POSTGRES_URL" in ci


def test_python_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (example,) = blocks("python")
    monkeypatch.chdir(tmp_path)
    exec(compile(example, "README.md", "exec"), {})
    assert (tmp_path / "readme-example.db").exists()


def test_every_cli_command_is_documented() -> None:
    names = [
        command.name or (command.callback.__name__ if command.callback else "")
        for command in app.registered_commands
    ]
    assert names
    for name in names:
        assert f"`creditbook {name}`" in README, name


def test_no_machine_paths_in_docs() -> None:
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = path.read_text()
        assert "/work/" not in text and "/root/" not in text, path
