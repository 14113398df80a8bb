"""a transfer id is unique in the whole ledger: one unique index on `transfer_id` takes the
place of the unique (account_id, transfer_id) and of the plain index on `transfer_id`, so a
transfer writes one index entry fewer

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

UNIQUE = "uq_transfers_transfer_id"
BY_ID = "ix_transfers_by_transfer_id"


# Batch mode: SQLite drops a table's unique constraint only by copying the table (transfers
# has no triggers to create again). Every id the engine made is a fresh random `txn_` id, so
# no two transfers share one.
def upgrade() -> None:
    with op.batch_alter_table("transfers") as batch_op:
        batch_op.drop_constraint(UNIQUE, type_="unique")
        batch_op.drop_index(BY_ID)
        batch_op.create_unique_constraint(UNIQUE, ["transfer_id"])


def downgrade() -> None:
    with op.batch_alter_table("transfers") as batch_op:
        batch_op.drop_constraint(UNIQUE, type_="unique")
        batch_op.create_unique_constraint(UNIQUE, ["account_id", "transfer_id"])
        batch_op.create_index(BY_ID, ["transfer_id"])
