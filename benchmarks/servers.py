"""Where the benchmarks find PostgreSQL, and the scratch databases they make on it.

Not a benchmark: the scripts beside it import it (a script's own folder is first on its
path). It imports nothing of creditbook's, so a child process that counts instructions can
import it without loading the engine.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from sqlalchemy.engine import make_url

POSTGRES_ENVS = ("CREDITBOOK_BENCH_POSTGRES_URL", "CREDITBOOK_TEST_POSTGRES_URL")
POSTGRES_URL_HELP = f"PostgreSQL server URL (default: ${' or $'.join(POSTGRES_ENVS)})"
POSTGRES_SKIPPED = (
    f"PostgreSQL skipped: no --postgres-url and neither {' nor '.join(POSTGRES_ENVS)} is set. "
    "SQLite only."
)


def postgres_server(given: str | None) -> str | None:
    """The server to benchmark on: `given` (--postgres-url), else the first of
    POSTGRES_ENVS that is set, else None."""
    return given or next((os.environ[name] for name in POSTGRES_ENVS if os.environ.get(name)), None)


@contextmanager
def postgres_database(server_url: str) -> Iterator[str]:
    """A scratch database on the server, dropped afterwards (even one still in use); yields
    its libpq URL."""
    server = make_url(server_url).set(drivername="postgresql")
    admin_url = server.render_as_string(hide_password=False)
    name = f"creditbook_bench_{secrets.token_hex(6)}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
