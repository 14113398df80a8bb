"""The README stays true: two Quick-start commands, a runnable example, every command."""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from creditbook.cli import app

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


def test_quick_start_has_exactly_two_shell_commands() -> None:
    commands = blocks("sh")
    assert len(commands) == 2
    assert all(len(block.strip().splitlines()) == 1 for block in commands)
    assert "creditbook serve --demo" in commands[0]
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "n==2" in ci and "README.md" in ci  # it extracts the second sh block
    assert "CREDITBOOK_TEST_POSTGRES_URL" in ci


def test_python_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The first Python block uses the library; the second, the SDK against a server, runs in
    # tests/client/test_sdk_docs.py.
    example = blocks("python")[0]
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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_first_command_serves_demo_data_a_new_user_can_curl(tmp_path: Path) -> None:
    """The README's first command, then its curl line, as a new user would follow them."""
    port = free_port()
    env = {**os.environ, "CREDITBOOK_DATABASE_URL": f"sqlite:///{tmp_path}/creditbook.db"}
    server = subprocess.Popen(
        [sys.executable, "-m", "creditbook", "serve", "--demo", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        assert server.stdout is not None
        key = None
        deadline = time.monotonic() + 60
        while key is None and time.monotonic() < deadline:
            line = server.stdout.readline()
            match = re.search(r"CREDITBOOK_API_KEY=(cb_\S+)", line)
            key = match.group(1) if match else None
        assert key is not None, "the server printed no key"
        curl_lines = [
            line.strip() for line in README.splitlines() if line.strip().startswith("curl ")
        ]
        assert curl_lines
        for line in curl_lines:
            path = re.search(r"http://127\.0\.0\.1:8000(\S+)", line)
            assert path is not None
            url = f"http://127.0.0.1:{port}{path.group(1)}"
            response = None
            while response is None and time.monotonic() < deadline:
                try:
                    response = httpx.get(url, headers={"Authorization": f"Bearer {key}"})
                except httpx.TransportError:
                    time.sleep(0.2)
            assert response is not None and response.status_code == 200, response
            assert response.json()
    finally:
        server.terminate()
        server.wait(timeout=30)
        if server.stdout is not None:
            server.stdout.close()


def test_terminal_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The "From the terminal" lines, in order, in local mode on a new SQLite file."""
    (block,) = blocks("shell")
    lines = [line.strip() for line in block.splitlines() if line.strip()]
    assert lines and all(line.startswith("creditbook ") for line in lines)
    for name in ("BASE_URL", "API_KEY", "DATABASE_URL", "ACCOUNT_ID", "PROFILE"):
        monkeypatch.delenv(f"CREDITBOOK_{name}", raising=False)
    monkeypatch.setenv("CREDITBOOK_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(tmp_path)
    outputs = []
    for line in lines:
        result = CliRunner().invoke(app, shlex.split(line)[1:])
        assert result.exit_code == 0, (line, result.output)
        outputs.append(result.stdout)
    assert (tmp_path / "books.db").exists() and (tmp_path / "acme.csv").exists()
    balance = outputs[lines.index("creditbook balance acme")]
    assert "1010" in balance  # 1000 allowance + 250 bonus - 40 phone numbers × 6
    assert "ok" in outputs[-1]
