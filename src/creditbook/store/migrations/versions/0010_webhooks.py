"""webhooks: the endpoints events go to, one delivery per endpoint and event, and every
attempt made to deliver it

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import creditbook.store.schema

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

SQLITE_LENGTHS = {
    "webhook_endpoints": (
        ("account_id", 64),
        ("endpoint_id", 64),
        ("url", 2048),
        ("secret", 128),
        ("previous_secret", 128),
        ("status", 16),
    ),
    "webhook_deliveries": (
        ("account_id", 64),
        ("delivery_id", 64),
        ("endpoint_id", 64),
        ("event_id", 64),
        ("status", 16),
    ),
    "webhook_attempts": (("account_id", 64), ("delivery_id", 64), ("response", 500)),
}
CHECKS = {
    "webhook_endpoints": (
        ("status", "status IN ('enabled', 'disabled')"),
        ("disabled_reason", "status = 'disabled' OR disabled_reason = ''"),
        ("previous_secret", "(previous_secret IS NULL) = (previous_secret_expires_at IS NULL)"),
    ),
    "webhook_deliveries": (
        ("status", "status IN ('pending', 'succeeded', 'failed')"),
        ("attempts", "attempts >= 0"),
        ("event_seq", "event_seq >= 1"),
        ("next_attempt", "(status = 'pending') = (next_attempt_at IS NOT NULL)"),
    ),
    "webhook_attempts": (
        ("attempt", "attempt >= 1"),
        ("duration_ms", "duration_ms >= 0"),
        ("status_code", "status_code IS NULL OR status_code BETWEEN 100 AND 599"),
    ),
}


def _checks(table: str, sqlite: bool) -> list[sa.CheckConstraint]:
    checks = [
        sa.CheckConstraint(condition, name=op.f(f"ck_{table}_{name}"))
        for name, condition in CHECKS[table]
    ]
    if sqlite:
        checks.extend(
            sa.CheckConstraint(
                f'length("{name}") <= {length}', name=op.f(f"ck_{table}_{name}_length")
            )
            for name, length in SQLITE_LENGTHS[table]
        )
    return checks


def upgrade() -> None:
    sqlite = op.get_context().dialect.name == "sqlite"
    UTCDateTime = creditbook.store.schema.UTCDateTime
    op.create_table(
        "webhook_endpoints",
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("endpoint_id", sa.String(length=64), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("event_types", sa.JSON(), nullable=False),
        sa.Column("secret", sa.String(length=128), nullable=False),
        sa.Column("previous_secret", sa.String(length=128), nullable=True),
        sa.Column("previous_secret_expires_at", UTCDateTime(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("disabled_reason", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        *_checks("webhook_endpoints", sqlite),
        sa.PrimaryKeyConstraint("account_id", "endpoint_id", name=op.f("pk_webhook_endpoints")),
    )
    op.create_index(
        "ix_webhook_endpoints_by_endpoint_id", "webhook_endpoints", ["endpoint_id"], unique=True
    )
    op.create_index(
        "ix_webhook_endpoints_created", "webhook_endpoints", ["created_at", "endpoint_id"]
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("delivery_id", sa.String(length=64), nullable=False),
        sa.Column("endpoint_id", sa.String(length=64), nullable=False),
        sa.Column("event_seq", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("first_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        *_checks("webhook_deliveries", sqlite),
        sa.PrimaryKeyConstraint("account_id", "delivery_id", name=op.f("pk_webhook_deliveries")),
        sa.UniqueConstraint(
            "endpoint_id", "account_id", "event_seq", name="uq_webhook_deliveries_event"
        ),
    )
    op.create_index(
        "ix_webhook_deliveries_by_delivery_id", "webhook_deliveries", ["delivery_id"], unique=True
    )
    op.create_index(
        "ix_webhook_deliveries_pending",
        "webhook_deliveries",
        ["status", "endpoint_id", "account_id", "event_seq"],
    )
    op.create_index(
        "ix_webhook_deliveries_due", "webhook_deliveries", ["status", "next_attempt_at"]
    )
    op.create_index(
        "ix_webhook_deliveries_endpoint",
        "webhook_deliveries",
        ["endpoint_id", "created_at", "delivery_id"],
    )
    op.create_table(
        "webhook_attempts",
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("delivery_id", sa.String(length=64), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("attempted_at", UTCDateTime(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("response", sa.String(length=500), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        *_checks("webhook_attempts", sqlite),
        sa.PrimaryKeyConstraint(
            "account_id", "delivery_id", "attempt", name=op.f("pk_webhook_attempts")
        ),
    )


def downgrade() -> None:
    op.drop_table("webhook_attempts")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_endpoints")
