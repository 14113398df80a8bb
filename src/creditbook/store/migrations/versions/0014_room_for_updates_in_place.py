"""PostgreSQL: the tables every charge updates (accounts, grants, rollups) fill their pages
to 80%, so that an updated row usually fits beside its old version and the update stays
heap-only (no new index entries); nothing on SQLite

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

TABLES = ("accounts", "grants", "rollups")
FILLFACTOR = 80


# Setting a storage parameter rewrites nothing: pages written from now on keep the room, and
# pages already full make room as their old row versions are pruned.
def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} SET (fillfactor = {FILLFACTOR})")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
