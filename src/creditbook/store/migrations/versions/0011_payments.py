"""payments: credit packs, each account's Stripe customer and auto-recharge, purchases
fulfilled once per Stripe object, and recharges started once per crossing

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import creditbook.store.schema

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

SQLITE_LENGTHS = {
    "credit_packs": (("pack_id", 64),),
    "billing_profiles": (
        ("account_id", 64),
        ("customer_id", 255),
        ("payment_method_id", 255),
    ),
    "payments": (
        ("account_id", 64),
        ("payment_id", 64),
        ("kind", 16),
        ("stripe_object_id", 255),
        ("payment_intent_id", 255),
        ("customer_id", 255),
        ("pack_id", 64),
        ("pool", 64),
        ("grant_id", 64),
        ("transfer_id", 64),
        ("currency", 3),
        ("dispute_id", 255),
    ),
    "recharges": (
        ("account_id", 64),
        ("recharge_id", 64),
        ("event_id", 64),
        ("pack_id", 64),
        ("status", 16),
        ("payment_intent_id", 255),
    ),
}
CHECKS = {
    "credit_packs": (("version", "version >= 1"),),
    "billing_profiles": (("paused", "(paused_at IS NULL) = (paused_reason IS NULL)"),),
    "payments": (
        ("kind", "kind IN ('checkout', 'auto_recharge')"),
        ("quantity", "quantity >= 1"),
        ("credits", "credits > 0"),
        ("amount_paid", "amount_paid >= 0"),
        ("amount_refunded", "amount_refunded BETWEEN 0 AND amount_paid"),
        ("credits_refunded", "credits_refunded BETWEEN 0 AND credits"),
        ("credits_taken_back", "credits_taken_back BETWEEN 0 AND credits_refunded"),
    ),
    "recharges": (("status", "status IN ('due', 'requested', 'succeeded', 'failed', 'skipped')"),),
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
        "credit_packs",
        sa.Column("pack_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        *_checks("credit_packs", sqlite),
        sa.PrimaryKeyConstraint("pack_id", name=op.f("pk_credit_packs")),
    )
    op.create_table(
        "billing_profiles",
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=255), nullable=True),
        sa.Column("payment_method_id", sa.String(length=255), nullable=True),
        sa.Column("auto_recharge", sa.JSON(), nullable=True),
        sa.Column("paused_at", UTCDateTime(), nullable=True),
        sa.Column("paused_reason", sa.Text(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        *_checks("billing_profiles", sqlite),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_billing_profiles")),
    )
    op.create_index(
        "ix_billing_profiles_by_customer_id", "billing_profiles", ["customer_id"], unique=True
    )
    op.create_table(
        "payments",
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("payment_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("stripe_object_id", sa.String(length=255), nullable=False),
        sa.Column("payment_intent_id", sa.String(length=255), nullable=True),
        sa.Column("customer_id", sa.String(length=255), nullable=True),
        sa.Column("pack_id", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("pool", sa.String(length=64), nullable=False),
        sa.Column("credits", sa.BigInteger(), nullable=False),
        sa.Column("grant_id", sa.String(length=64), nullable=False),
        sa.Column("transfer_id", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount_paid", sa.BigInteger(), nullable=False),
        sa.Column("amount_refunded", sa.BigInteger(), nullable=False),
        sa.Column("credits_refunded", sa.BigInteger(), nullable=False),
        sa.Column("credits_taken_back", sa.BigInteger(), nullable=False),
        sa.Column("dispute_id", sa.String(length=255), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        *_checks("payments", sqlite),
        sa.PrimaryKeyConstraint("account_id", "payment_id", name=op.f("pk_payments")),
    )
    op.create_index(
        "ix_payments_by_stripe_object_id", "payments", ["stripe_object_id"], unique=True
    )
    op.create_index("ix_payments_by_payment_intent_id", "payments", ["payment_intent_id"])
    op.create_index("ix_payments_by_payment_id", "payments", ["payment_id"], unique=True)
    op.create_index("ix_payments_created", "payments", ["account_id", "created_at"])
    op.create_table(
        "recharges",
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("recharge_id", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("pack_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("payment_intent_id", sa.String(length=255), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        *_checks("recharges", sqlite),
        sa.PrimaryKeyConstraint("account_id", "recharge_id", name=op.f("pk_recharges")),
    )
    op.create_index("ix_recharges_by_event_id", "recharges", ["event_id"], unique=True)
    op.create_index("ix_recharges_status", "recharges", ["status", "created_at"])
    op.create_index("ix_recharges_account", "recharges", ["account_id", "created_at"])


def downgrade() -> None:
    op.drop_table("recharges")
    op.drop_table("payments")
    op.drop_table("billing_profiles")
    op.drop_table("credit_packs")
