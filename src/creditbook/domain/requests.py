"""What callers ask the ledger to do, as values.

Every write of the ledger takes one of these. The HTTP API builds them from request
bodies (`creditbook.wire`), the CLI from its options, library callers directly or through
the `Ledger` methods' keyword arguments; so each mapping from a body to a ledger call
exists once. Checks that need no database (lengths, ranges) happen in the engine when the
request is executed, so a request built by hand is checked exactly like one from the API.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from creditbook.domain.amounts import Credits
from creditbook.domain.grants import GrantSource

# Limits of what one request may carry; named once, here.
MAX_DESCRIPTION_CHARS = 500
MAX_BATCH_ITEMS = 1000
MAX_IDEMPOTENCY_KEY_CHARS = 255
# A batch's key is stored as `batch:<key>`, and items without their own key take
# `<key>:<index>`: both must fit the stored key's length.
BATCH_KEY_PREFIX = "batch:"
MAX_BATCH_IDEMPOTENCY_KEY_CHARS = MAX_IDEMPOTENCY_KEY_CHARS - len(BATCH_KEY_PREFIX)
MAX_METADATA_BYTES = 4096
MAX_QUANTITY = 10**9
MAX_SLOTS_PER_RUN = 1000
DEFAULT_HOLD_TIMEOUT_S = 3600
MAX_HOLD_TIMEOUT_S = 7 * 24 * 3600
OPERATOR_SCOPE = ""  # idempotency scope of operations that precede an account


class Scope(enum.StrEnum):
    """What an API key may do: anything (operator), or read/write its own account."""

    OPERATOR = "operator"
    WRITE = "write"
    READ = "read"


@dataclass(frozen=True, slots=True)
class OpenAccountRequest:
    """Open an account on a plan and grant its first period's allowance.

    Attributes:
        plan_id: the plan the account starts on.
        account_id: chosen by the operator, or a random `acct_…` id when None.
        name, timezone, metadata: the account's own data.
        billing_anchor_at: when its periods are counted from (default: now).
    """

    plan_id: str
    account_id: str | None = None
    name: str = ""
    timezone: str = "UTC"
    billing_anchor_at: datetime | None = None
    metadata: Mapping[str, Any] | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class ChangePlanRequest:
    """Move an account to another plan: the current period ends now and re-anchors."""

    account_id: str
    plan_id: str
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class UpdateAccountRequest:
    """Change an account's own data; None leaves a field as it is."""

    account_id: str
    name: str | None = None
    metadata: Mapping[str, Any] | None = None
    has_unpaid_bill: bool | None = None


@dataclass(frozen=True, slots=True)
class GrantRequest:
    """Give an account credits (or take them back with a negative adjustment).

    Attributes:
        source: bonus, top_up or adjustment (allowance and rollover are the ledger's own).
        pool: default the plan's only pool.
        priority: spend order (lower first); default by source.
        effective_at, expires_at: when the credits can be spent from and until.
    """

    account_id: str
    amount: Credits
    source: GrantSource | str = GrantSource.BONUS
    pool: str | None = None
    priority: int | None = None
    effective_at: datetime | None = None
    expires_at: datetime | None = None
    description: str = ""
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class ChargeRequest:
    """A charge: either `amount` raw credits, or `function` × `quantity` from a rate card.

    Attributes:
        account_id: the account charged.
        amount: raw credits (exclusive with rate_card_id/function).
        rate_card_id, function, quantity: price the charge from a rate card: the base
            function bills per row, an enrichment per success.
        pool: where to draw from (default: the function's pool, or the plan's only pool).
        partial: charge what is available when the full amount is not.
        module, service, user_id, resource_id, resource_name, run_id: attribution.
        description: shown in the customer's history.
        idempotency_key: scoped to the account.
    """

    account_id: str
    amount: Credits | None = None
    rate_card_id: str | None = None
    function: str | None = None
    quantity: int = 0
    pool: str | None = None
    partial: bool = False
    module: str = ""
    service: str = ""
    user_id: str = ""
    resource_id: str = ""
    resource_name: str | None = None
    run_id: str = ""
    description: str = ""
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class ChargeBatchRequest:
    """Many charges in one commit, each with its own result or refusal.

    Attributes:
        charges: the items, in order; each may carry its own idempotency key.
        idempotency_key: covers the whole batch (items without a key of their own get
            `<key>:<index>`).
        scope: the idempotency scope of the batch key (an account, or the operator's).
    """

    charges: Sequence[ChargeRequest]
    idempotency_key: str | None = None
    scope: str = OPERATOR_SCOPE


@dataclass(frozen=True, slots=True)
class RefundRequest:
    """Reverse a charge, whole (amount None) or in part, as a linked transfer."""

    account_id: str
    charge_id: str
    amount: Credits | None = None
    description: str = ""
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class HoldRequest:
    """Reserve credits for later capture; released by itself after `timeout_s`."""

    account_id: str
    amount: Credits
    pool: str | None = None
    timeout_s: int = DEFAULT_HOLD_TIMEOUT_S
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class CaptureRequest:
    """Spend part of a hold as a charge; `release_rest` releases what is left."""

    account_id: str
    hold_id: str
    amount: Credits
    function: str = ""
    user_id: str = ""
    resource_id: str = ""
    description: str = ""
    release_rest: bool = False
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class ReleaseRequest:
    """Give a hold's remaining credits back."""

    account_id: str
    hold_id: str
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class EstimateRequest:
    """Quote a job before it runs (writes nothing).

    Attributes:
        rows: rows the job is expected to keep.
        functions: rows each enrichment function will be tried on.
        success_rates_percent: expected success rate per function (default 100).
        active_filters: paid filters the job will apply.
    """

    account_id: str
    rate_card_id: str
    rows: int
    functions: Mapping[str, int] | None = None
    success_rates_percent: Mapping[str, int] | None = None
    active_filters: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class StartRunRequest:
    """Start a run against a rate card: occupy slots, optionally hold credits."""

    account_id: str
    rate_card_id: str
    slots: int = 1
    hold: Credits | None = None
    hold_timeout_s: int = DEFAULT_HOLD_TIMEOUT_S
    active_filters: Sequence[str] = ()
    user_id: str = ""
    resource_id: str = ""
    resource_name: str | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class RunResultsRequest:
    """Report a run's results: rows kept, rows discarded per filter, and per function
    `(attempts, successes)`; only successes and kept rows are billed."""

    account_id: str
    run_id: str
    rows_kept: int
    rows_discarded: Mapping[str, int] | None = None
    functions: Mapping[str, tuple[int, int]] | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class FinishRunRequest:
    """Settle a run: release its unused hold and free its slots."""

    account_id: str
    run_id: str
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class CreateKeyRequest:
    """Issue an API key: an operator key (account_id None) or an account's key."""

    account_id: str | None
    scope: Scope | str = Scope.READ
    user_id: str = ""
    name: str = ""
    idempotency_key: str | None = None
