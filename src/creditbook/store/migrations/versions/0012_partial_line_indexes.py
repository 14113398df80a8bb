"""partial indexes where the key is mostly empty: entries by grant and by hold only for
lines that name one, transfers by run only for transfers of a run; a plain charge then
writes three index entries fewer

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# (table, index, columns, the column whose empty value the index leaves out)
INDEXES = (
    ("entries", "ix_entries_grant_seq", ["account_id", "grant_id", "seq"], "grant_id"),
    ("entries", "ix_entries_hold", ["account_id", "hold_id"], "hold_id"),
    ("transfers", "ix_transfers_run", ["account_id", "run_id"], "run_id"),
)


# Plain index operations, not batch mode: on SQLite a batch that chose to copy the table
# would drop the append-only triggers of entries.
def upgrade() -> None:
    for table, name, columns, column in INDEXES:
        condition = sa.text(f"{column} <> ''")
        op.drop_index(name, table_name=table)
        op.create_index(name, table, columns, sqlite_where=condition, postgresql_where=condition)


def downgrade() -> None:
    for table, name, columns, _ in INDEXES:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, columns)
