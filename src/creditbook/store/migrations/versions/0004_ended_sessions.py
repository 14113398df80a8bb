"""ended dashboard sessions: a signed-out session's cookie is refused

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import creditbook.store.schema

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ended_sessions",
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("ended_at", creditbook.store.schema.UTCDateTime(), nullable=False),
        sa.Column("expires_at", creditbook.store.schema.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "session_id", name=op.f("pk_ended_sessions")),
    )


def downgrade() -> None:
    op.drop_table("ended_sessions")
