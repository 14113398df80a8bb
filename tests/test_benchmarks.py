"""The benchmark scripts run end to end on a tiny budget (their figures are not checked here:
they are measured by hand, never by a timed test). A script that no longer runs against the
current engine fails here instead of at the next measurement."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import REQUIRE_ENV, postgres_server_url

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--seconds", "0.2", "--rounds", "1", "--warmup", "0.05", "--accounts", "20"]


def run_benchmark(
    *args: str, postgres: bool, script: str = "engine.py", timeout: float = 300
) -> str:
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in {"CREDITBOOK_TEST_POSTGRES_URL", "CREDITBOOK_BENCH_POSTGRES_URL"}
    }
    server = postgres_server_url()
    if postgres:
        if server is None:
            pytest.skip("PostgreSQL tests need CREDITBOOK_TEST_POSTGRES_URL (not set)")
        env["CREDITBOOK_BENCH_POSTGRES_URL"] = server
    finished = subprocess.run(
        [sys.executable, f"benchmarks/{script}", *args],
        cwd=ROOT,
        env={**env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    return finished.stdout


@pytest.mark.slow
@pytest.mark.parametrize("postgres", [False, True], ids=["sqlite", "postgresql"])
def test_the_engine_benchmark_runs_and_verifies(postgres: bool) -> None:
    out = run_benchmark(*TINY, "--batch-size", "10", "--verify", postgres=postgres)
    assert "engine / floor, 1 per commit" in out
    assert "SQLite verified: engine:" in out and "no differences" in out
    if postgres:
        assert "PostgreSQL verified: engine:" in out
    else:
        assert "PostgreSQL skipped" in out


@pytest.mark.slow
def test_the_constraints_benchmark_runs() -> None:
    out = run_benchmark("--constraints", "--charges", "50", "--rounds", "1", postgres=False)
    assert "cost < 5%" in out


@pytest.mark.slow
def test_the_outbox_benchmark_runs() -> None:
    out = run_benchmark(
        "--charges",
        "40",
        "--rounds",
        "1",
        "--warmup",
        "0.05",
        "--accounts",
        "5",
        "--batch-size",
        "5",
        postgres=True,
        script="outbox.py",
    )
    assert "cost ≤ 10%" in out
    assert "PostgreSQL: 0 events recorded" in out


@pytest.mark.slow
@pytest.mark.parametrize("postgres", [False, True], ids=["sqlite", "postgresql"])
def test_the_webhooks_benchmark_runs(postgres: bool) -> None:
    tiny = ["--events", "60", "--accounts", "3", "--latency-events", "5"]
    out = run_benchmark(*tiny, postgres=postgres, script="webhooks.py")
    assert "SQLite: 60 events over 3 accounts" in out
    assert "events/s" in out and "p99" in out
    if postgres:
        assert "PostgreSQL: 60 events over 3 accounts" in out
    else:
        assert "PostgreSQL skipped" in out


@pytest.mark.slow
def test_the_instructions_benchmark_counts_and_compares() -> None:
    """Counted twice, the same code costs the same instructions to within a few tenths of a
    percent (the ids it draws differ); the table gives each count and their ratio. Only the
    charges are counted, so twenty against a hundred suffice."""
    if shutil.which("valgrind") is None:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{REQUIRE_ENV}=1 but valgrind is not installed (.ci/run installs it)")
        pytest.skip("the instruction counts need valgrind (apt-get install -y valgrind)")
    out = run_benchmark(
        "--kinds",
        "single",
        "--charges",
        "20",
        "--compare",
        "src",
        postgres=False,
        script="instructions.py",
        timeout=600,  # six children, four of them under valgrind
    )
    row = next(line for line in out.splitlines() if "SQLite" in line and "single" in line)
    this, compared, ratio = re.findall(r"[\d,.]+", row)[-3:]
    assert int(this.replace(",", "")) > 100_000 and int(compared.replace(",", "")) > 100_000
    assert 0.98 < float(ratio) < 1.02
    assert "this / compared" in out


@pytest.mark.parametrize(
    "script", ["engine.py", "http.py", "instructions.py", "outbox.py", "stats.py", "webhooks.py"]
)
def test_every_benchmark_explains_its_options(script: str) -> None:
    out = run_benchmark("--help", postgres=False, script=script)
    assert out.startswith("usage: ") and "options:" in out


def test_the_engine_benchmark_refuses_fewer_accounts_than_a_batch() -> None:
    finished = subprocess.run(
        [sys.executable, "benchmarks/engine.py", "--accounts", "50", "--batch-size", "100"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 2
    assert "--accounts (50) must be at least --batch-size (100)" in finished.stderr
