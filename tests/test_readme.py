"""The README stays true: two Quick-start commands, a runnable example, every command."""

from __future__ import annotations

import os
import queue
import re
import shlex
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
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


@dataclass
class DemoServer:
    """`creditbook serve --demo` on a free port, and the lines it printed for the user."""

    port: int
    printed: list[str]

    def exported(self, name: str) -> str:
        (value,) = [
            line.split("=", 1)[1] for line in self.printed if line.startswith(f"export {name}=")
        ]
        return value


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    """The README's first command, as a new user runs it (on a free port)."""
    folder = tmp_path_factory.mktemp("demo")
    port = free_port()
    env = {**os.environ, "CREDITBOOK_DATABASE_URL": f"sqlite:///{folder}/creditbook.db"}
    server = subprocess.Popen(
        [sys.executable, "-m", "creditbook", "serve", "--demo", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=folder,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert server.stdout is not None
    # Read all the server prints (so that its pipe never fills up); the test waits on lines.
    reader = threading.Thread(target=lambda: [*map(lines.put, server.stdout)], daemon=True)
    reader.start()
    try:
        printed: list[str] = []
        deadline = time.monotonic() + 90
        while not printed or not printed[-1].startswith("# dashboard:"):
            line = lines.get(timeout=max(0.0, deadline - time.monotonic())).rstrip("\n")
            if line.startswith("# creditbook demo data") or printed:
                printed.append(line)
        wait_until_up(f"http://127.0.0.1:{port}/healthz", deadline)
        yield DemoServer(port, printed)
    finally:
        server.terminate()
        server.wait(timeout=30)
        reader.join(timeout=30)
        server.stdout.close()


def wait_until_up(url: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            httpx.get(url)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"{url} never answered")


def test_first_command_serves_demo_data_a_new_user_can_curl(demo_server: DemoServer) -> None:
    """The README's first command, then its curl lines, as a new user would follow them."""
    key = demo_server.exported("CREDITBOOK_API_KEY")
    assert key.startswith("cb_")
    curl_lines = [line.strip() for line in README.splitlines() if line.strip().startswith("curl ")]
    assert curl_lines
    for line in curl_lines:
        path = re.search(r"http://127\.0\.0\.1:8000(\S+)", line)
        assert path is not None
        url = f"http://127.0.0.1:{demo_server.port}{path.group(1)}"
        response = httpx.get(url, headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 200, response
        assert response.json()


def test_the_printed_keys_paste_into_a_shell(demo_server: DemoServer) -> None:
    """Every printed line is a comment or a shell command: pasted whole, they run."""
    for line in demo_server.printed:
        assert line.startswith(("# ", "export ", "curl ")), line
        if line.startswith("export "):
            assert re.fullmatch(r"export [A-Z_]+=\S+", line), line
    names = [line.split("=")[0] for line in demo_server.printed if line.startswith("export ")]
    assert names == [
        "export CREDITBOOK_BASE_URL",
        "export CREDITBOOK_API_KEY",
        "export LEADS_API_KEY",
        "export CREDITBOOK_OPERATOR_KEY",
    ]
    script = "\n".join([*demo_server.printed, "echo", 'echo "$CREDITBOOK_API_KEY"'])
    done = subprocess.run(["bash", "-e", "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert '"pools"' in done.stdout  # the curl line's answer
    assert done.stdout.splitlines()[-1] == demo_server.exported("CREDITBOOK_API_KEY")


def test_the_sdk_example_runs_against_the_demo_server(
    demo_server: DemoServer, tmp_path: Path
) -> None:
    """README's SDK block, exactly as written, after pasting what `serve --demo` printed."""
    (example,) = [block for block in blocks("python") if "creditbook.client" in block]
    (tmp_path / "example.py").write_text(example)
    # `echo` ends the curl line's answer, which has no newline of its own.
    script = "\n".join([*demo_server.printed, "echo", f"{shlex.quote(sys.executable)} example.py"])
    env = {name: value for name, value in os.environ.items() if not name.startswith("CREDITBOOK")}
    done = subprocess.run(
        ["bash", "-e", "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    printed = done.stdout.splitlines()
    balance = next(index for index, line in enumerate(printed) if re.fullmatch(r"-?[\d.]+", line))
    assert printed[balance + 1].split()[-2:] == ["DEDUCTION", "-2"]  # newest first: the charge
    assert len(printed) > balance + 2  # and the demo month's history after it


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
