"""The Alembic migrations build exactly the schema the code declares, on both databases."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import DBAPIError

from creditbook.store import schema
from creditbook.store.database import make_engine, migrate


def test_migrated_schema_matches_the_declared_one(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, schema.metadata)
            tables = set(inspect(connection).get_table_names())
        assert differences == []
        assert set(schema.metadata.tables) <= tables
        migrate(engine)  # a second upgrade is a no-op
    finally:
        engine.dispose()


def test_partial_indexes_are_partial_in_the_database(database_url: str) -> None:
    """Alembic's comparison does not look at an index's condition: every declared index
    is checked here, its WHERE in the migrated database as declared (or absent)."""
    engine = make_engine(database_url)
    dialect = engine.dialect.name
    definitions = (
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = :name"
        if dialect == "sqlite"
        else "SELECT indexdef FROM pg_indexes WHERE indexname = :name"
    )
    partial = set()
    try:
        with engine.connect() as connection:
            for table in schema.metadata.sorted_tables:
                for index in table.indexes:
                    condition = index.dialect_options[dialect]["where"]
                    definition = connection.execute(
                        text(definitions), {"name": index.name}
                    ).scalar_one()
                    where = definition.partition(" WHERE ")[2]
                    if condition is None:
                        assert where == "", index.name
                    else:
                        partial.add(index.name)
                        column = str(condition).partition(" ")[0]
                        assert column in where and "''" in where, (index.name, definition)
    finally:
        engine.dispose()
    assert partial == {"ix_entries_grant_seq", "ix_entries_hold", "ix_transfers_run"}


def test_every_account_table_leads_its_key_with_account_id() -> None:
    reference = {"plans", "rate_cards", "credit_packs"}
    for table in schema.metadata.sorted_tables:
        if table.name in reference:
            continue
        assert table.primary_key.columns.keys()[0] == "account_id", table.name


def test_sqlite_runs_in_wal_with_foreign_keys(tmp_path: pytest.TempPathFactory) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/x.db")
    try:
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 30000
    finally:
        engine.dispose()


def test_in_memory_sqlite_is_refused() -> None:
    with pytest.raises(ValueError, match="SQLite file"):
        make_engine("sqlite://")


def test_entries_are_append_only_in_the_database(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                schema.entries.insert(),
                {
                    "account_id": "a",
                    "seq": 1,
                    "line": 0,
                    "book": "issued",
                    "grant_id": "",
                    "hold_id": "",
                    "amount": 7,
                },
            )
        for statement in (
            schema.entries.update().values(amount=5),
            schema.entries.delete(),
        ):
            with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
                connection.execute(statement)
        with engine.connect() as connection:
            amounts = connection.execute(select(schema.entries.c.amount)).scalars().all()
        assert amounts == [7]
    finally:
        engine.dispose()


def test_the_tables_a_charge_updates_leave_room_on_postgres(postgres_database_url: str) -> None:
    """Storage parameters are not in Alembic's comparison either: each table's fill factor
    in the migrated database is the declared one (PostgreSQL's default of 100 elsewhere)."""
    engine = make_engine(postgres_database_url)
    try:
        with engine.connect() as connection:
            found = dict(
                connection.execute(
                    text(
                        "SELECT relname, reloptions FROM pg_class"
                        " WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace"
                    )
                ).all()
            )
    finally:
        engine.dispose()
    declared = {table: [f"fillfactor={value}"] for table, value in schema.FILLFACTOR.items()}
    assert {table: options for table, options in found.items() if options} == declared
    assert set(schema.metadata.tables) <= set(found)
