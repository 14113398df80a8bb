"""entries of a grant in transfer order: (account_id, grant_id, seq), so the draws on a
grant since a transfer are read without its whole history

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


# Plain index operations, not batch mode: on SQLite a batch that chose to copy the table
# would drop the append-only triggers of entries.
def upgrade() -> None:
    op.drop_index("ix_entries_grant", table_name="entries")
    op.create_index("ix_entries_grant_seq", "entries", ["account_id", "grant_id", "seq"])


def downgrade() -> None:
    op.drop_index("ix_entries_grant_seq", table_name="entries")
    op.create_index("ix_entries_grant", "entries", ["account_id", "grant_id"])
