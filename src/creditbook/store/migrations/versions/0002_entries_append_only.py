"""Entries are append-only: the database refuses to update or delete them.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

POSTGRES_FUNCTION = """
CREATE FUNCTION creditbook_entries_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'entries are append-only' USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql
"""


def upgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute(POSTGRES_FUNCTION)
        op.execute(
            "CREATE TRIGGER entries_append_only BEFORE UPDATE OR DELETE ON entries "
            "FOR EACH ROW EXECUTE FUNCTION creditbook_entries_append_only()"
        )
        return
    for action in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER entries_no_{action.lower()} BEFORE {action} ON entries "
            "BEGIN SELECT RAISE(ABORT, 'entries are append-only'); END"
        )


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP TRIGGER entries_append_only ON entries")
        op.execute("DROP FUNCTION creditbook_entries_append_only()")
        return
    for action in ("update", "delete"):
        op.execute(f"DROP TRIGGER entries_no_{action}")
