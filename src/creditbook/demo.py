"""`creditbook demo`: a month of a lobstr-style and a LocalLeads-style account.

Plays the month on a travelling clock against a real database and returns what it saw, so
the CLI can print it and the tests can check it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from creditbook.domain.amounts import Credits
from creditbook.domain.grants import GrantSource
from creditbook.domain.plans import Plan, RolloverPolicy
from creditbook.domain.rates import Colors, FilterRate, FunctionRate, RateCard
from creditbook.engine.clock import ManualClock
from creditbook.engine.ledger import Ledger
from creditbook.engine.results import Balance, RunBreakdown, Transaction, VerifyReport

# `creditbook demo` plays the same month every time, from DEMO_START.
DEMO_START = datetime(2026, 5, 1, tzinfo=UTC)
# The month's last event (the tick after the reset) comes this long after its start.
DEMO_LENGTH = timedelta(days=32, hours=9)

PROFESSIONAL = Plan(
    "professional",
    name="Professional",
    allowances={"credits": Credits.of(10000)},
    rollover=RolloverPolicy(cap=Credits.of(200), expires_after_periods=1),
    slots=20,
    prices={"EUR": Decimal(1000)},
    price_id="price_abc123",
)
STARTER = Plan("localleads_starter", name="Starter", allowances={"credits": Credits.of(100)})
MAPS = RateCard(
    "google_maps_leads",
    Credits.of(4),
    base_label="Export Listings (No Phone)",
    base_colors=Colors("#EAFBF3", "#0F9F5F"),
    functions={"get_phone_numbers": FunctionRate("get_phone_numbers", Credits.of(6))},
    filters={"geo_match": FilterRate("geo_match", "Geo match", Credits.of("0.5"))},
)


@dataclass(frozen=True, slots=True)
class DemoReport:
    """What the demo month produced."""

    lobstr_balance: Balance
    lobstr_run: RunBreakdown
    localleads_mid_month: Balance
    localleads_balance: Balance
    localleads_history: list[Transaction]
    verify: VerifyReport


def recent_start(now: datetime) -> datetime:
    """The start (a UTC midnight) of the latest demo month that ends by `now`, so a server
    on the wall clock shows spend over the last days and nothing in the future."""
    day = (now.astimezone(UTC) - DEMO_LENGTH).date()
    return datetime.combine(day, time(0), tzinfo=UTC)


def play(
    ledger: Ledger,
    clock: ManualClock,
    *,
    account_ids: tuple[str, str] | None = None,
    start: datetime = DEMO_START,
) -> DemoReport:
    """Play the month from `start` to `start + DEMO_LENGTH`. `account_ids` names the two
    accounts (default: fresh random ids)."""
    clock.set(start)
    ledger.put_plan(PROFESSIONAL)
    ledger.put_plan(STARTER)
    ledger.put_rate_card(MAPS)

    lobstr_id, leads_id = account_ids or (None, None)
    lobstr = ledger.open_account(
        "professional", account_id=lobstr_id, name="Scraper customer"
    ).account_id
    leads = ledger.open_account(
        "localleads_starter", account_id=leads_id, name="Lead-search customer"
    ).account_id
    ledger.grant(leads, Credits.of(25), source=GrantSource.BONUS, description="Coupon WELCOME25")

    clock.set(start + timedelta(days=4, hours=10, minutes=1))
    ledger.charge(
        account_id=leads,
        amount=Credits.of(43),
        description="Lead search: Dentists in Austin, TX (97 results)",
    )
    mid_month = ledger.balance(leads)
    ledger.grant(leads, Credits.of(10), source=GrantSource.BONUS, description="Referral bonus")
    run = ledger.start_run(lobstr, "google_maps_leads", slots=3, hold=Credits.of(200))
    ledger.report_results(
        lobstr, run.run_id, rows_kept=20, functions={"get_phone_numbers": (20, 6)}
    )
    ledger.finish_run(lobstr, run.run_id)
    for day in range(5, 30):
        clock.set(start + timedelta(days=day, hours=12))
        ledger.charge(account_id=lobstr, amount=Credits.of(62), description="Daily scrape")
    breakdown = ledger.run_breakdown(lobstr, run.run_id)

    clock.set(start + DEMO_LENGTH)
    ledger.tick()
    return DemoReport(
        lobstr_balance=ledger.balance(lobstr),
        lobstr_run=breakdown,
        localleads_mid_month=mid_month,
        localleads_balance=ledger.balance(leads),
        localleads_history=ledger.transactions(leads, limit=10).data,
        verify=ledger.verify(),
    )
