"""The engine against a model, step by step, on SQLite and PostgreSQL (invariants 1-7).

Hypothesis drives two accounts — one on a monthly unified plan, one on a daily plan with two
pools, each with a drawn overdraft limit, rollover policy, time zone and opening instant —
through grants (bonus, top-up, adjustment, negative adjustment; priority, expiry), charges
(raw or priced, partial or not, keyed, batched), refunds, holds (capture, release, time
out), runs (hold, slots, results, finish), idempotent replays and conflicts, time travel
(minutes to 40 days, to the instant a period ends) and the sweeper. A small model in Python
predicts the outcome of every operation (paid, paid in part, or refused) and what each pool
holds afterwards, to the millicredit. What time does (resets, rollovers, expiries, timed-out
holds) is read back from the ledger's own history and checked for shape rather than
re-implemented.

After every step:
- `verify()` is clean: double entry, materialised = replayed, rollups (invariants 1, 2);
- no pool is below minus its overdraft limit (3);
- every pool's available and held credits are what the model says, and the step wrote
  exactly the transactions its operation had to (plus, after the clock moved, what time
  wrote): a refused, conflicting or replayed request wrote nothing (3, 4, 5);
- per pool, the history since opening sums to available + held, both with every type and
  with the default (customer) types, which leave out HOLD and RELEASE as they net to zero;
- each period's reset was applied exactly once, stamped at the period's start (7);
- every amount is `Credits` holding an int (6).
Every tenth step the whole history is paged again with the cursor and must be unchanged.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy.engine import make_url
from tests.conftest import truncate_all

from creditbook import (
    ChargeRequest,
    Credits,
    FilterRate,
    FunctionRate,
    GrantSource,
    IdempotencyConflictError,
    InsufficientCreditsError,
    Interval,
    Ledger,
    ManualClock,
    NoFreeSlotsError,
    NotFoundError,
    Plan,
    RateCard,
    RolloverPolicy,
    StateError,
    TransactionType,
    ValidationError,
)
from creditbook.domain.grants import CUSTOMER_VISIBLE_TYPES, DEFAULT_PRIORITY
from creditbook.domain.periods import PeriodCalendar
from creditbook.store.database import make_engine

# Sized for well under a minute per backend on 2 cores. Every statement is a round trip to
# PostgreSQL, several times dearer than SQLite's, so it runs fewer examples of the same code.
EXAMPLES = {"sqlite": 25, "postgresql": 12}
MACHINE_SETTINGS = settings(
    stateful_step_count=30,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

ALL_TYPES = list(TransactionType)
RESET_TYPES = {TransactionType.MONTHLY_RESET, TransactionType.DAILY_RESET}
# What time alone writes: resets, rollovers, expiries, and releases of timed-out holds.
CATCH_UP_TYPES = RESET_TYPES | {
    TransactionType.ROLLOVER,
    TransactionType.EXPIRY,
    TransactionType.RELEASE,
}
GRANT_TYPES = {
    GrantSource.BONUS: TransactionType.BONUS,
    GrantSource.TOP_UP: TransactionType.TOP_UP,
    GrantSource.ADJUSTMENT: TransactionType.ADJUSTMENT,
}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)
MINUTE = 60
DAY = 24 * 60 * MINUTE
HOLD_TIMEOUTS_S = [60, 3600, DAY, 3 * DAY, 7 * DAY]
MAX_TRAVEL_MINUTES = 40 * 24 * 60
# From a minute to 40 days, mostly short (a daily plan catches up one period at a time, and
# each period is a few dozen statements): a cubic skew puts the median near five days.
TRAVEL_MINUTES = st.sampled_from([1, 59, 60, 61, 24 * 60 - 1, 24 * 60, 24 * 60 + 1]) | st.integers(
    0, 1000
).map(lambda k: max(1, MAX_TRAVEL_MINUTES * k**3 // 1000**3))

BASE_RATE = 1500  # millicredits per kept row
PHONE_RATE = 2000  # per success, pool `credits`
DIAL_RATE = 1000  # per success, pool `dials`
GEO_RATE = 250  # per kept row while the filter is active
CARD = RateCard(
    "leads",
    Credits(BASE_RATE),
    base_label="Leads",
    functions={
        "phone": FunctionRate("phone", Credits(PHONE_RATE)),
        "dial": FunctionRate("dial", Credits(DIAL_RATE), pool="dials"),
    },
    filters={
        "geo": FilterRate("geo", "Geo match", Credits(GEO_RATE)),
        "dedupe": FilterRate("dedupe", "Deduplicate", Credits(0)),
    },
    module="lasso",
    service="enrich",
)

OPENING_INSTANTS = [
    datetime(2025, 1, 31, 10, 0, tzinfo=UTC),  # month-end anchor: clamped to Feb 28
    datetime(2024, 2, 29, 23, 30, tzinfo=UTC),  # leap day, late evening
    datetime(2025, 3, 8, 12, 0, tzinfo=UTC),  # the day before US daylight saving starts
    datetime(2025, 10, 25, 22, 30, tzinfo=UTC),  # the night before EU daylight saving ends
]
ROLLOVER_POLICIES = [
    None,
    RolloverPolicy(),
    RolloverPolicy(cap=Credits(7_500)),
    RolloverPolicy(cap_percent=Decimal("50"), expires_after_periods=2),
    RolloverPolicy(cap=Credits(40_000), cap_percent=Decimal("12.5"), expires_after_periods=3),
    RolloverPolicy(cap=Credits(12_000), expires_after_periods=None),  # never expires
]


def assert_credits(*values: Any) -> None:
    """Amounts are exact: `Credits` over an int of millicredits, never a float. (What reads
    report may be the unbounded kind of `Credits`, see `Credits.unbounded`.)"""
    for value in values:
        assert isinstance(value, Credits), f"{value!r} is not Credits"
        assert type(value.millicredits) is int, f"{value!r} does not hold an int"


@dataclass
class HoldModel:
    hold_id: str
    pool: str
    remaining: int
    expires_at: datetime
    # Before this instant none of the grants the hold drew from can have closed, so
    # everything it gives back returns to spendable credits.
    safe_until: datetime
    run_id: str = ""
    active: bool = True
    placed: int = 0  # what the hold took when placed


@dataclass
class ChargeModel:
    charge_id: str
    pool: str
    amount: int
    safe_until: datetime
    refunded: int = 0

    @property
    def refundable(self) -> int:
        return self.amount - self.refunded


@dataclass
class RunModel:
    run_id: str
    slots: int
    hold_id: str
    filters: tuple[str, ...]
    status: str = "running"
    rows_kept: int = 0
    charged: int = 0


@dataclass
class GrantModel:
    source: GrantSource
    pool: str
    amount: int
    expires_at: datetime | None


@dataclass
class Keyed:
    """A request sent with an idempotency key, its first result, and a different body."""

    send: Callable[[], Any]
    result: Any
    send_other_body: Callable[[], Any]
    charge: ChargeRequest | None = None  # for charges: the request, to send in a batch


# (type, pool, amount) of a transaction an operation must have written.
Expected = tuple[TransactionType, str, int]


@dataclass
class AccountModel:
    account_id: str
    plan: Plan
    calendar: PeriodCalendar
    available: dict[str, int]
    held: dict[str, int]
    grants: list[GrantModel] = field(default_factory=list)
    holds: dict[str, HoldModel] = field(default_factory=dict)
    charges: list[ChargeModel] = field(default_factory=list)
    runs: dict[str, RunModel] = field(default_factory=dict)
    keyed: list[Keyed] = field(default_factory=list)
    history: list[Any] = field(default_factory=list, repr=False)  # newest first
    known: set[str] = field(default_factory=set, repr=False)
    # Refund id -> credits taken back from its charge: what stats and `consumed` count,
    # even where some of them expired again instead of coming back.
    refunded: dict[str, int] = field(default_factory=dict, repr=False)
    expected: list[Expected] = field(default_factory=list)
    # (pool, credits held) of holds given back after a grant they drew from may have closed:
    # a RELEASE of what returns and an EXPIRY of the rest, or just one of them.
    late_releases: list[tuple[str, int]] = field(default_factory=list)
    # Keyed charges that were refused, with their pool and price.
    refused: list[tuple[ChargeRequest, str, int]] = field(default_factory=list)
    # From the last balance read:
    period_end_at: datetime = FAR_FUTURE
    rollover_expires_at: datetime | None = None
    overdraft_grant: dict[str, int] = field(default_factory=dict)
    keys: Any = field(default_factory=count)

    @property
    def overdraft(self) -> int:
        return self.plan.overdraft.millicredits

    def spendable(self, pool: str) -> int:
        return self.available[pool] + self.overdraft

    def used_slots(self) -> int:
        return sum(run.slots for run in self.runs.values() if run.status != "finished")

    def active_hold(self, hold_id: str) -> HoldModel | None:
        hold = self.holds.get(hold_id)
        return hold if hold is not None and hold.active else None

    def new_key(self) -> str:
        # The same key strings are used on both accounts: keys are scoped per account.
        return f"key-{next(self.keys)}"


class FreshDatabases:
    """A clean, migrated database for every Hypothesis example."""

    def __init__(self, url: str, directory: Path) -> None:
        self.url = url
        self.directory = directory
        self.numbers = count()
        self.template: Path | None = None
        if url.startswith("sqlite"):
            # The fixture's file is a fresh copy of the migrated template nobody has opened.
            database = make_url(url).database
            assert database is not None
            self.template = Path(database)

    def create(self) -> tuple[str, Path | None]:
        if self.template is None:
            engine = make_engine(self.url)
            try:
                truncate_all(engine)
            finally:
                engine.dispose()
            return self.url, None
        path = self.directory / f"example-{next(self.numbers)}.db"
        shutil.copy(self.template, path)
        return f"sqlite:///{path}", path


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self, databases: FreshDatabases) -> None:
        super().__init__()
        url, self.path = databases.create()
        self.clock = ManualClock(OPENING_INSTANTS[0])
        self.ledger = Ledger(make_engine(url), self.clock)
        self.ledger.put_rate_card(CARD)
        self.accounts: list[AccountModel] = []
        self.clock_moved = False
        self.checks = 0
        self.postgres = url.startswith("postgres")

    def analyze(self) -> None:
        """Give PostgreSQL's planner statistics, as autovacuum would in a database that lives
        longer than an example: without them it takes every account_id for a selective key
        and nests loops over whole tables, and balance() grows quadratically slow."""
        if self.postgres:
            with self.ledger.engine.begin() as connection:
                connection.exec_driver_sql("ANALYZE")

    def teardown(self) -> None:
        self.ledger.close()
        if self.path is not None:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    # -- set-up -----------------------------------------------------------------------------

    @initialize(
        opened_at=st.sampled_from(OPENING_INSTANTS),
        monthly_zone=st.sampled_from(["UTC", "Europe/Berlin"]),
        daily_zone=st.sampled_from(["UTC", "America/New_York", "Asia/Kolkata"]),
        monthly_rollover=st.sampled_from(ROLLOVER_POLICIES),
        daily_rollover=st.sampled_from(ROLLOVER_POLICIES),
        monthly_overdraft=st.sampled_from([0, 0, 5_000]),
        daily_overdraft=st.sampled_from([0, 2_500]),
        monthly_allowance=st.sampled_from([0, 30_000, 100_500]),
        daily_credits=st.sampled_from([0, 20_000]),
        daily_dials=st.sampled_from([0, 5_000]),
    )
    def open_accounts(
        self,
        opened_at: datetime,
        monthly_zone: str,
        daily_zone: str,
        monthly_rollover: RolloverPolicy | None,
        daily_rollover: RolloverPolicy | None,
        monthly_overdraft: int,
        daily_overdraft: int,
        monthly_allowance: int,
        daily_credits: int,
        daily_dials: int,
    ) -> None:
        self.clock.set(opened_at)
        monthly = Plan(
            "monthly",
            interval=Interval.MONTHLY,
            allowances={"credits": Credits(monthly_allowance)},
            rollover=monthly_rollover,
            slots=3,
            overdraft=Credits(monthly_overdraft),
        )
        daily = Plan(
            "daily",
            interval=Interval.DAILY,
            allowances={"credits": Credits(daily_credits), "dials": Credits(daily_dials)},
            rollover=daily_rollover,
            slots=2,
            overdraft=Credits(daily_overdraft),
        )
        for plan, timezone in ((monthly, monthly_zone), (daily, daily_zone)):
            self.ledger.put_plan(plan)
            account = self.ledger.open_account(plan.plan_id, timezone=timezone)
            assert account.anchor_at == opened_at
            model = AccountModel(
                account.account_id,
                plan,
                PeriodCalendar(plan.interval, opened_at, timezone),
                {pool: plan.allowance(pool).millicredits for pool in plan.pools},
                dict.fromkeys(plan.pools, 0),
            )
            reset = RESET_TYPES_OF[plan.interval]
            model.expected = [
                (reset, pool, plan.allowance(pool).millicredits)
                for pool in plan.pools
                if plan.allowance(pool).is_positive()
            ]
            self.accounts.append(model)

    # -- helpers ----------------------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock.now()

    def safe_until(self, account: AccountModel) -> datetime:
        """The soonest instant any grant the account can draw from now may close."""
        now = self.now()
        candidates = [account.period_end_at]
        if account.rollover_expires_at is not None:
            candidates.append(account.rollover_expires_at)
        candidates += [
            grant.expires_at
            for grant in account.grants
            if grant.expires_at is not None and grant.expires_at > now
        ]
        return min(candidates)

    def draw_account(self, data: st.DataObject) -> AccountModel:
        return data.draw(st.sampled_from(self.accounts), label="account")

    def draw_pool(self, data: st.DataObject, account: AccountModel) -> str:
        return data.draw(st.sampled_from(account.plan.pools), label="pool")

    def history(
        self, account_id: str, types: list[TransactionType] | None, limit: int = 100
    ) -> list[Any]:
        """The whole history, newest first, paged with the cursor."""
        items: list[Any] = []
        cursor: str | None = None
        total: int | None = None
        while True:
            page = self.ledger.transactions(account_id, limit=limit, cursor=cursor, types=types)
            # The first page counts every match; pages reached by cursor do not count again.
            if cursor is None:
                total = page.total
            else:
                assert page.total is None
            items += page.data
            if not page.has_more:
                break
            assert page.next_cursor is not None and len(page.data) == limit
            cursor = page.next_cursor
        assert page.next_cursor is None
        assert len(items) == total
        assert len({item.transaction_id for item in items}) == len(items)
        return items

    def read_new_transactions(self, account: AccountModel) -> list[Any]:
        """What was written since the last read, newest first: pages of every type from the
        top down to the first transaction already read. The rest must be unchanged."""
        new: list[Any] = []
        cursor: str | None = None
        total: int | None = None
        while True:
            page = self.ledger.transactions(
                account.account_id, limit=100, cursor=cursor, types=ALL_TYPES
            )
            if cursor is None:
                total = page.total
            seen = [t.transaction_id in account.known for t in page.data]
            if True in seen:
                first = seen.index(True)
                new += page.data[:first]
                assert page.data[first:] == account.history[: len(page.data) - first]
                break
            new += page.data
            if not page.has_more:
                assert not account.history
                break
            cursor = page.next_cursor
        assert total == len(new) + len(account.history)
        account.history[:0] = new
        return new

    def audit_history(self, account: AccountModel, limit: int) -> None:
        """Every page of the whole history, of every type and of the default types."""
        whole = self.history(account.account_id, ALL_TYPES, limit)
        assert whole == account.history, "history changed after it was written"
        visible = self.history(account.account_id, None, limit)
        assert visible == [t for t in whole if t.type in CUSTOMER_VISIBLE_TYPES], (
            "the default history is every transaction but HOLD and RELEASE"
        )

    def remember(
        self,
        account: AccountModel,
        send: Callable[[], Any],
        result: Any,
        other: Callable[[], Any],
        charge: ChargeRequest | None = None,
    ) -> None:
        assert result.replayed is False
        account.keyed.append(Keyed(send, result, other, charge))

    def expire_holds(self) -> None:
        """Timed-out holds give back what they still hold (the ledger says how much of it
        belonged to grants that closed meanwhile: that part expires)."""
        now = self.now()
        for account in self.accounts:
            for hold in account.holds.values():
                if hold.active and hold.expires_at <= now:
                    hold.active = False
                    account.held[hold.pool] -= hold.remaining
                    account.available[hold.pool] += hold.remaining

    def release_in_model(self, account: AccountModel, hold: HoldModel) -> None:
        hold.active = False
        if hold.remaining == 0:
            return  # nothing left to give back: no transaction
        account.held[hold.pool] -= hold.remaining
        account.available[hold.pool] += hold.remaining
        if self.now() < hold.safe_until:
            account.expected.append((TransactionType.RELEASE, hold.pool, 0))
        else:
            account.late_releases.append((hold.pool, hold.remaining))

    def move_clock(self, to: datetime) -> None:
        assert to >= self.now()
        self.clock.set(to)
        self.clock_moved = True
        self.expire_holds()

    # -- grants -----------------------------------------------------------------------------

    @rule(
        data=st.data(),
        source=st.sampled_from([GrantSource.BONUS, GrantSource.TOP_UP, GrantSource.ADJUSTMENT]),
        amount=st.integers(1, 50_000),
        priority=st.none() | st.sampled_from([0, 10, 35, 60, 999_999]),
        expires_in_minutes=st.none() | st.integers(1, MAX_TRAVEL_MINUTES),
        keyed=st.booleans(),
    )
    def grant(
        self,
        data: st.DataObject,
        source: GrantSource,
        amount: int,
        priority: int | None,
        expires_in_minutes: int | None,
        keyed: bool,
    ) -> None:
        account = self.draw_account(data)
        pool = self.draw_pool(data, account)
        expires_at = (
            None
            if expires_in_minutes is None
            else self.now() + timedelta(minutes=expires_in_minutes)
        )
        key = account.new_key() if keyed else None

        def send(millicredits: int = amount) -> Any:
            return self.ledger.grant(
                account.account_id,
                Credits(millicredits),
                source=source,
                pool=pool,
                priority=priority,
                expires_at=expires_at,
                idempotency_key=key,
            )

        debt = max(-account.overdraft_grant.get(pool, 0), 0)
        result = send()
        assert_credits(result.amount, result.remaining)
        assert (result.pool, result.source, result.amount) == (pool, source, Credits(amount))
        assert result.priority == (DEFAULT_PRIORITY[source] if priority is None else priority)
        assert result.expires_at == expires_at
        # New credits settle overdraft debt first; the grant keeps the rest.
        assert result.remaining == Credits(amount - min(debt, amount))
        account.available[pool] += amount
        account.expected.append((GRANT_TYPES[source], pool, amount))
        account.grants.append(GrantModel(source, pool, amount, expires_at))
        if key is not None:
            self.remember(account, send, result, lambda: send(amount + 1))

    @rule(data=st.data(), amount=st.integers(1, 60_000), keyed=st.booleans())
    def take_away(self, data: st.DataObject, amount: int, keyed: bool) -> None:
        """A negative adjustment: taken in spend order, refused whole when not held."""
        account = self.draw_account(data)
        pool = self.draw_pool(data, account)
        key = account.new_key() if keyed else None

        def send(millicredits: int = amount) -> Any:
            return self.ledger.grant(
                account.account_id,
                Credits(-millicredits),
                source=GrantSource.ADJUSTMENT,
                pool=pool,
                idempotency_key=key,
            )

        if amount > account.spendable(pool):
            with pytest.raises(InsufficientCreditsError):
                send()
            return
        result = send()
        assert_credits(result.amount, result.remaining)
        assert (result.amount, result.remaining) == (Credits(-amount), Credits(0))
        account.available[pool] -= amount
        account.expected.append((TransactionType.ADJUSTMENT, pool, -amount))
        if key is not None:
            self.remember(account, send, result, lambda: send(amount + 1))

    # -- charges and refunds ----------------------------------------------------------------

    def charge_request(
        self, data: st.DataObject, account: AccountModel, keyed: bool
    ) -> tuple[ChargeRequest, str, int]:
        """A raw charge, or now and then one priced from the rate card, or a keyed charge
        that was refused before, sent again with its key (a refusal stores nothing)."""
        if account.refused and data.draw(st.booleans(), label="retry a refused charge"):
            return account.refused.pop(0)
        key = account.new_key() if keyed else None
        partial = data.draw(st.booleans(), label="partial")
        functions = ["base", "phone"] + (["dial"] if "dials" in account.plan.pools else [])
        function = data.draw(st.none() | st.sampled_from(functions), label="function")
        if function is None:
            pool = self.draw_pool(data, account)
            amount = data.draw(st.integers(1, 80_000), label="amount")
            request = ChargeRequest(
                account.account_id,
                amount=Credits(amount),
                pool=pool,
                partial=partial,
                user_id=data.draw(st.sampled_from(["", "user-1", "user-2"]), label="user"),
                idempotency_key=key,
            )
            return request, pool, amount
        quantity = data.draw(st.integers(1, 20), label="quantity")
        rate = {"base": BASE_RATE, "phone": PHONE_RATE, "dial": DIAL_RATE}[function]
        request = ChargeRequest(
            account.account_id,
            rate_card_id=CARD.rate_card_id,
            function=function,
            quantity=quantity,
            partial=partial,
            resource_id="table-1",
            idempotency_key=key,
        )
        return request, CARD.pool_of(function), rate * quantity

    def check_charge(self, charge: Any, request: ChargeRequest, pool: str, requested: int) -> None:
        assert_credits(charge.requested, charge.amount)
        assert charge.pool == pool
        assert charge.requested == Credits(requested)
        assert charge.account_id == request.account_id
        assert charge.created_at == self.now()

    @staticmethod
    def predict_charge(
        account: AccountModel, request: ChargeRequest, pool: str, requested: int
    ) -> int | None:
        """What a charge takes: all of it, or with `partial` what can be paid, or nothing
        (refused whole)."""
        spendable = account.spendable(pool)
        if requested <= spendable:
            return requested
        if request.partial and spendable > 0:
            return spendable
        return None

    @rule(data=st.data(), keyed=st.booleans())
    def charge(self, data: st.DataObject, keyed: bool) -> None:
        account = self.draw_account(data)
        request, pool, requested = self.charge_request(data, account, keyed)
        charged = self.predict_charge(account, request, pool, requested)
        if charged is None:
            # Refused whole: the invariant then finds no new transaction and every pool as
            # the model left it.
            with pytest.raises(InsufficientCreditsError):
                self.ledger.charge(request)
            if request.idempotency_key is not None:
                account.refused.append((request, pool, requested))
            return
        charge = self.ledger.charge(request)
        self.check_charge(charge, request, pool, requested)
        assert charge.amount == Credits(charged)
        self.record_charge(account, charge, pool, charged, self.safe_until(account))
        if request.idempotency_key is not None:
            other = replace(request, quantity=request.quantity + 1)
            self.remember(
                account,
                lambda: self.ledger.charge(request),
                charge,
                lambda: self.ledger.charge(other),
                request,
            )

    @rule(data=st.data(), size=st.integers(1, 4))
    def charge_batch(self, data: st.DataObject, size: int) -> None:
        """Charges of both accounts in one commit: each item paid or refused alone, in
        order; a keyed item sent before is a replay within the batch."""
        items: list[tuple[AccountModel, ChargeRequest, str, int, Keyed | None]] = []
        for _ in range(size):
            account = self.draw_account(data)
            sent = [k for k in account.keyed if k.charge is not None]
            if sent and data.draw(st.booleans(), label="replay a keyed charge"):
                keyed = data.draw(st.sampled_from(sent), label="keyed charge")
                assert keyed.charge is not None
                items.append((account, keyed.charge, keyed.result.pool, 0, keyed))
            else:
                keyed_item = data.draw(st.booleans(), label="keyed")
                items.append((account, *self.charge_request(data, account, keyed_item), None))
        results = self.ledger.charge_batch([request for _, request, _, _, _ in items])
        assert [result.index for result in results] == list(range(size))
        for (account, request, pool, requested, keyed), result in zip(items, results, strict=True):
            if keyed is not None:
                assert result.charge == replace(keyed.result, replayed=True)
                continue
            charged = self.predict_charge(account, request, pool, requested)
            if charged is None:
                assert not result.ok and result.error_code == "insufficient_credits"
                if request.idempotency_key is not None:
                    account.refused.append((request, pool, requested))
                continue
            assert result.ok and result.charge is not None, result.error_message
            self.check_charge(result.charge, request, pool, requested)
            assert result.charge.amount == Credits(charged)
            self.record_charge(account, result.charge, pool, charged, self.safe_until(account))
            if request.idempotency_key is not None:
                # A later replay of a batch item outside a batch answers the same.
                self.remember(
                    account,
                    lambda request=request: self.ledger.charge(request),
                    result.charge,
                    lambda request=request: self.ledger.charge(
                        replace(request, quantity=request.quantity + 1)
                    ),
                    request,
                )

    def record_charge(
        self, account: AccountModel, charge: Any, pool: str, charged: int, safe_until: datetime
    ) -> None:
        account.available[pool] -= charged
        account.expected.append((TransactionType.DEDUCTION, pool, -charged))
        account.charges.append(ChargeModel(charge.charge_id, pool, charged, safe_until))

    @rule(
        data=st.data(),
        minutes=TRAVEL_MINUTES,
        keyed=st.booleans(),
    )
    def travel_then_charge(self, data: st.DataObject, minutes: int, keyed: bool) -> None:
        """A write after time travel applies what is due itself, in its own transaction."""
        account = self.draw_account(data)
        request, pool, requested = self.charge_request(data, account, keyed)
        self.move_clock(self.now() + timedelta(minutes=minutes))
        try:
            charge = self.ledger.charge(request)
        except InsufficientCreditsError:
            charge = None
        # Nothing is due any more, so the balance is what the charge saw (less the charge).
        balance = self.ledger.balance(account.account_id)
        after = balance.pools[pool]
        overdraft = account.overdraft
        if charge is None:
            assert requested > after.available.millicredits + overdraft
            if request.partial:
                assert after.available.millicredits + overdraft <= 0
            return
        self.check_charge(charge, request, pool, requested)
        charged = charge.amount.millicredits
        if request.partial and charged < requested:
            assert charged > 0 and after.available.millicredits == -overdraft
        else:
            assert charged == requested
        self.read_balance(account, balance)
        self.record_charge(account, charge, pool, charged, self.safe_until(account))

    def refundable(self) -> list[AccountModel]:
        return [a for a in self.accounts if any(c.refundable > 0 for c in a.charges)]

    @precondition(lambda self: bool(self.refundable()))
    @rule(data=st.data(), keyed=st.booleans())
    def refund(self, data: st.DataObject, keyed: bool) -> None:
        account = data.draw(st.sampled_from(self.refundable()), label="account")
        charge = data.draw(
            st.sampled_from([c for c in account.charges if c.refundable > 0]), label="charge"
        )
        how = data.draw(st.sampled_from(["full", "part", "too_much"]), label="how")
        amount = {
            "full": None,
            "part": data.draw(st.integers(1, charge.refundable), label="amount"),
            "too_much": charge.refundable + 1,
        }[how]
        key = account.new_key() if keyed else None

        def send(description: str = "") -> Any:
            return self.ledger.refund(
                account.account_id,
                charge.charge_id,
                None if amount is None else Credits(amount),
                description=description,
                idempotency_key=key,
            )

        if how == "too_much":
            with pytest.raises(ValidationError):
                send()
            return
        wanted = charge.refundable if amount is None else amount
        refund = send()
        assert_credits(refund.amount, refund.returned)
        assert refund.charge_id == charge.charge_id
        assert refund.amount == Credits(wanted)
        returned = refund.returned.millicredits
        if self.now() < charge.safe_until:
            assert returned == wanted, "no grant it drew from has closed: all comes back"
        else:
            assert 0 <= returned <= wanted
        charge.refunded += wanted
        account.refunded[refund.refund_id] = wanted
        account.available[charge.pool] += returned
        account.expected.append((TransactionType.REFUND, charge.pool, returned))
        if key is not None:
            self.remember(account, send, refund, lambda: send("a different reason"))

    @rule(data=st.data())
    def refund_unknown_charge(self, data: st.DataObject) -> None:
        account = self.draw_account(data)
        other = [a for a in self.accounts if a is not account and a.charges]
        # Another account's charge answers exactly as a missing one does.
        charge_id = other[0].charges[0].charge_id if other else "txn_missing"
        with pytest.raises(NotFoundError):
            self.ledger.refund(account.account_id, charge_id)

    # -- holds ------------------------------------------------------------------------------

    def place_hold(self, account: AccountModel, hold: Any, pool: str, amount: int) -> HoldModel:
        assert_credits(hold.amount, hold.remaining)
        assert (hold.pool, hold.amount, hold.remaining) == (pool, Credits(amount), Credits(amount))
        assert hold.status == "active"
        model = HoldModel(
            hold.hold_id,
            pool,
            amount,
            hold.expires_at,
            self.safe_until(account),
            hold.run_id,
            placed=amount,
        )
        account.holds[hold.hold_id] = model
        account.available[pool] -= amount
        account.held[pool] += amount
        account.expected.append((TransactionType.HOLD, pool, 0))
        return model

    @rule(
        data=st.data(),
        amount=st.integers(1, 60_000),
        timeout_s=st.sampled_from(HOLD_TIMEOUTS_S),
        keyed=st.booleans(),
    )
    def hold(self, data: st.DataObject, amount: int, timeout_s: int, keyed: bool) -> None:
        account = self.draw_account(data)
        pool = self.draw_pool(data, account)
        key = account.new_key() if keyed else None

        def send(millicredits: int = amount) -> Any:
            return self.ledger.hold(
                account.account_id,
                Credits(millicredits),
                pool=pool,
                timeout_s=timeout_s,
                idempotency_key=key,
            )

        if amount > account.spendable(pool):
            with pytest.raises(InsufficientCreditsError):
                send()
            return
        hold = send()
        assert hold.expires_at == self.now() + timedelta(seconds=timeout_s)
        self.place_hold(account, hold, pool, amount)
        if key is not None:
            self.remember(account, send, hold, lambda: send(amount + 1))

    def with_holds(self) -> list[AccountModel]:
        return [a for a in self.accounts if a.holds]

    @staticmethod
    def holds_of(account: AccountModel) -> list[HoldModel]:
        return list(account.holds.values())  # in the order placed: ids are random

    @precondition(lambda self: bool(self.with_holds()))
    @rule(data=st.data(), release_rest=st.booleans(), keyed=st.booleans())
    def capture(self, data: st.DataObject, release_rest: bool, keyed: bool) -> None:
        account = data.draw(st.sampled_from(self.with_holds()), label="account")
        hold = data.draw(st.sampled_from(self.holds_of(account)), label="hold")
        amount = data.draw(st.integers(1, max(hold.remaining, 1) + 500), label="amount")
        key = account.new_key() if keyed else None

        def send(millicredits: int = amount) -> Any:
            return self.ledger.capture(
                account.account_id,
                hold.hold_id,
                Credits(millicredits),
                function="phone",
                release_rest=release_rest,
                idempotency_key=key,
            )

        if not hold.active or hold.run_id:
            # A run's hold is settled through the run (results, finish), never captured
            # directly: see test_a_run_s_hold_is_settled_by_its_results_not_captured.
            with pytest.raises(StateError):
                send()
            return
        if amount > hold.remaining:
            with pytest.raises(InsufficientCreditsError):
                send()
            return
        charge = send()
        assert_credits(charge.requested, charge.amount)
        assert charge.amount == charge.requested == Credits(amount)
        hold.remaining -= amount
        account.held[hold.pool] -= amount
        account.expected.append((TransactionType.DEDUCTION, hold.pool, -amount))
        account.charges.append(ChargeModel(charge.charge_id, hold.pool, amount, hold.safe_until))
        if release_rest:
            self.release_in_model(account, hold)
        if key is not None:
            self.remember(account, send, charge, lambda: send(amount + 1))

    @precondition(lambda self: bool(self.with_holds()))
    @rule(data=st.data(), keyed=st.booleans())
    def release(self, data: st.DataObject, keyed: bool) -> None:
        account = data.draw(st.sampled_from(self.with_holds()), label="account")
        hold = data.draw(st.sampled_from(self.holds_of(account)), label="hold")
        key = account.new_key() if keyed else None

        def send() -> Any:
            return self.ledger.release(account.account_id, hold.hold_id, idempotency_key=key)

        if not hold.active:
            with pytest.raises(StateError):
                send()
            return
        released = send()
        assert_credits(released.amount, released.remaining)
        assert (released.status, released.remaining) == ("released", Credits(0))
        self.release_in_model(account, hold)
        if key is not None:
            self.remember(
                account,
                send,
                released,
                lambda: self.ledger.capture(
                    account.account_id, hold.hold_id, Credits(1), idempotency_key=key
                ),
            )

    # -- runs -------------------------------------------------------------------------------

    @rule(
        data=st.data(),
        slots=st.integers(1, 3),
        hold=st.none() | st.integers(1, 40_000),
        timeout_s=st.sampled_from(HOLD_TIMEOUTS_S),
        filters=st.sampled_from([(), ("geo",), ("dedupe", "geo")]),
        keyed=st.booleans(),
    )
    def start_run(
        self,
        data: st.DataObject,
        slots: int,
        hold: int | None,
        timeout_s: int,
        filters: tuple[str, ...],
        keyed: bool,
    ) -> None:
        account = self.draw_account(data)
        key = account.new_key() if keyed else None

        def send(run_slots: int = slots) -> Any:
            return self.ledger.start_run(
                account.account_id,
                CARD.rate_card_id,
                slots=run_slots,
                hold=None if hold is None else Credits(hold),
                hold_timeout_s=timeout_s,
                active_filters=filters,
                idempotency_key=key,
            )

        if account.used_slots() + slots > account.plan.slots:
            with pytest.raises(NoFreeSlotsError):
                send()
            return
        if hold is not None and hold > account.spendable(CARD.pool):
            with pytest.raises(InsufficientCreditsError):
                send()
            return
        run = send()
        assert_credits(run.charged)
        assert (run.status, run.slots, run.active_filters) == ("running", slots, filters)
        assert bool(run.hold_id) == (hold is not None)
        if hold is not None:
            placed = self.ledger.get_hold(account.account_id, run.hold_id)
            assert placed.run_id == run.run_id
            self.place_hold(account, placed, CARD.pool, hold)
        account.runs[run.run_id] = RunModel(run.run_id, slots, run.hold_id, filters)
        if key is not None:
            self.remember(account, send, run, lambda: send(slots + 1))

    def with_runs(self) -> list[AccountModel]:
        return [a for a in self.accounts if a.runs]

    @precondition(lambda self: bool(self.with_runs()))
    @rule(
        data=st.data(),
        rows_kept=st.integers(0, 30),
        phone=st.none() | st.tuples(st.integers(0, 30), st.integers(0, 30)),
        dial=st.none() | st.tuples(st.integers(0, 30), st.integers(0, 30)),
        discarded=st.sampled_from([{}, {"geo": 3}, {"dedupe": 7, "geo": 1}]),
        keyed=st.booleans(),
    )
    def report_results(
        self,
        data: st.DataObject,
        rows_kept: int,
        phone: tuple[int, int] | None,
        dial: tuple[int, int] | None,
        discarded: dict[str, int],
        keyed: bool,
    ) -> None:
        account = data.draw(st.sampled_from(self.with_runs()), label="account")
        run = data.draw(st.sampled_from(list(account.runs.values())), label="run")
        functions: dict[str, tuple[int, int]] = {}
        if phone is not None:
            functions["phone"] = (max(phone), min(phone))
        if dial is not None and "dials" in account.plan.pools:
            functions["dial"] = (max(dial), min(dial))
        key = account.new_key() if keyed else None

        def send(rows: int = rows_kept) -> Any:
            return self.ledger.report_results(
                account.account_id,
                run.run_id,
                rows_kept=rows,
                rows_discarded=discarded,
                functions=functions,
                idempotency_key=key,
            )

        if run.status == "finished":
            with pytest.raises(StateError):
                send()
            return
        lines = [(CARD.pool, BASE_RATE * rows_kept)]
        if "phone" in functions:
            lines.append((CARD.pool, PHONE_RATE * functions["phone"][1]))
        if "dial" in functions:
            lines.append(("dials", DIAL_RATE * functions["dial"][1]))
        if "geo" in run.filters:
            lines.append((CARD.pool, GEO_RATE * rows_kept))
        needed = {pool: sum(a for p, a in lines if p == pool) for pool, _ in lines}
        hold = account.active_hold(run.hold_id)
        from_hold = min(needed[CARD.pool], hold.remaining) if hold is not None else 0
        affordable = needed[CARD.pool] - from_hold <= account.spendable(CARD.pool) and (
            needed.get("dials", 0) <= account.spendable("dials") if "dials" in needed else True
        )
        if not affordable:
            # Billed whole or not at all; the run waits for credits.
            with pytest.raises(InsufficientCreditsError):
                send()
            run.status = "paused"
            assert self.ledger.get_run(account.account_id, run.run_id).status == "paused"
            return
        result = send()
        total = sum(amount for _, amount in lines)
        run.status, run.rows_kept, run.charged = (
            "running",
            run.rows_kept + rows_kept,
            (run.charged + total),
        )
        assert_credits(result.charged)
        assert (result.status, result.rows_kept, result.charged) == (
            "running",
            run.rows_kept,
            Credits(run.charged),
        )
        if hold is not None:
            hold.remaining -= from_hold
            account.held[CARD.pool] -= from_hold
        account.available[CARD.pool] -= needed[CARD.pool] - from_hold
        if "dials" in needed:
            account.available["dials"] -= needed["dials"]
        account.expected += [
            (TransactionType.DEDUCTION, pool, -amount) for pool, amount in lines if amount
        ]
        if key is not None:
            self.remember(account, send, result, lambda: send(rows_kept + 1))

    @precondition(lambda self: bool(self.with_runs()))
    @rule(data=st.data(), keyed=st.booleans())
    def finish_run(self, data: st.DataObject, keyed: bool) -> None:
        account = data.draw(st.sampled_from(self.with_runs()), label="account")
        run = data.draw(st.sampled_from(list(account.runs.values())), label="run")
        key = account.new_key() if keyed else None

        def send() -> Any:
            return self.ledger.finish_run(account.account_id, run.run_id, idempotency_key=key)

        if run.status == "finished":
            with pytest.raises(StateError):
                send()
            return
        result = send()
        assert result.status == "finished" and result.finished_at == self.now()
        run.status = "finished"
        hold = account.active_hold(run.hold_id)
        if hold is not None:
            self.release_in_model(account, hold)
        if key is not None:
            self.remember(
                account,
                send,
                result,
                lambda: self.ledger.report_results(
                    account.account_id, run.run_id, rows_kept=1, idempotency_key=key
                ),
            )

    # -- idempotent replays -----------------------------------------------------------------

    def with_keys(self) -> list[AccountModel]:
        return [a for a in self.accounts if a.keyed]

    @precondition(lambda self: bool(self.with_keys()))
    @rule(data=st.data())
    def replay_same_body(self, data: st.DataObject) -> None:
        """The same key and body: the first result again, marked replayed, nothing written."""
        account = data.draw(st.sampled_from(self.with_keys()), label="account")
        keyed = data.draw(st.sampled_from(account.keyed), label="request")
        again = keyed.send()
        assert again == replace(keyed.result, replayed=True)
        for name in type(again).__dataclass_fields__:
            value = getattr(again, name)
            if isinstance(getattr(keyed.result, name), Credits):
                assert_credits(value)

    @precondition(lambda self: bool(self.with_keys()))
    @rule(data=st.data())
    def reuse_key_for_other_body(self, data: st.DataObject) -> None:
        """The same key with a different body is refused and writes nothing."""
        account = data.draw(st.sampled_from(self.with_keys()), label="account")
        keyed = data.draw(st.sampled_from(account.keyed), label="request")
        with pytest.raises(IdempotencyConflictError):
            keyed.send_other_body()

    # -- time -------------------------------------------------------------------------------

    @rule(minutes=TRAVEL_MINUTES)
    def travel(self, minutes: int) -> None:
        self.move_clock(self.now() + timedelta(minutes=minutes))

    @rule(data=st.data(), offset_us=st.sampled_from([-1, 0, 1]))
    def travel_to_period_end(self, data: st.DataObject, offset_us: int) -> None:
        account = self.draw_account(data)
        target = account.period_end_at + timedelta(microseconds=offset_us)
        self.move_clock(max(target, self.now()))

    @rule(minutes=st.just(0) | TRAVEL_MINUTES)
    def travel_and_sweep(self, minutes: int) -> None:
        """The sweeper applies what is due; a second sweep finds nothing."""
        due = [self.next_event(account) for account in self.accounts]
        self.move_clock(self.now() + timedelta(minutes=minutes))
        touched = self.ledger.tick()
        must = sum(1 for at in due if at <= self.now())
        assert must <= touched <= len(self.accounts)
        assert self.ledger.tick() == 0

    def next_event(self, account: AccountModel) -> datetime:
        """The soonest instant something is due on the account (a period ends, a hold times
        out, a grant expires)."""
        holds = [h.expires_at for h in account.holds.values() if h.active]
        return min([self.safe_until(account), *holds])

    # -- invariants -------------------------------------------------------------------------

    @invariant()
    def ledger_agrees_with_model(self) -> None:
        if not self.accounts:
            return
        report = self.ledger.verify()
        assert report.ok, report.differences
        for account in self.accounts:
            self.check_account(account)
            if self.checks % 10 == 0:
                self.audit_history(account, 100)
        if self.checks % 10 == 0:
            self.analyze()
        self.checks += 1
        self.clock_moved = False

    @rule(data=st.data(), limit=st.integers(1, 100))
    def read_whole_history(self, data: st.DataObject, limit: int) -> None:
        self.audit_history(self.draw_account(data), limit)

    def check_account(self, account: AccountModel) -> None:
        now = self.now()
        balance = self.ledger.balance(account.account_id)  # applies anything due
        self.account_for_new_transactions(account, self.read_new_transactions(account))
        history = account.history

        plan = account.plan
        index = account.calendar.index_at(now)
        assert balance.period_start_at == account.calendar.start_of(index)
        assert balance.period_end_at == account.calendar.start_of(index + 1)
        assert balance.used_slots == account.used_slots()
        assert set(balance.pools) == set(plan.pools)
        for pool in plan.pools:
            got = balance.pools[pool]
            assert_credits(got.available, got.held, got.allowance, got.consumed)
            assert_credits(got.overdraft_limit, *got.by_source.values())
            mine = [t for t in history if t.pool == pool]
            held = sum(h.remaining for h in account.holds.values() if h.active and h.pool == pool)
            assert account.held[pool] == held
            assert (got.available.millicredits, got.held.millicredits) == (
                account.available[pool],
                account.held[pool],
            ), f"pool {pool}: ledger {got.available}/{got.held}, model {account}"
            assert got.available.millicredits >= -account.overdraft, "overspent"
            total = got.available.millicredits + got.held.millicredits
            assert sum(t.amount.millicredits for t in mine) == total, "history != balance"
            assert (
                sum(t.amount.millicredits for t in mine if t.type in CUSTOMER_VISIBLE_TYPES)
                == total
            ), "the customer's history does not explain the balance"
            # Net spend as the stats count it: a refund takes back its whole amount.
            spent = sum(
                -t.amount.millicredits
                if t.type is TransactionType.DEDUCTION
                else -account.refunded[t.transaction_id]
                for t in mine
                if t.type in (TransactionType.DEDUCTION, TransactionType.REFUND)
                and t.created_at >= balance.period_start_at
            )
            assert got.consumed == Credits(spent)
            self.check_time(account, pool, mine, index)
            self.check_sources(account, pool, got, mine, index)

        self.read_balance(account, balance)

    @staticmethod
    def read_balance(account: AccountModel, balance: Any) -> None:
        """What the model takes from a balance read: the period's end, the soonest rollover
        expiry, and the overdraft grant (available less the credits of every other source)."""
        account.period_end_at = balance.period_end_at
        account.rollover_expires_at = min(
            (p.rollover_expires_at for p in balance.pools.values() if p.rollover_expires_at),
            default=None,
        )
        account.overdraft_grant = {
            pool: p.available.millicredits - sum(a.millicredits for a in p.by_source.values())
            for pool, p in balance.pools.items()
        }

    def account_for_new_transactions(self, account: AccountModel, new: list[Any]) -> None:
        """Each new transaction is one an operation of this step had to write, or one that
        time wrote (only after the clock moved)."""
        expected = list(account.expected)
        late: dict[str, list[Any]] = {pool: [] for pool, _ in account.late_releases}
        for transaction in reversed(new):  # oldest first
            account.known.add(transaction.transaction_id)
            assert_credits(transaction.amount)
            assert transaction.created_at <= self.now()
            signature = (transaction.type, transaction.pool, transaction.amount.millicredits)
            if signature in expected:
                expected.remove(signature)
                continue
            if transaction.pool in late and transaction.type in (
                TransactionType.RELEASE,
                TransactionType.EXPIRY,
            ):
                late[transaction.pool].append(transaction)
                account.available[transaction.pool] += transaction.amount.millicredits
                continue
            assert self.clock_moved, f"unexpected write {transaction}"
            assert transaction.type in CATCH_UP_TYPES, f"time wrote {transaction}"
            account.available[transaction.pool] += transaction.amount.millicredits
        assert not expected, f"missing writes {expected}"
        for pool, written in late.items():
            releases = [held for p, held in account.late_releases if p == pool]
            kinds = [t.type for t in written]
            assert len(releases) <= len(written) <= 2 * len(releases), written
            assert kinds.count(TransactionType.RELEASE) <= len(releases), written
            assert kinds.count(TransactionType.EXPIRY) <= len(releases), written
            expired = -sum(t.amount.millicredits for t in written)
            assert 0 <= expired <= sum(releases), "expired more than was held"
        account.expected = []
        account.late_releases = []

    def check_time(self, account: AccountModel, pool: str, mine: list[Any], index: int) -> None:
        """Each period's reset once, at its start; rollovers within the policy's cap and
        never more than expired at that instant."""
        plan = account.plan
        allowance = plan.allowance(pool).millicredits
        resets = [t for t in mine if t.type in RESET_TYPES]
        assert all(t.type is RESET_TYPES_OF[plan.interval] for t in resets)
        assert all(t.amount.millicredits == allowance for t in resets)
        starts = [account.calendar.start_of(i) for i in range(index + 1)]
        assert sorted(t.created_at for t in resets) == (starts if allowance else [])
        for t in mine:
            if t.type is TransactionType.EXPIRY:
                assert t.amount.is_negative()
            elif t.type is TransactionType.HOLD:
                assert t.amount == Credits(0)
            elif t.type is TransactionType.RELEASE:
                assert t.amount == Credits(0), "a release is net zero (hidden by default)"
            elif t.type is TransactionType.ROLLOVER:
                assert plan.rollover is not None
                cap = plan.rollover.rollover_amount(Credits(allowance), Credits(allowance))
                assert Credits(0) < t.amount <= cap
                assert t.created_at in starts[1:]
                expired = -sum(
                    e.amount.millicredits
                    for e in mine
                    if e.type is TransactionType.EXPIRY and e.created_at == t.created_at
                )
                assert t.amount.millicredits <= expired

    def check_sources(
        self, account: AccountModel, pool: str, got: Any, mine: list[Any], index: int
    ) -> None:
        """Spendable credits per source never exceed what live grants of it brought."""
        plan, now = account.plan, self.now()
        for source, amount in got.by_source.items():
            assert amount.is_positive()
            if source == GrantSource.ALLOWANCE:
                assert amount <= plan.allowance(pool)
            elif source == GrantSource.ROLLOVER:
                # Rolled into period p, they live until the start of p + expires_after.
                assert plan.rollover is not None
                periods = plan.rollover.expires_after_periods
                oldest_live = account.calendar.start_of(index - periods + 1) if periods else EPOCH
                live = sum(
                    t.amount.millicredits
                    for t in mine
                    if t.type is TransactionType.ROLLOVER and t.created_at >= oldest_live
                )
                assert amount.millicredits <= live, "rollover outlived its period"
            elif source == "overdraft":
                # The overdraft grant holds credits only when some come back to it (a hold
                # released, a charge refunded) after new credits settled its debt: never
                # more than all that ever came back to the pool.
                came_back = sum(h.placed for h in account.holds.values() if h.pool == pool) + sum(
                    t.amount.millicredits for t in mine if t.type is TransactionType.REFUND
                )
                assert amount.millicredits <= came_back, "overdraft credits from nowhere"
            else:
                live = sum(
                    g.amount
                    for g in account.grants
                    if g.pool == pool
                    and g.source == source
                    and (g.expires_at is None or g.expires_at > now)
                )
                assert amount.millicredits <= live, f"{source} outlived its grants"


RESET_TYPES_OF = {
    Interval.MONTHLY: TransactionType.MONTHLY_RESET,
    Interval.DAILY: TransactionType.DAILY_RESET,
}


@pytest.mark.slow
def test_engine_agrees_with_the_model(database_url: str, tmp_path: Path) -> None:
    databases = FreshDatabases(database_url, tmp_path)
    backend = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    run_state_machine_as_test(
        lambda: LedgerMachine(databases),
        settings=settings(MACHINE_SETTINGS, max_examples=EXAMPLES[backend]),
    )


def test_a_run_s_hold_is_settled_by_its_results_not_captured(ledger: Ledger) -> None:
    """A run's hold is billed through the run (results, finish); capturing it directly
    would bill the run behind its breakdown's back, so it is refused and changes nothing."""
    ledger.put_plan(Plan("plan", allowances={"credits": Credits.of(100)}))
    ledger.put_rate_card(RateCard("card", Credits.of(1)))
    account_id = ledger.open_account("plan").account_id
    run = ledger.start_run(account_id, "card", hold=Credits.of(10))
    with pytest.raises(StateError):
        ledger.capture(account_id, run.hold_id, Credits.of(3))
    assert ledger.get_hold(account_id, run.hold_id).remaining == Credits.of(10)
    ledger.report_results(account_id, run.run_id, rows_kept=3)
    assert ledger.finish_run(account_id, run.run_id).charged == Credits.of(3)
    assert ledger.balance(account_id).pools["credits"].available == Credits.of(97)
    assert ledger.verify().ok, ledger.verify().differences
