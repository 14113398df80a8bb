"""Connections to SQLite (the embedded default) and PostgreSQL, and migrations.

SQLite: WAL, `foreign_keys=ON`, a busy timeout, `BEGIN IMMEDIATE` for write transactions
so writers queue for the database lock instead of failing on upgrade, and the aggregate behind
`exact_sum` (`creditbook.store.queries.sums`).
PostgreSQL: READ COMMITTED; writers serialise per account with `SELECT … FOR UPDATE`.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from creditbook.store.queries import hot, sums

SQLITE_BUSY_TIMEOUT_MS = 30_000
MIGRATIONS = Path(__file__).with_name("migrations")
# Execution option that marks a read-only transaction (SQLite then begins DEFERRED).
READ_ONLY = "creditbook_read_only"


# Connections a process keeps. The server's blocking endpoints run on up to 40 threads
# (anyio's default), and charges queued for a group commit wait without one.
DEFAULT_POOL_SIZE = 30


def normalise_url(url: str) -> str:
    """Accept plain `postgresql://` URLs and use psycopg 3 for them."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


class DatabaseUrlError(ValueError):
    """A database URL that names no database this process can open: unparsable, an unknown
    kind of database, a driver that is not installed, or an in-memory SQLite database.
    Bad input, not a bug: the CLI reports it as a usage error."""


def make_engine(url: str, **kwargs: Any) -> Engine:
    """The engine for `url` (`kwargs` go to `create_engine`), with a fixed pool of
    `DEFAULT_POOL_SIZE` connections unless told otherwise."""
    url = normalise_url(url)
    try:
        shown = make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        # Not echoed: a string that does not parse may still hold a password.
        raise DatabaseUrlError(
            "not a database URL (expected e.g. sqlite:///creditbook.db or "
            "postgresql://user@host/database)"
        ) from None
    try:
        kwargs.setdefault("pool_size", DEFAULT_POOL_SIZE)
        # A fixed pool: connections opened under load are kept for the next burst. (With
        # overflow, every connection beyond `pool_size` closed when handed back while the
        # pool was full: a server answering 32 clients opened a new one per request.)
        kwargs.setdefault("max_overflow", 0)
        if url.startswith("sqlite"):
            return _sqlite_engine(url, **kwargs)
        return create_engine(url, **kwargs)
    except NoSuchModuleError:
        raise DatabaseUrlError(f"{shown}: not a database creditbook knows") from None
    except ImportError as error:
        raise DatabaseUrlError(f"{shown}: its driver is not installed ({error})") from None


def _sqlite_engine(url: str, **kwargs: Any) -> Engine:
    if ":memory:" in url or url in ("sqlite://", "sqlite:///"):
        raise DatabaseUrlError("use a SQLite file: an in-memory database is one per connection")
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, record: Any) -> None:
        # Let SQLAlchemy's "begin" event own transactions instead of the driver.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()
        # Sums of millicredits that cannot overflow (creditbook.store.queries.sums). typeshed
        # says an aggregate's result is an int; SQLite takes text (or NULL) as well.
        dbapi_connection.create_aggregate(
            sums.SQLITE_FUNCTION,
            1,
            sums.SQLiteSum,  # type: ignore[arg-type]
        )

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        hot.begin(connection, read_only=bool(connection.get_execution_options().get(READ_ONLY)))

    return engine


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return config


def migrate(engine: Engine) -> tuple[str | None, str | None]:
    """Bring the schema to the newest migration (idempotent): the revisions before and
    after (before is None for a database that had no schema)."""
    with engine.begin() as connection:
        before = MigrationContext.configure(connection).get_current_revision()
        config = alembic_config(engine.url.render_as_string(hide_password=False))
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        after = MigrationContext.configure(connection).get_current_revision()
    return before, after
