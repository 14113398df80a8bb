"""Entries never move zero credits, and the overdraft grant never goes below its floor: a new
`grants.min_remaining` column (0 for every grant but the overdraft grant, whose floor is minus
the plan's overdraft limit) and the check `remaining >= min_remaining` in place of
`remaining >= 0 OR source = 'overdraft'`

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

OLD_FLOOR = "remaining >= 0 OR source = 'overdraft'"
NEW_CHECKS = {
    "grants": (
        (
            "ck_grants_min_remaining",
            "min_remaining <= 0 AND (min_remaining = 0 OR source = 'overdraft')",
        ),
        ("ck_grants_remaining_floor", "remaining >= min_remaining"),
    ),
    "entries": (("ck_entries_amount", "amount <> 0"),),
}
# As migration 0002 created them (SQLite drops a table's triggers with the table).
SQLITE_ENTRY_TRIGGERS = tuple(
    f"CREATE TRIGGER entries_no_{action.lower()} BEFORE {action} ON entries "
    "BEGIN SELECT RAISE(ABORT, 'entries are append-only'); END"
    for action in ("UPDATE", "DELETE")
)


def _set_overdraft_floors() -> None:
    """Each overdraft grant's floor: minus its plan's limit, or its debt if that is deeper
    (a plan whose limit was lowered after the account borrowed)."""
    connection = op.get_bind()
    for plan_id, body in connection.execute(sa.text("SELECT plan_id, body FROM plans")):
        plan: dict[str, Any] = json.loads(body) if isinstance(body, str) else body
        connection.execute(
            sa.text(
                "UPDATE grants SET min_remaining = CASE WHEN remaining < :floor "
                "THEN remaining ELSE :floor END "
                "WHERE source = 'overdraft' AND account_id IN "
                "(SELECT account_id FROM accounts WHERE plan_id = :plan_id)"
            ),
            {"floor": -int(plan["overdraft"]), "plan_id": plan_id},
        )


def upgrade() -> None:
    sqlite = op.get_context().dialect.name == "sqlite"
    column = sa.Column("min_remaining", sa.BigInteger(), nullable=False, server_default="0")
    if not sqlite:
        op.add_column("grants", column)
        _set_overdraft_floors()
        op.drop_constraint(op.f("ck_grants_remaining_floor"), "grants", type_="check")
        for table, checks in NEW_CHECKS.items():
            for name, condition in checks:
                op.create_check_constraint(op.f(name), table, condition)
        return
    with op.batch_alter_table("grants") as batch_op:
        batch_op.add_column(column)
    _set_overdraft_floors()
    with op.batch_alter_table("grants", recreate="always") as batch_op:
        batch_op.drop_constraint(op.f("ck_grants_remaining_floor"), type_="check")
        for name, condition in NEW_CHECKS["grants"]:
            batch_op.create_check_constraint(op.f(name), condition)
    with op.batch_alter_table("entries", recreate="always") as batch_op:
        for name, condition in NEW_CHECKS["entries"]:
            batch_op.create_check_constraint(op.f(name), condition)
    for statement in SQLITE_ENTRY_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    sqlite = op.get_context().dialect.name == "sqlite"
    if not sqlite:
        for table, checks in NEW_CHECKS.items():
            for name, _ in checks:
                op.drop_constraint(op.f(name), table, type_="check")
        op.create_check_constraint(op.f("ck_grants_remaining_floor"), "grants", OLD_FLOOR)
        op.drop_column("grants", "min_remaining")
        return
    with op.batch_alter_table("grants", recreate="always") as batch_op:
        for name, _ in NEW_CHECKS["grants"]:
            batch_op.drop_constraint(op.f(name), type_="check")
        batch_op.drop_column("min_remaining")
        batch_op.create_check_constraint(op.f("ck_grants_remaining_floor"), OLD_FLOOR)
    with op.batch_alter_table("entries", recreate="always") as batch_op:
        for name, _ in NEW_CHECKS["entries"]:
            batch_op.drop_constraint(op.f(name), type_="check")
    for statement in SQLITE_ENTRY_TRIGGERS:
        op.execute(statement)
