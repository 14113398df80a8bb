"""A serving process leaves its start-up objects out of the garbage collector, once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import gc, sys
from fastapi.testclient import TestClient
from creditbook.api.app import create_app
from creditbook.settings import Settings

counts = [gc.get_freeze_count()]
for name in ("one.db", "two.db"):
    app = create_app(settings=Settings(database_url=f"sqlite:///{sys.argv[1]}/{name}"))
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        counts.append(gc.get_freeze_count())
print(*counts)
"""


def test_the_first_app_to_start_freezes_what_the_process_built(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    before, first, second = (int(count) for count in done.stdout.split())
    assert before == 0
    assert first > 50_000  # the app, its routes and models, the libraries' objects
    # A second app in the same process freezes nothing more (frozen objects freed since
    # leave the count).
    assert second <= first
