"""What engine operations and reports return: frozen values, safe to store and replay."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from creditbook.domain.amounts import Credits
from creditbook.domain.grants import GrantSource, TransactionType
from creditbook.domain.periods import Interval
from creditbook.engine.payments.results import Revenue


@dataclass(frozen=True, slots=True)
class Account:
    """An account as opened. `metadata` is the operator's own free-form data."""

    account_id: str
    name: str
    plan_id: str
    timezone: str
    anchor_at: datetime
    created_at: datetime
    has_unpaid_bill: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class Grant:
    """A block of credits given to an account."""

    grant_id: str
    account_id: str
    pool: str
    source: GrantSource
    priority: int
    amount: Credits
    remaining: Credits
    effective_at: datetime
    expires_at: datetime | None
    transaction_id: str
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class Charge:
    """A debit for work done.

    Attributes:
        charge_id: the transaction id of the deduction.
        requested: credits asked for; `amount` is what was charged (less only when the
            request allowed a partial charge).
    """

    charge_id: str
    account_id: str
    pool: str
    requested: Credits
    amount: Credits
    function: str
    quantity: int
    module: str
    service: str
    user_id: str
    resource_id: str
    run_id: str
    description: str
    created_at: datetime
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class BatchItemResult:
    """One item of a batch: its charge, or the error that refused it (nothing written)."""

    index: int
    charge: Charge | None = None
    error_code: str | None = None
    error_message: str | None = None
    replayed: bool = False

    @property
    def ok(self) -> bool:
        return self.charge is not None


@dataclass(frozen=True, slots=True)
class Refund:
    """A linked reversal of (part of) a charge.

    Attributes:
        amount: credits taken back from the charge.
        returned: of those, credits back in spendable grants; the rest belonged to grants
            that have expired since, and expire again at once.
    """

    refund_id: str
    charge_id: str
    account_id: str
    amount: Credits
    returned: Credits
    created_at: datetime
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class Hold:
    """Credits reserved and not yet spent."""

    hold_id: str
    account_id: str
    pool: str
    amount: Credits
    remaining: Credits
    status: str
    run_id: str
    created_at: datetime
    expires_at: datetime
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class Run:
    """One job of an account against a rate card."""

    run_id: str
    account_id: str
    rate_card_id: str
    status: str
    slots: int
    hold_id: str
    active_filters: tuple[str, ...]
    user_id: str
    resource_id: str
    rows_kept: int
    rows_discarded: dict[str, int]
    charged: Credits
    started_at: datetime
    finished_at: datetime | None
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class PoolBalance:
    """One pool of an account.

    Attributes:
        available: credits that can be spent now (excludes holds and overdraft headroom;
            negative while the account owes overdraft).
        held: credits reserved by open holds.
        allowance: the plan's allowance for the current period.
        consumed: credits spent (net of refunds) in the current period.
        by_source: spendable credits per grant source.
        rollover_expires_at: soonest expiry of rolled-over credits (None: none).
        overdraft_limit: how far below zero the pool may go.
        drawn_by_source: credits drawn in the current period (spent, or moved into a hold)
            from each source's grants, net of refunds and releases; the allowance and the
            overdraft are left out (the plan's allowance and the debt say those). Filled
            only when asked for (`Ledger.balance(..., draws=True)`), else empty.
    """

    pool: str
    available: Credits
    held: Credits
    allowance: Credits
    consumed: Credits
    by_source: dict[str, Credits]
    rollover_expires_at: datetime | None
    overdraft_limit: Credits
    drawn_by_source: dict[str, Credits] = field(default_factory=dict)

    def period_credits(self, source: str) -> Credits:
        """A source's credits in the current period: what is left plus what was drawn."""
        zero = Credits(0)
        return self.by_source.get(source, zero) + self.drawn_by_source.get(source, zero)


@dataclass(frozen=True, slots=True)
class Balance:
    """An account's credits, now or at a past instant."""

    account_id: str
    at: datetime
    plan_id: str
    plan_name: str
    price_id: str
    interval: Interval
    period_start_at: datetime
    period_end_at: datetime
    pools: dict[str, PoolBalance]
    used_slots: int
    total_slots: int
    has_unpaid_bill: bool


@dataclass(frozen=True, slots=True)
class Transaction:
    """One line of a customer's history."""

    transaction_id: str
    type: TransactionType
    pool: str
    amount: Credits
    description: str
    created_at: datetime
    function: str
    run_id: str
    user_id: str
    linked_transaction_id: str | None


@dataclass(frozen=True, slots=True)
class TransactionPage:
    """A page of history, newest first.

    `total` counts all matches on a first page or an offset page, and is None on a page
    reached by cursor: counting again for every page would make walking a long history
    quadratic.
    """

    data: list[Transaction]
    has_more: bool
    next_cursor: str | None
    total: int | None


@dataclass(frozen=True, slots=True)
class Entry:
    """One ledger line with its transfer's type and time (the export of the raw ledger).

    Attributes:
        account_id, seq, line: the line's key: account, transfer sequence, line in it.
        transfer_id, type, pool, created_at: its transfer's.
        book: `grant` or `hold` (the customer's side) or `issued`, `spent`, `expired`.
        grant_id, hold_id: the grant or hold the line moves ("" when none).
        amount: signed; the lines of a transfer sum to zero.
    """

    account_id: str
    seq: int
    line: int
    transfer_id: str
    type: str
    pool: str
    created_at: datetime
    book: str
    grant_id: str
    hold_id: str
    amount: Credits


@dataclass(frozen=True, slots=True)
class RunPage:
    """A page of an account's runs, newest first; `next_cursor` continues after the last."""

    data: list[Run]
    has_more: bool
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class Total:
    """Spend of one group in a stats range. `units` sums charge quantities."""

    key: str
    amount: Credits
    units: int


@dataclass(frozen=True, slots=True)
class Day:
    """Spend of one local day. `by_function` counts charges made with a function name
    (a rate card's `base` or an enrichment); raw-credit charges appear only in `amount`."""

    date: date
    amount: Credits
    by_module: dict[str, Credits]
    by_user: dict[str, Credits]
    by_function: dict[str, Credits] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ResourceTotal:
    resource_id: str
    name: str
    module: str
    amount: Credits
    units: int


@dataclass(frozen=True, slots=True)
class Bucket:
    """Spend of one day, ISO week (starting Monday) or month, keyed by its first day."""

    start: date
    amount: Credits


@dataclass(frozen=True, slots=True)
class RunTotal:
    run_id: str
    rate_card_id: str
    status: str
    rows_kept: int
    amount: Credits
    started_at: datetime


@dataclass(frozen=True, slots=True)
class Forecast:
    """When the account runs out at its trailing burn rate.

    Attributes:
        window_days: the trailing window (7 or 30 days up to today).
        daily_burn: average spend per day over the window.
        runs_out_on: the local date available credits reach zero at that burn (None when
            nothing is being spent).
        before_reset: whether that comes before the current period ends.
    """

    window_days: int
    daily_burn: Decimal
    runs_out_on: date | None
    before_reset: bool


@dataclass(frozen=True, slots=True)
class StatsPlan:
    """The account's plan as the stats read it, at the time of the call.

    Attributes:
        plan_id: the plan.
        interval: monthly or daily.
        credits_per_period: the allowance per period, summed over pools.
        period_end_at: the end of the current period (the next reset).
        currency: the display currency (None: the plan has no price).
        fee: the price per period in that currency.
        cost_per_credit: fee / credits_per_period, 4 decimals (None: no fee or no credits).
        prices: the price per period in every currency the plan is sold in.
    """

    plan_id: str
    interval: Interval
    credits_per_period: Credits
    period_end_at: datetime
    currency: str | None
    fee: Decimal | None
    cost_per_credit: Decimal | None
    prices: dict[str, Decimal]


@dataclass(frozen=True, slots=True)
class Stats:
    """Spend between two local dates, inclusive, from rollups."""

    account_id: str
    start: date
    end: date
    total: Credits
    previous_total: Credits
    change_percent: Decimal | None
    daily: list[Day]
    by_module: list[Total]
    by_service: list[Total]
    by_user: list[Total]
    by_function: list[Total]
    by_pool: list[Total]
    by_resource: list[ResourceTotal]
    buckets: list[Bucket] = field(default_factory=list)
    by_run: list[RunTotal] = field(default_factory=list)
    forecast: list[Forecast] = field(default_factory=list)
    plan: StatsPlan | None = None
    # What purchases in the range paid, per currency (see `Revenue`).
    purchases: list[Revenue] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class FunctionCredits:
    function: str
    credits: Credits
    attempts: int


@dataclass(frozen=True, slots=True)
class FilterCredits:
    name: str
    display: str
    rate: Credits
    credits: Credits


@dataclass(frozen=True, slots=True)
class RunBreakdown:
    """Where a run's credits went (the lobstr run-credits shape)."""

    run_id: str
    total_credits: Credits
    total_results: int
    breakdown: list[FunctionCredits]
    rates: dict[str, Credits]
    function_colors: dict[str, dict[str, str]]
    base_function_label: str | None
    filter_breakdown: list[FilterCredits]


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The outcome of replaying the ledger: `differences` is empty when all agree."""

    differences: list[str]
    accounts: int
    transfers: int
    entries: int

    @property
    def ok(self) -> bool:
        return not self.differences
