"""CHECK constraints back the invariants the engine keeps; on SQLite, bounded text columns
also get a length check, as SQLite does not enforce `VARCHAR(n)`

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

CHECKS: dict[str, tuple[tuple[str, str], ...]] = {
    "accounts": (("ck_accounts_last_seq", "last_seq >= 0"),),
    "entries": (
        ("ck_entries_book", "book IN ('grant', 'hold', 'issued', 'spent', 'expired')"),
        ("ck_entries_grant_line", "book <> 'grant' OR grant_id <> ''"),
        ("ck_entries_hold_line", "book <> 'hold' OR (hold_id <> '' AND grant_id <> '')"),
    ),
    "grants": (
        ("ck_grants_overdraft_amount", "source <> 'overdraft' OR amount = 0"),
        ("ck_grants_priority", "priority >= 0"),
        ("ck_grants_remaining_ceiling", "remaining <= amount OR source = 'overdraft'"),
        ("ck_grants_remaining_floor", "remaining >= 0 OR source = 'overdraft'"),
        (
            "ck_grants_source",
            "source IN ('allowance', 'bonus', 'rollover', 'top_up', 'adjustment', 'overdraft')",
        ),
    ),
    "holds": (
        ("ck_holds_amount", "amount > 0"),
        ("ck_holds_remaining_ceiling", "remaining <= amount"),
        ("ck_holds_remaining_floor", "remaining >= 0"),
    ),
    "plans": (("ck_plans_version", "version >= 1"),),
    "rate_cards": (("ck_rate_cards_version", "version >= 1"),),
    "rollups": (("ck_rollups_charges", "charges >= 0"),),
    "run_lines": (("ck_run_lines_attempts", "attempts >= 0"),),
    "runs": (
        ("ck_runs_charged", "charged >= 0"),
        ("ck_runs_rows_kept", "rows_kept >= 0"),
        ("ck_runs_slots", "slots >= 1"),
    ),
    "transfers": (
        ("ck_transfers_refunded", "refunded = 0 OR (refunded > 0 AND refunded <= -amount)"),
        ("ck_transfers_seq", "seq >= 1"),
    ),
}

# SQLite only: the declared length of every bounded text column.
LENGTHS: dict[str, dict[str, int]] = {
    "accounts": {"account_id": 64, "name": 200, "plan_id": 64, "timezone": 64},
    "api_keys": {
        "account_id": 64,
        "key_id": 64,
        "scope": 16,
        "user_id": 64,
        "name": 200,
        "secret_hash": 64,
    },
    "ended_sessions": {"account_id": 64, "session_id": 64, "key_id": 64},
    "entries": {"account_id": 64, "book": 16, "grant_id": 64, "hold_id": 64},
    "grants": {"account_id": 64, "grant_id": 64, "pool": 64, "source": 16},
    "holds": {"account_id": 64, "hold_id": 64, "pool": 64, "status": 16, "run_id": 64},
    "idempotency": {"account_id": 64, "key": 255, "operation": 64, "request_hash": 64},
    "plans": {"plan_id": 64},
    "rate_cards": {"rate_card_id": 64},
    "resources": {"account_id": 64, "resource_id": 64, "name": 200},
    "rollups": {
        "account_id": 64,
        "pool": 64,
        "function": 64,
        "module": 64,
        "service": 64,
        "user_id": 64,
        "resource_id": 64,
    },
    "run_lines": {"account_id": 64, "run_id": 64, "kind": 16, "name": 64},
    "runs": {
        "account_id": 64,
        "run_id": 64,
        "rate_card_id": 64,
        "status": 16,
        "hold_id": 64,
        "user_id": 64,
        "resource_id": 64,
    },
    "transfers": {
        "account_id": 64,
        "transfer_id": 64,
        "type": 16,
        "pool": 64,
        "function": 64,
        "module": 64,
        "service": 64,
        "user_id": 64,
        "resource_id": 64,
        "run_id": 64,
        "hold_id": 64,
    },
}

# As migration 0002 created them: SQLite drops a table's triggers with the table, and batch
# mode adds a constraint by copying the table.
SQLITE_ENTRY_TRIGGERS = tuple(
    f"CREATE TRIGGER entries_no_{action.lower()} BEFORE {action} ON entries "
    "BEGIN SELECT RAISE(ABORT, 'entries are append-only'); END"
    for action in ("UPDATE", "DELETE")
)


def _sqlite_checks(table: str) -> list[tuple[str, str]]:
    lengths = [
        (f"ck_{table}_{column}_length", f'length("{column}") <= {length}')
        for column, length in LENGTHS.get(table, {}).items()
    ]
    return [*CHECKS.get(table, ()), *lengths]


def _sqlite_tables() -> list[str]:
    return sorted(set(CHECKS) | set(LENGTHS))


def upgrade() -> None:
    if op.get_context().dialect.name != "sqlite":
        for table, checks in CHECKS.items():
            for name, condition in checks:
                op.create_check_constraint(op.f(name), table, condition)
        return
    for table in _sqlite_tables():
        with op.batch_alter_table(table, recreate="always") as batch_op:
            for name, condition in _sqlite_checks(table):
                batch_op.create_check_constraint(op.f(name), condition)
    for statement in SQLITE_ENTRY_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_context().dialect.name != "sqlite":
        for table, checks in CHECKS.items():
            for name, _ in checks:
                op.drop_constraint(op.f(name), table, type_="check")
        return
    for table in _sqlite_tables():
        with op.batch_alter_table(table, recreate="always") as batch_op:
            for name, _ in _sqlite_checks(table):
                batch_op.drop_constraint(op.f(name), type_="check")
    for statement in SQLITE_ENTRY_TRIGGERS:
        op.execute(statement)
