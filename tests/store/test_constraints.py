"""The database itself refuses rows that break the ledger's invariants, on both databases:
each named CHECK constraint refuses a bad row and lets a good one in."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from tests.conftest import START, postgres_server_url

from creditbook.store import schema
from creditbook.store.database import alembic_config, make_engine, migrate, normalise_url

_keys = itertools.count(1)

BASE: dict[str, dict[str, Any]] = {
    "plans": {"plan_id": "p", "version": 1, "body": {}, "updated_at": START},
    "rate_cards": {"rate_card_id": "r", "version": 1, "body": {}, "updated_at": START},
    "accounts": {
        "account_id": "a",
        "name": "n",
        "plan_id": "p",
        "timezone": "UTC",
        "anchor_at": START,
        "period_index": 0,
        "next_event_at": START,
        "last_seq": 0,
        "has_unpaid_bill": False,
        "metadata": {},
        "created_at": START,
    },
    "grants": {
        "account_id": "a",
        "grant_id": "g",
        "pool": "default",
        "source": "bonus",
        "priority": 10,
        "amount": 100,
        "remaining": 50,
        "effective_at": START,
        "expires_at": None,
        "period_index": None,
        "created_seq": 1,
        "closed_at": None,
        "description": "",
    },
    "transfers": {
        "account_id": "a",
        "seq": 1,
        "transfer_id": "t",
        "type": "DEDUCTION",
        "pool": "default",
        "amount": -100,
        "description": "",
        "created_at": START,
        "recorded_at": START,
        "linked_seq": None,
        "function": "",
        "module": "",
        "service": "",
        "user_id": "",
        "resource_id": "",
        "run_id": "",
        "hold_id": "",
        "quantity": 0,
        "refunded": 0,
    },
    "entries": {
        "account_id": "a",
        "seq": 1,
        "line": 0,
        "book": "spent",
        "grant_id": "",
        "hold_id": "",
        "amount": 5,
    },
    "holds": {
        "account_id": "a",
        "hold_id": "h",
        "pool": "default",
        "amount": 10,
        "remaining": 10,
        "status": "active",
        "run_id": "",
        "created_at": START,
        "expires_at": START,
        "closed_at": None,
    },
    "runs": {
        "account_id": "a",
        "run_id": "r",
        "rate_card_id": "r",
        "rate_card": {},
        "status": "running",
        "slots": 1,
        "hold_id": "",
        "active_filters": [],
        "user_id": "",
        "resource_id": "",
        "rows_kept": 0,
        "rows_discarded": {},
        "charged": 0,
        "started_at": START,
        "finished_at": None,
    },
    "run_lines": {
        "account_id": "a",
        "run_id": "r",
        "kind": "function",
        "name": "f",
        "attempts": 1,
        "quantity": 1,
        "amount": 1,
    },
    "rollups": {
        "account_id": "a",
        "day": date(2025, 1, 1),
        "pool": "default",
        "function": "f",
        "module": "",
        "service": "",
        "user_id": "",
        "resource_id": "",
        "amount": 1,
        "quantity": 1,
        "charges": 1,
    },
    "resources": {"account_id": "a", "resource_id": "r", "name": "n"},
    "idempotency": {
        "account_id": "a",
        "key": "k",
        "operation": "charge",
        "request_hash": "0" * 64,
        "response": {},
        "created_at": START,
    },
    "api_keys": {
        "account_id": "a",
        "key_id": "k",
        "scope": "account",
        "user_id": "",
        "name": "n",
        "secret_hash": "0" * 64,
        "created_at": START,
        "revoked_at": None,
    },
    "ended_sessions": {
        "account_id": "a",
        "session_id": "s",
        "key_id": "k",
        "ended_at": START,
        "expires_at": START,
    },
    "events": {
        "account_id": "a",
        "seq": 1,
        "event_id": "e",
        "type": "credits.granted",
        "pool": "default",
        "data": {},
        "transfer_id": "",
        "run_id": "",
        "created_at": START,
    },
    "webhook_endpoints": {
        "account_id": "",
        "endpoint_id": "we",
        "url": "https://example.com/hooks",
        "description": "",
        "event_types": ["*"],
        "secret": "whsec_c2VjcmV0",
        "previous_secret": "whsec_b2xk",
        "previous_secret_expires_at": START,
        "status": "enabled",
        "disabled_reason": "",
        "created_at": START,
        "updated_at": START,
    },
    "webhook_deliveries": {
        "account_id": "a",
        "delivery_id": "whd",
        "endpoint_id": "we",
        "event_seq": 1,
        "event_id": "e",
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": START,
        "first_attempt_at": None,
        "created_at": START,
    },
    "webhook_attempts": {
        "account_id": "a",
        "delivery_id": "whd",
        "attempt": 1,
        "attempted_at": START,
        "status_code": 500,
        "duration_ms": 3,
        "response": "",
        "error": "",
    },
    "credit_packs": {
        "pack_id": "p",
        "version": 1,
        "body": {},
        "updated_at": START,
    },
    "billing_profiles": {
        "account_id": "a",
        "customer_id": None,
        "payment_method_id": None,
        "auto_recharge": None,
        "paused_at": None,
        "paused_reason": None,
        "updated_at": START,
    },
    "payments": {
        "account_id": "a",
        "payment_id": "pay",
        "kind": "checkout",
        "stripe_object_id": "cs",
        "payment_intent_id": "pi",
        "customer_id": "cus",
        "pack_id": "p",
        "quantity": 1,
        "pool": "credits",
        "credits": 1000,
        "grant_id": "g",
        "transfer_id": "t",
        "currency": "usd",
        "amount_paid": 900,
        "amount_refunded": 0,
        "credits_refunded": 0,
        "credits_taken_back": 0,
        "dispute_id": None,
        "created_at": START,
        "updated_at": START,
    },
    "recharges": {
        "account_id": "a",
        "recharge_id": "r",
        "event_id": "e",
        "pack_id": "p",
        "status": "due",
        "payment_intent_id": None,
        "reason": "",
        "created_at": START,
        "updated_at": START,
    },
}

# The column that makes each row new (rows of one test share every other key column).
UNIQUE = {
    "plans": "plan_id",
    "rate_cards": "rate_card_id",
    "accounts": "account_id",
    "grants": "grant_id",
    "transfers": "seq",
    "entries": "seq",
    "holds": "hold_id",
    "runs": "run_id",
    "run_lines": "name",
    "rollups": "function",
    "resources": "resource_id",
    "idempotency": "key",
    "api_keys": "key_id",
    "ended_sessions": "session_id",
    "events": "seq",
    "webhook_endpoints": "endpoint_id",
    "webhook_deliveries": "delivery_id",
    "webhook_attempts": "attempt",
    "credit_packs": "pack_id",
    "billing_profiles": "account_id",
    "payments": "payment_id",
    "recharges": "recharge_id",
}
# Key columns that are numbers.
NUMBERED = {"seq", "attempt"}

Overrides = dict[str, Any]
# constraint: (table, bad rows, a good row close to them)
CASES: dict[str, tuple[str, list[Overrides], Overrides]] = {
    "ck_accounts_last_seq": ("accounts", [{"last_seq": -1}], {"last_seq": 0}),
    "ck_accounts_last_event_seq": ("accounts", [{"last_event_seq": -1}], {"last_event_seq": 0}),
    "ck_events_seq": ("events", [{"seq": 0}], {"seq": 1}),
    "ck_entries_amount": ("entries", [{"amount": 0}], {"amount": -1}),
    "ck_entries_book": ("entries", [{"book": "cash"}], {"book": "issued"}),
    "ck_entries_grant_line": (
        "entries",
        [{"book": "grant", "grant_id": ""}],
        {"book": "grant", "grant_id": "g"},
    ),
    "ck_entries_hold_line": (
        "entries",
        [
            {"book": "hold", "grant_id": "g", "hold_id": ""},
            {"book": "hold", "grant_id": "", "hold_id": "h"},
        ],
        {"book": "hold", "grant_id": "g", "hold_id": "h"},
    ),
    "ck_grants_overdraft_amount": (
        "grants",
        [{"source": "overdraft", "amount": 5, "remaining": 0}],
        {"source": "overdraft", "amount": 0, "min_remaining": -500, "remaining": -500},
    ),
    "ck_grants_priority": ("grants", [{"priority": -1}], {"priority": 0}),
    "ck_grants_remaining_ceiling": (
        "grants",
        [{"amount": 100, "remaining": 101}],
        # A refund after the debt was settled leaves the overdraft grant above zero.
        {"source": "overdraft", "amount": 0, "remaining": 30},
    ),
    "ck_grants_min_remaining": (
        "grants",
        [{"min_remaining": 1}, {"source": "allowance", "min_remaining": -1}],
        {"source": "overdraft", "amount": 0, "min_remaining": -500, "remaining": -500},
    ),
    "ck_grants_remaining_floor": (
        "grants",
        [
            {"remaining": -1},
            {"source": "allowance", "remaining": -1},
            {"source": "overdraft", "amount": 0, "min_remaining": -500, "remaining": -501},
        ],
        {"remaining": 0},
    ),
    "ck_grants_source": ("grants", [{"source": "gift"}], {"source": "top_up"}),
    "ck_holds_amount": ("holds", [{"amount": 0, "remaining": 0}], {"amount": 1, "remaining": 0}),
    "ck_holds_remaining_ceiling": (
        "holds",
        [{"amount": 10, "remaining": 11}],
        {"amount": 10, "remaining": 10},
    ),
    "ck_holds_remaining_floor": ("holds", [{"remaining": -1}], {"remaining": 0}),
    "ck_plans_version": ("plans", [{"version": 0}], {"version": 1}),
    "ck_rate_cards_version": ("rate_cards", [{"version": 0}], {"version": 1}),
    "ck_rollups_charges": ("rollups", [{"charges": -1}], {"charges": 0, "amount": -5}),
    "ck_run_lines_attempts": ("run_lines", [{"attempts": -1}], {"attempts": 0}),
    "ck_runs_charged": ("runs", [{"charged": -1}], {"charged": 0}),
    "ck_runs_rows_kept": ("runs", [{"rows_kept": -1}], {"rows_kept": 0}),
    "ck_runs_slots": ("runs", [{"slots": 0}], {"slots": 1}),
    "ck_transfers_refunded": (
        "transfers",
        [
            {"amount": -100, "refunded": 101},
            {"amount": -100, "refunded": -1},
            {"type": "BONUS", "amount": 100, "refunded": 1},
        ],
        {"amount": -100, "refunded": 100},
    ),
    "ck_transfers_seq": ("transfers", [{"seq": 0}], {"seq": 1}),
    "ck_webhook_endpoints_status": (
        "webhook_endpoints",
        [{"status": "paused"}],
        {"status": "disabled", "disabled_reason": "failing"},
    ),
    "ck_webhook_endpoints_disabled_reason": (
        "webhook_endpoints",
        [{"status": "enabled", "disabled_reason": "failing"}],
        {"status": "disabled", "disabled_reason": "failing"},
    ),
    "ck_webhook_endpoints_previous_secret": (
        "webhook_endpoints",
        [{"previous_secret": None}, {"previous_secret_expires_at": None}],
        {"previous_secret": None, "previous_secret_expires_at": None},
    ),
    "ck_webhook_deliveries_status": (
        "webhook_deliveries",
        [{"status": "lost", "next_attempt_at": None}],
        {"status": "failed", "next_attempt_at": None},
    ),
    "ck_webhook_deliveries_attempts": (
        "webhook_deliveries",
        [{"attempts": -1}],
        {"attempts": 0},
    ),
    "ck_webhook_deliveries_event_seq": (
        "webhook_deliveries",
        [{"event_seq": 0}],
        {"event_seq": 1},
    ),
    "ck_webhook_deliveries_next_attempt": (
        "webhook_deliveries",
        [{"status": "pending", "next_attempt_at": None}, {"status": "succeeded"}],
        {"status": "succeeded", "next_attempt_at": None},
    ),
    "ck_webhook_attempts_attempt": ("webhook_attempts", [{"attempt": 0}], {"attempt": 1}),
    "ck_webhook_attempts_duration_ms": (
        "webhook_attempts",
        [{"duration_ms": -1}],
        {"duration_ms": 0},
    ),
    "ck_webhook_attempts_status_code": (
        "webhook_attempts",
        [{"status_code": 99}, {"status_code": 600}],
        {"status_code": None},
    ),
    "ck_credit_packs_version": ("credit_packs", [{"version": 0}], {"version": 1}),
    "ck_billing_profiles_paused": (
        "billing_profiles",
        [{"paused_at": START}, {"paused_reason": "card declined"}],
        {"paused_at": START, "paused_reason": "card declined"},
    ),
    "ck_payments_kind": ("payments", [{"kind": "gift"}], {"kind": "auto_recharge"}),
    "ck_payments_quantity": ("payments", [{"quantity": 0}], {"quantity": 1}),
    "ck_payments_credits": ("payments", [{"credits": 0}], {"credits": 1}),
    "ck_payments_amount_paid": ("payments", [{"amount_paid": -1}], {"amount_paid": 0}),
    "ck_payments_amount_refunded": (
        "payments",
        [{"amount_refunded": 901}, {"amount_refunded": -1}],
        {"amount_refunded": 900},
    ),
    "ck_payments_credits_refunded": (
        "payments",
        [{"credits_refunded": 1001}, {"credits_refunded": -1}],
        {"credits_refunded": 1000},
    ),
    "ck_payments_credits_taken_back": (
        "payments",
        [{"credits_refunded": 10, "credits_taken_back": 11}, {"credits_taken_back": -1}],
        {"credits_refunded": 10, "credits_taken_back": 10},
    ),
    "ck_recharges_status": ("recharges", [{"status": "lost"}], {"status": "skipped"}),
}


def row(table: str, **overrides: Any) -> dict[str, Any]:
    key = UNIQUE[table]
    number = next(_keys)
    fresh: dict[str, Any] = {key: number if key in NUMBERED else f"x{number}"}
    if table == "webhook_deliveries":
        fresh["event_seq"] = number
    if table == "transfers":
        fresh["transfer_id"] = f"t{number}"
    if table == "events":
        fresh["event_id"] = f"e{number}"
    if table == "payments":
        fresh["stripe_object_id"] = f"cs{number}"
    if table == "recharges":
        fresh["event_id"] = f"e{number}"
    return {**BASE[table], **fresh, **overrides}


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    try:
        yield engine
    finally:
        engine.dispose()


def insert(engine: Engine, table: str, values: dict[str, Any]) -> None:
    with engine.begin() as connection:
        connection.execute(schema.metadata.tables[table].insert(), values)


def test_every_declared_check_has_a_case() -> None:
    declared = {name for names in schema.CHECKS.values() for name in names}
    assert declared == set(CASES)


@pytest.mark.parametrize("constraint", sorted(CASES))
def test_the_database_refuses_a_row_that_breaks_the_check(engine: Engine, constraint: str) -> None:
    table, bad_rows, good = CASES[constraint]
    assert constraint in schema.CHECKS[table]
    insert(engine, table, row(table, **good))
    for bad in bad_rows:
        with pytest.raises(IntegrityError, match=constraint):
            insert(engine, table, row(table, **bad))


@pytest.mark.parametrize("table", sorted(schema.SQLITE_LENGTH_CHECKS))
def test_bounded_text_columns_refuse_longer_values(engine: Engine, table: str) -> None:
    """SQLite by its length checks, PostgreSQL by the VARCHAR type itself."""
    columns = schema.metadata.tables[table].columns
    bounded = [c for c in columns if isinstance(c.type, schema.String) and c.type.length]
    assert {f"ck_{table}_{c.name}_length" for c in bounded} == set(
        schema.SQLITE_LENGTH_CHECKS[table]
    )
    for column in bounded:
        length = column.type.length
        assert length is not None
        # A source, a book, a webhook or recharge status and a payment's kind are also checked
        # against their known values, which refuse both.
        enumerated = column.name in ("source", "book") or (
            (table.startswith("webhook_") or table == "recharges") and column.name == "status"
        )
        enumerated = enumerated or (table, column.name) == ("payments", "kind")
        if not enumerated:
            insert(engine, table, row(table, **{column.name: "y" * length}))
        too_long = row(table, **{column.name: "z" * (length + 1)})
        with pytest.raises((IntegrityError, DataError)) as caught:
            insert(engine, table, too_long)
        if engine.dialect.name == "sqlite" and not enumerated:
            assert f"ck_{table}_{column.name}_length" in str(caught.value)


def test_a_transfer_id_names_one_transfer_of_the_whole_ledger(engine: Engine) -> None:
    """Since migration 0013 an id taken by a transfer of one account is refused in any
    other account too: the operator's refund finds a transfer by its id alone."""
    first = row("transfers", account_id="a")
    insert(engine, "transfers", first)
    with pytest.raises(IntegrityError, match=r"uq_transfers_transfer_id|transfers\.transfer_id"):
        insert(
            engine, "transfers", row("transfers", account_id="b", transfer_id=first["transfer_id"])
        )
    insert(engine, "transfers", row("transfers", account_id="b"))


def check_names(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            query = "SELECT conname FROM pg_constraint WHERE contype = 'c'"
            return set(connection.execute(text(query)).scalars())
        inspector = inspect(connection)
        return {
            str(check["name"])
            for table in inspector.get_table_names()
            for check in inspector.get_check_constraints(table)
        }


def expected_checks(dialect: str) -> set[str]:
    groups = [schema.CHECKS]
    if dialect == "sqlite":
        groups.append(schema.SQLITE_LENGTH_CHECKS)
    return {name for group in groups for names in group.values() for name in names}


def test_pg_constraint_lists_every_named_check(postgres_database_url: str) -> None:
    engine = make_engine(postgres_database_url)
    try:
        assert expected_checks("postgresql") <= check_names(engine)
    finally:
        engine.dispose()


def test_migrations_add_the_declared_checks_on_sqlite(tmp_path: Path) -> None:
    """The migrated schema carries the same named checks, with the same conditions, as the
    schema the code declares."""
    migrated = make_engine(f"sqlite:///{tmp_path}/migrated.db")
    declared = make_engine(f"sqlite:///{tmp_path}/declared.db")
    try:
        migrate(migrated)
        schema.metadata.create_all(declared)
        found = []
        for engine in (migrated, declared):
            with engine.connect() as connection:
                inspector = inspect(connection)
                found.append(
                    {
                        (table, check["name"], " ".join(check["sqltext"].split()))
                        for table in schema.metadata.tables
                        for check in inspector.get_check_constraints(table)
                    }
                )
        assert found[0] == found[1]
        assert {name for _, name, _ in found[0]} == expected_checks("sqlite")
    finally:
        migrated.dispose()
        declared.dispose()


@pytest.fixture
def fresh_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database, not yet migrated, of the backend the test is parametrised with."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/fresh.db"
        return
    server = postgres_server_url()
    if server is None:
        pytest.skip("PostgreSQL tests need CREDITBOOK_TEST_POSTGRES_URL (not set)")
    admin = create_engine(normalise_url(server), isolation_level="AUTOCOMMIT")
    name = f"creditbook_checks_{secrets.token_hex(6)}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(normalise_url(server)).set(database=name).render_as_string(False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.parametrize("fresh_database_url", ["sqlite", "postgresql"], indirect=True)
def test_downgrade_drops_the_checks_and_keeps_entries_append_only(
    fresh_database_url: str,
) -> None:
    engine = make_engine(fresh_database_url)
    try:
        migrate(engine)
        with engine.begin() as connection:
            config = alembic_config(fresh_database_url)
            config.attributes["connection"] = connection
            command.downgrade(config, "0006")
        assert not expected_checks(engine.dialect.name) & check_names(engine)
        negative = row("grants", remaining=-1)
        insert(engine, "grants", negative)  # no check any more
        with engine.begin() as connection:
            grants = schema.grants.c
            connection.execute(
                schema.grants.delete().where(grants.grant_id == negative["grant_id"])
            )
        migrate(engine)
        assert expected_checks(engine.dialect.name) <= check_names(engine)
        insert(engine, "entries", row("entries"))
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(schema.entries.update().values(amount=6))
        with pytest.raises(IntegrityError, match="remaining_floor"):
            insert(engine, "grants", row("grants", remaining=-1))
    finally:
        engine.dispose()


@pytest.mark.parametrize("fresh_database_url", ["sqlite", "postgresql"], indirect=True)
def test_upgrade_sets_each_overdraft_floor_from_its_plan(fresh_database_url: str) -> None:
    """Migration 0008 gives existing overdraft grants minus their plan's limit as their floor,
    or their debt where a lowered limit left it deeper."""
    engine = make_engine(fresh_database_url)
    try:
        with engine.begin() as connection:
            config = alembic_config(fresh_database_url)
            config.attributes["connection"] = connection
            command.upgrade(config, "0007")
        insert(engine, "plans", row("plans", plan_id="od", body={"overdraft": 5_000}))
        owing = {"source": "overdraft", "amount": 0, "pool": "credits"}
        for account, remaining in (("deep", -7_000), ("fresh", 0)):
            insert(engine, "accounts", row("accounts", account_id=account, plan_id="od"))
            insert(
                engine, "grants", row("grants", account_id=account, remaining=remaining, **owing)
            )
        insert(engine, "grants", row("grants", account_id="fresh", remaining=30))
        migrate(engine)
        with engine.connect() as connection:
            floors = connection.execute(
                text("SELECT account_id, source, min_remaining FROM grants ORDER BY 1, 2")
            ).all()
        assert [tuple(found) for found in floors] == [
            ("deep", "overdraft", -7_000),
            ("fresh", "bonus", 0),
            ("fresh", "overdraft", -5_000),
        ]
    finally:
        engine.dispose()
