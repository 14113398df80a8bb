"""The schema. Every account-owned table leads its key with `account_id` so the schema can be
distributed by account; `plans`, `rate_cards` and `credit_packs` are small operator-wide
reference tables.

Amounts are BIGINT millicredits. Timestamps are stored as naive UTC and read back aware.
Entries are append-only: the engine only ever inserts them.

CHECK constraints back the invariants the engine keeps (migrations 0007 and 0008 add them): a
grant never below its floor (zero, or minus the plan's overdraft limit for the overdraft grant),
never above what it was funded with, holds within their amount, entries never zero, known books
and sources, non-negative counters. SQLite does not enforce `VARCHAR(n)`, so
there every bounded text column also carries a `length(col) <= n` check; PostgreSQL enforces the
type itself. `CHECKS` and `SQLITE_LENGTH_CHECKS` list them by table.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.types import TypeDecorator

from creditbook.domain.errors import invariant
from creditbook.store.partial import where_not_empty

ID = 64  # length of identifier columns
NAME = 200  # length of display names and descriptions' short forms

naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=naming_convention)

# PostgreSQL's fill factor of the tables every charge updates (migration 0014): an updated row
# then usually fits on its page, and the update writes no index entry. Others keep 100.
FILLFACTOR = {"accounts": 80, "grants": 80, "rollups": 80}


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime, stored naive so SQLite and PostgreSQL agree."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        invariant(value.tzinfo is not None, "naive datetime reached the store")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        invariant(isinstance(value, datetime), "a timestamp column returned a non-datetime")
        stored: datetime = value
        return stored.replace(tzinfo=UTC)


def millicredits(name: str, **kwargs: Any) -> Column[int]:
    return Column(name, BigInteger, nullable=False, **kwargs)


def _pricing(name: str, key: str) -> Table:
    """Operator-wide pricing: one body per id, replaced whole; `version` counts the bodies."""
    return Table(
        name,
        metadata,
        Column(key, String(ID), primary_key=True),
        Column("version", Integer, nullable=False),
        Column("body", JSON, nullable=False),
        Column("updated_at", UTCDateTime, nullable=False),
        CheckConstraint("version >= 1", name="version"),
    )


plans = _pricing("plans", "plan_id")
rate_cards = _pricing("rate_cards", "rate_card_id")

accounts = Table(
    "accounts",
    metadata,
    Column("account_id", String(ID), primary_key=True),
    Column("name", String(NAME), nullable=False),
    Column("plan_id", String(ID), nullable=False),
    Column("timezone", String(ID), nullable=False),
    Column("anchor_at", UTCDateTime, nullable=False),
    # The period whose allowance has been granted; boundaries up to it are applied.
    Column("period_index", Integer, nullable=False),
    # The earliest instant something is due: next period start, a grant or hold expiry.
    Column("next_event_at", UTCDateTime, nullable=False),
    # The last transfer sequence number used; transfers are numbered per account.
    Column("last_seq", BigInteger, nullable=False),
    Column("has_unpaid_bill", Boolean, nullable=False),
    Column("metadata", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    # The account's own alert rules and which alerts are on now (see engine/events/alerts).
    Column("alerts", JSON, nullable=False, server_default="{}"),
    # The last event sequence number used; events are numbered per account, under its lock.
    Column("last_event_seq", BigInteger, nullable=False, server_default="0"),
    Index("ix_accounts_next_event_at", "next_event_at"),
    CheckConstraint("last_seq >= 0", name="last_seq"),
    CheckConstraint("last_event_seq >= 0", name="last_event_seq"),
)

grants = Table(
    "grants",
    metadata,
    Column("account_id", String(ID), nullable=False),
    Column("grant_id", String(ID), nullable=False),
    Column("pool", String(ID), nullable=False),
    Column("source", String(16), nullable=False),
    Column("priority", Integer, nullable=False),
    millicredits("amount"),
    # Materialised: the sum of this grant's entries on the `grant` book.
    millicredits("remaining"),
    Column("effective_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=True),
    Column("period_index", Integer, nullable=True),
    Column("created_seq", BigInteger, nullable=False),
    Column("closed_at", UTCDateTime, nullable=True),
    Column("description", Text, nullable=False),
    # How low `remaining` may go: 0, but minus the plan's overdraft limit for the overdraft
    # grant (kept in step when the plan or its limit changes; a debt deeper than a lowered
    # limit stays the floor until it is paid back).
    millicredits("min_remaining", server_default="0"),
    # A `credits.expiring` event went out for this grant.
    Column("expiry_noticed", Boolean, nullable=False, server_default=false()),
    PrimaryKeyConstraint("account_id", "grant_id"),
    Index("ix_grants_open", "account_id", "pool", "closed_at"),
    CheckConstraint(
        "source IN ('allowance', 'bonus', 'rollover', 'top_up', 'adjustment', 'overdraft')",
        name="source",
    ),
    CheckConstraint("priority >= 0", name="priority"),
    # The overdraft grant is never funded: its debt is settled by the credits that arrive later.
    CheckConstraint("source <> 'overdraft' OR amount = 0", name="overdraft_amount"),
    CheckConstraint(
        "min_remaining <= 0 AND (min_remaining = 0 OR source = 'overdraft')", name="min_remaining"
    ),
    CheckConstraint("remaining >= min_remaining", name="remaining_floor"),
    # Refunds and releases give a grant back at most what was drawn from it; only the
    # overdraft grant (amount 0) can hold credits a refund returned after its debt.
    CheckConstraint("remaining <= amount OR source = 'overdraft'", name="remaining_ceiling"),
)

transfers = Table(
    "transfers",
    metadata,
    Column("account_id", String(ID), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("transfer_id", String(ID), nullable=False),
    Column("type", String(16), nullable=False),
    Column("pool", String(ID), nullable=False),
    # Net change of the customer's credits (grants and holds), signed.
    millicredits("amount"),
    Column("description", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    Column("linked_seq", BigInteger, nullable=True),
    Column("function", String(ID), nullable=False),
    Column("module", String(ID), nullable=False),
    Column("service", String(ID), nullable=False),
    Column("user_id", String(ID), nullable=False),
    Column("resource_id", String(ID), nullable=False),
    Column("run_id", String(ID), nullable=False),
    Column("hold_id", String(ID), nullable=False),
    Column("quantity", BigInteger, nullable=False),
    # Materialised on charges: credits refunded so far by linked refunds.
    millicredits("refunded"),
    PrimaryKeyConstraint("account_id", "seq"),
    # A transfer id names one transfer of the whole ledger (the operator refunds a charge
    # by its id alone); this index also finds it.
    UniqueConstraint("transfer_id", name="uq_transfers_transfer_id"),
    Index("ix_transfers_type", "account_id", "type", "seq"),
    # Only transfers of a run: a plain charge adds nothing to it.
    Index("ix_transfers_run", "account_id", "run_id", **where_not_empty("run_id")),
    Index("ix_transfers_created_at", "account_id", "created_at"),
    CheckConstraint("seq >= 1", name="seq"),
    # Only charges (negative amounts) are refunded, and never beyond what they took.
    CheckConstraint("refunded = 0 OR (refunded > 0 AND refunded <= -amount)", name="refunded"),
)

entries = Table(
    "entries",
    metadata,
    Column("account_id", String(ID), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("line", Integer, nullable=False),
    # `grant` and `hold` are the customer's books; `issued`, `spent` and `expired` are the
    # operator's side of every movement.
    Column("book", String(16), nullable=False),
    Column("grant_id", String(ID), nullable=False),
    Column("hold_id", String(ID), nullable=False),
    millicredits("amount"),
    PrimaryKeyConstraint("account_id", "seq", "line"),
    # Only lines that name a grant or a hold: a charge's operator line (`spent`) adds
    # nothing to either, its grant line nothing to the holds'.
    Index("ix_entries_grant_seq", "account_id", "grant_id", "seq", **where_not_empty("grant_id")),
    Index("ix_entries_hold", "account_id", "hold_id", **where_not_empty("hold_id")),
    CheckConstraint("book IN ('grant', 'hold', 'issued', 'spent', 'expired')", name="book"),
    CheckConstraint("amount <> 0", name="amount"),
    CheckConstraint("book <> 'grant' OR grant_id <> ''", name="grant_line"),
    # Held credits remember the grant they came from, to go back to it on release.
    CheckConstraint("book <> 'hold' OR (hold_id <> '' AND grant_id <> '')", name="hold_line"),
)

holds = Table(
    "holds",
    metadata,
    Column("account_id", String(ID), nullable=False),
    Column("hold_id", String(ID), nullable=False),
    Column("pool", String(ID), nullable=False),
    millicredits("amount"),
    # Materialised: the sum of this hold's entries on the `hold` book.
    millicredits("remaining"),
    Column("status", String(16), nullable=False),
    Column("run_id", String(ID), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("closed_at", UTCDateTime, nullable=True),
    PrimaryKeyConstraint("account_id", "hold_id"),
    Index("ix_holds_status", "account_id", "status"),
    CheckConstraint("amount > 0", name="amount"),
    CheckConstraint("remaining >= 0", name="remaining_floor"),
    CheckConstraint("remaining <= amount", name="remaining_ceiling"),
)

runs = Table(
    "runs",
    metadata,
    Column("account_id", String(ID), nullable=False),
    Column("run_id", String(ID), nullable=False),
    Column("rate_card_id", String(ID), nullable=False),
    # The rate card as it was when the run started: later edits do not reprice it.
    Column("rate_card", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("slots", Integer, nullable=False),
    Column("hold_id", String(ID), nullable=False),
    Column("active_filters", JSON, nullable=False),
    Column("user_id", String(ID), nullable=False),
    Column("resource_id", String(ID), nullable=False),
    Column("rows_kept", BigInteger, nullable=False),
    Column("rows_discarded", JSON, nullable=False),
    millicredits("charged"),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    PrimaryKeyConstraint("account_id", "run_id"),
    Index("ix_runs_status", "account_id", "status"),
    # Runs are listed newest first, paged by (started_at, run_id).
    Index("ix_runs_started", "account_id", "started_at", "run_id"),
    # Runs are addressed by their id alone in the API.
    Index("ix_runs_by_run_id", "run_id", unique=True),
    CheckConstraint("slots >= 1", name="slots"),
    CheckConstraint("rows_kept >= 0", name="rows_kept"),
    CheckConstraint("charged >= 0", name="charged"),
)

run_lines = Table(
    "run_lines",
    metadata,
    Column("account_id", String(ID), nullable=False),
    Column("run_id", String(ID), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("name", String(ID), nullable=False),
    Column("attempts", BigInteger, nullable=False),
    Column("quantity", BigInteger, nullable=False),
    millicredits("amount"),
    PrimaryKeyConstraint("account_id", "run_id", "kind", "name"),
    CheckConstraint("attempts >= 0", name="attempts"),
)

rollups = Table(
    "rollups",
    metadata,
    Column("account_id", String(ID), nullable=False),
    Column("day", Date, nullable=False),
    Column("pool", String(ID), nullable=False),
    Column("function", String(ID), nullable=False),
    Column("module", String(ID), nullable=False),
    Column("service", String(ID), nullable=False),
    Column("user_id", String(ID), nullable=False),
    Column("resource_id", String(ID), nullable=False),
    # Materialised: net spend (charges minus refunds) of deductions on that local day.
    millicredits("amount"),
    Column("quantity", BigInteger, nullable=False),
    Column("charges", BigInteger, nullable=False),
    PrimaryKeyConstraint(
        "account_id", "day", "pool", "function", "module", "service", "user_id", "resource_id"
    ),
    CheckConstraint("charges >= 0", name="charges"),
)

resources = Table(
    "resources",
    metadata,
    Column("account_id", String(ID), nullable=False),
    Column("resource_id", String(ID), nullable=False),
    Column("name", String(NAME), nullable=False),
    PrimaryKeyConstraint("account_id", "resource_id"),
)

idempotency = Table(
    "idempotency",
    metadata,
    # Operator-wide operations (opening an account) use the empty account id.
    Column("account_id", String(ID), nullable=False),
    Column("key", String(255), nullable=False),
    Column("operation", String(ID), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("response", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("account_id", "key"),
)

api_keys = Table(
    "api_keys",
    metadata,
    # Operator keys use the empty account id.
    Column("account_id", String(ID), nullable=False),
    Column("key_id", String(ID), nullable=False),
    Column("scope", String(16), nullable=False),
    Column("user_id", String(ID), nullable=False),
    Column("name", String(NAME), nullable=False),
    # sha256 of the whole key: keys are long random strings, so a fast hash is enough.
    Column("secret_hash", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
    PrimaryKeyConstraint("account_id", "key_id"),
    Index("ix_api_keys_by_key_id", "key_id", unique=True),
)

ended_sessions = Table(
    "ended_sessions",
    metadata,
    # The account of the key the session signed in with; operator keys use the empty id.
    Column("account_id", String(ID), nullable=False),
    # The random id a dashboard session cookie carries; signing out records it here.
    Column("session_id", String(ID), nullable=False),
    Column("key_id", String(ID), nullable=False),
    Column("ended_at", UTCDateTime, nullable=False),
    # The session's cookie is refused by its signature from then on: the row may go.
    Column("expires_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("account_id", "session_id"),
)


events = Table(
    "events",
    metadata,
    # Operator-wide events (an endpoint disabled) use the empty account id.
    Column("account_id", String(ID), nullable=False),
    # Per account, in the order the account's transactions committed.
    Column("seq", BigInteger, nullable=False),
    Column("event_id", String(ID), nullable=False),
    Column("type", String(ID), nullable=False),
    Column("pool", String(ID), nullable=False),
    # The event's own fields; amounts in millicredits (see engine/events/outbox).
    Column("data", JSON, nullable=False),
    Column("transfer_id", String(ID), nullable=False),
    Column("run_id", String(ID), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    # The dispatcher has queued the event for every endpoint it goes to.
    Column("dispatched", Boolean, nullable=False, server_default=false()),
    PrimaryKeyConstraint("account_id", "seq"),
    Index("ix_events_by_event_id", "event_id", unique=True),
    # The event log, newest first across accounts.
    Index("ix_events_created", "created_at", "account_id", "seq"),
    Index("ix_events_type", "account_id", "type", "seq"),
    Index("ix_events_undispatched", "dispatched", "created_at"),
    CheckConstraint("seq >= 1", name="seq"),
)


# Webhooks (engine/webhooks): where events go, and each event's delivery to each endpoint.
URL = 2048  # length of an endpoint's URL
SECRET = 128  # length of a signing secret (`whsec_` and base64)

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    # Only this account's events; '' for every account's (and the operator's own).
    Column("account_id", String(ID), nullable=False),
    Column("endpoint_id", String(ID), nullable=False),
    Column("url", String(URL), nullable=False),
    Column("description", Text, nullable=False),
    # Event type names, or ["*"] for every type.
    Column("event_types", JSON, nullable=False),
    # Kept in clear: the dispatcher signs with it (unlike API keys, stored hashed).
    Column("secret", String(SECRET), nullable=False),
    # After a rotation the old secret signs beside the new one until it expires.
    Column("previous_secret", String(SECRET), nullable=True),
    Column("previous_secret_expires_at", UTCDateTime, nullable=True),
    Column("status", String(16), nullable=False),
    Column("disabled_reason", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("account_id", "endpoint_id"),
    # Endpoints are addressed by their id alone in the API.
    Index("ix_webhook_endpoints_by_endpoint_id", "endpoint_id", unique=True),
    Index("ix_webhook_endpoints_created", "created_at", "endpoint_id"),
    CheckConstraint("status IN ('enabled', 'disabled')", name="status"),
    CheckConstraint("status = 'disabled' OR disabled_reason = ''", name="disabled_reason"),
    CheckConstraint(
        "(previous_secret IS NULL) = (previous_secret_expires_at IS NULL)",
        name="previous_secret",
    ),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    # The event's account ('' for the operator's own events).
    Column("account_id", String(ID), nullable=False),
    Column("delivery_id", String(ID), nullable=False),
    Column("endpoint_id", String(ID), nullable=False),
    Column("event_seq", BigInteger, nullable=False),
    Column("event_id", String(ID), nullable=False),
    Column("status", String(16), nullable=False),
    # Attempts made so far; they number the `webhook_attempts` rows.
    Column("attempts", Integer, nullable=False),
    # When a pending delivery is next tried; NULL once it succeeded or failed.
    Column("next_attempt_at", UTCDateTime, nullable=True),
    Column("first_attempt_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("account_id", "delivery_id"),
    # One delivery per endpoint and event: the fan-out may run twice and queue once.
    UniqueConstraint("endpoint_id", "account_id", "event_seq", name="uq_webhook_deliveries_event"),
    Index("ix_webhook_deliveries_by_delivery_id", "delivery_id", unique=True),
    # The head of each (endpoint, account) queue: its lowest pending sequence number.
    Index("ix_webhook_deliveries_pending", "status", "endpoint_id", "account_id", "event_seq"),
    Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    # An endpoint's deliveries, newest first.
    Index("ix_webhook_deliveries_endpoint", "endpoint_id", "created_at", "delivery_id"),
    CheckConstraint("status IN ('pending', 'succeeded', 'failed')", name="status"),
    CheckConstraint("attempts >= 0", name="attempts"),
    CheckConstraint("event_seq >= 1", name="event_seq"),
    CheckConstraint("(status = 'pending') = (next_attempt_at IS NOT NULL)", name="next_attempt"),
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("account_id", String(ID), nullable=False),
    Column("delivery_id", String(ID), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("attempted_at", UTCDateTime, nullable=False),
    # The receiver's HTTP status; NULL when no answer came (timeout, connection error).
    Column("status_code", Integer, nullable=True),
    Column("duration_ms", Integer, nullable=False),
    # The start of the receiver's answer, for the operator to see why it refused.
    Column("response", String(500), nullable=False),
    Column("error", Text, nullable=False),
    PrimaryKeyConstraint("account_id", "delivery_id", "attempt"),
    CheckConstraint("attempt >= 1", name="attempt"),
    CheckConstraint("duration_ms >= 0", name="duration_ms"),
    CheckConstraint("status_code IS NULL OR status_code BETWEEN 100 AND 599", name="status_code"),
)


# Payments (engine/payments): credit packs, each account's Stripe customer and auto-recharge,
# every purchase fulfilled, and every recharge started.
STRIPE_ID = 255  # Stripe object ids (`cs_test_…` run to 66 characters; Stripe allows 255)

credit_packs = _pricing("credit_packs", "pack_id")

billing_profiles = Table(
    "billing_profiles",
    metadata,
    Column("account_id", String(ID), primary_key=True),
    Column("customer_id", String(STRIPE_ID), nullable=True),
    # The card auto-recharge pays with (NULL: the customer's newest card, asked of Stripe);
    # the auto-recharge settings (NULL: none), and why it is paused (NULL: it is not).
    Column("payment_method_id", String(STRIPE_ID), nullable=True),
    Column("auto_recharge", JSON, nullable=True),
    Column("paused_at", UTCDateTime, nullable=True),
    Column("paused_reason", Text, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_billing_profiles_by_customer_id", "customer_id", unique=True),
    CheckConstraint("(paused_at IS NULL) = (paused_reason IS NULL)", name="paused"),
)

payments = Table(
    "payments",
    metadata,
    Column("account_id", String(ID), nullable=False),
    Column("payment_id", String(ID), nullable=False),
    Column("kind", String(16), nullable=False),
    # Fulfilled once per Checkout Session, or per PaymentIntent of an auto-recharge.
    Column("stripe_object_id", String(STRIPE_ID), nullable=False),
    Column("payment_intent_id", String(STRIPE_ID), nullable=True),
    Column("customer_id", String(STRIPE_ID), nullable=True),
    Column("pack_id", String(ID), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("pool", String(ID), nullable=False),
    Column("credits", BigInteger, nullable=False),
    Column("grant_id", String(ID), nullable=False),
    Column("transfer_id", String(ID), nullable=False),
    Column("currency", String(3), nullable=False),
    # Paid and refunded in minor units; millicredits the refunds cover, and of those the
    # ones still unspent and taken back.
    Column("amount_paid", BigInteger, nullable=False),
    Column("amount_refunded", BigInteger, nullable=False),
    Column("credits_refunded", BigInteger, nullable=False),
    Column("credits_taken_back", BigInteger, nullable=False),
    Column("dispute_id", String(STRIPE_ID), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("account_id", "payment_id"),
    Index("ix_payments_by_stripe_object_id", "stripe_object_id", unique=True),
    Index("ix_payments_by_payment_intent_id", "payment_intent_id"),
    Index("ix_payments_by_payment_id", "payment_id", unique=True),
    Index("ix_payments_created", "account_id", "created_at"),
    CheckConstraint("kind IN ('checkout', 'auto_recharge')", name="kind"),
    CheckConstraint("quantity >= 1", name="quantity"),
    CheckConstraint("credits > 0", name="credits"),
    CheckConstraint("amount_paid >= 0", name="amount_paid"),
    CheckConstraint("amount_refunded BETWEEN 0 AND amount_paid", name="amount_refunded"),
    CheckConstraint("credits_refunded BETWEEN 0 AND credits", name="credits_refunded"),
    CheckConstraint("credits_taken_back BETWEEN 0 AND credits_refunded", name="credits_taken_back"),
)

recharges = Table(
    "recharges",
    metadata,
    Column("account_id", String(ID), nullable=False),
    Column("recharge_id", String(ID), nullable=False),
    Column("event_id", String(ID), nullable=False),
    Column("pack_id", String(ID), nullable=False),
    Column("status", String(16), nullable=False),
    Column("payment_intent_id", String(STRIPE_ID), nullable=True),
    Column("reason", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("account_id", "recharge_id"),
    # The `balance.low` event of the crossing: one recharge per crossing.
    Index("ix_recharges_by_event_id", "event_id", unique=True),
    Index("ix_recharges_status", "status", "created_at"),
    Index("ix_recharges_account", "account_id", "created_at"),
    CheckConstraint(
        "status IN ('due', 'requested', 'succeeded', 'failed', 'skipped')", name="status"
    ),
)


def _bound_lengths_on_sqlite() -> dict[str, tuple[str, ...]]:
    """SQLite stores any length in a `VARCHAR(n)`: make it refuse what PostgreSQL refuses."""
    added: dict[str, tuple[str, ...]] = {}
    for table in metadata.sorted_tables:
        names = []
        for column in table.columns:
            if isinstance(column.type, String) and column.type.length is not None:
                check = CheckConstraint(
                    f'length("{column.name}") <= {column.type.length}',
                    name=f"{column.name}_length",
                )
                table.append_constraint(check.ddl_if(dialect="sqlite"))
                names.append(str(check.name))
        added[table.name] = tuple(names)
    return added


# The named CHECK constraints per table: the length checks on SQLite alone, the others on both.
SQLITE_LENGTH_CHECKS = _bound_lengths_on_sqlite()
CHECKS = {
    table.name: names
    for table in metadata.sorted_tables
    if (
        names := tuple(
            sorted(
                str(constraint.name)
                for constraint in table.constraints
                if isinstance(constraint, CheckConstraint)
                and str(constraint.name) not in SQLITE_LENGTH_CHECKS[table.name]
            )
        )
    )
}
