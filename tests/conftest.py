"""Test databases: every engine test runs on SQLite and on PostgreSQL.

PostgreSQL comes from CREDITBOOK_TEST_POSTGRES_URL (a server URL; the tests create and drop
their own database on it). Without it the PostgreSQL half is skipped with that reason.
Redis (shared rate limits) comes from CREDITBOOK_TEST_REDIS_URL, skipped the same way.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from creditbook import Ledger, ManualClock
from creditbook.engine.key_cache import DEFAULT_TTL_S as DEFAULT_KEY_CACHE_S
from creditbook.store import schema
from creditbook.store.database import make_engine, migrate, normalise_url

# pytest-xdist workers start with COLUMNS=80, which the CLI's consoles would keep for good
# when first imported; without it they read the width each test sets (tests/cli/conftest.py).
os.environ.pop("COLUMNS", None)

POSTGRES_ENV = "CREDITBOOK_TEST_POSTGRES_URL"
REDIS_ENV = "CREDITBOOK_TEST_REDIS_URL"
# CI sets this so that a missing server fails the run instead of skipping half of it.
REQUIRE_ENV = "CREDITBOOK_TEST_REQUIRE_SERVICES"
START = datetime(2025, 1, 1, tzinfo=UTC)
BACKENDS = ["sqlite", "postgresql"]


def postgres_server_url() -> str | None:
    return os.environ.get(POSTGRES_ENV) or None


@pytest.fixture(scope="session")
def postgres_database_url() -> Iterator[str]:
    """A fresh, migrated database on the test server, dropped after the session."""
    server = postgres_server_url()
    if server is None:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{REQUIRE_ENV}=1 but {POSTGRES_ENV} is not set")
        pytest.skip(f"PostgreSQL tests need {POSTGRES_ENV} (not set)")
    server = normalise_url(server)
    name = f"creditbook_test_{secrets.token_hex(6)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The test Redis (shared rate limits); tests use their own random keys on it."""
    url = os.environ.get(REDIS_ENV) or None
    if url is None:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{REQUIRE_ENV}=1 but {REDIS_ENV} is not set")
        pytest.skip(f"Redis tests need {REDIS_ENV} (not set)")
    return url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file, copied for each test."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()  # the last connection to close checkpoints the WAL into the file
    return path


def truncate_all(engine: Engine) -> None:
    names = ", ".join(table.name for table in schema.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {names}"))


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database of each backend."""
    if request.param == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "creditbook.db"
        shutil.copy(template, path)
        yield f"sqlite:///{path}"
        return
    url = request.getfixturevalue("postgres_database_url")
    engine = make_engine(url)
    truncate_all(engine)
    engine.dispose()
    yield url


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def key_cache_s() -> float:
    """How long the `ledger` fixture remembers an authenticated key (its default). A module
    that counts database lookups sets it longer, so its counts never depend on how fast
    the machine runs."""
    return DEFAULT_KEY_CACHE_S


@pytest.fixture
def ledger(database_url: str, clock: ManualClock, key_cache_s: float) -> Iterator[Ledger]:
    ledger = Ledger(make_engine(database_url), clock, key_cache_s=key_cache_s)
    try:
        yield ledger
    finally:
        ledger.close()


@pytest.fixture
def pg_ledger(postgres_database_url: str, clock: ManualClock) -> Iterator[Ledger]:
    """A ledger on the session's PostgreSQL database, for what only PostgreSQL does (its
    tests use account ids of their own: the database is shared by the session)."""
    ledger = Ledger(make_engine(postgres_database_url), clock)
    try:
        yield ledger
    finally:
        ledger.close()
