"""events as ledger facts: the `events` outbox, numbered per account by
`accounts.last_event_seq`; the account's alert rules and state in `accounts.alerts`; and
`grants.expiry_noticed`, set once a grant's `credits.expiring` event went out

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import creditbook.store.schema

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

SQLITE_LENGTHS = (
    ("account_id", 64),
    ("event_id", 64),
    ("type", 64),
    ("pool", 64),
    ("transfer_id", 64),
    ("run_id", 64),
)


def upgrade() -> None:
    sqlite = op.get_context().dialect.name == "sqlite"
    checks = [sa.CheckConstraint("seq >= 1", name=op.f("ck_events_seq"))]
    if sqlite:
        checks.extend(
            sa.CheckConstraint(
                f'length("{name}") <= {length}', name=op.f(f"ck_events_{name}_length")
            )
            for name, length in SQLITE_LENGTHS
        )
    op.create_table(
        "events",
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("pool", sa.String(length=64), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("transfer_id", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", creditbook.store.schema.UTCDateTime(), nullable=False),
        sa.Column("dispatched", sa.Boolean(), nullable=False, server_default=sa.false()),
        *checks,
        sa.PrimaryKeyConstraint("account_id", "seq", name=op.f("pk_events")),
    )
    op.create_index("ix_events_by_event_id", "events", ["event_id"], unique=True)
    op.create_index("ix_events_created", "events", ["created_at", "account_id", "seq"])
    op.create_index("ix_events_type", "events", ["account_id", "type", "seq"])
    op.create_index("ix_events_undispatched", "events", ["dispatched", "created_at"])
    with op.batch_alter_table("accounts") as batch_op:
        batch_op.add_column(sa.Column("alerts", sa.JSON(), nullable=False, server_default="{}"))
        batch_op.add_column(
            sa.Column("last_event_seq", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.create_check_constraint(op.f("ck_accounts_last_event_seq"), "last_event_seq >= 0")
    with op.batch_alter_table("grants") as batch_op:
        batch_op.add_column(
            sa.Column("expiry_noticed", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("grants") as batch_op:
        batch_op.drop_column("expiry_noticed")
    with op.batch_alter_table("accounts") as batch_op:
        batch_op.drop_constraint(op.f("ck_accounts_last_event_seq"), type_="check")
        batch_op.drop_column("last_event_seq")
        batch_op.drop_column("alerts")
    op.drop_table("events")
