"""A deterministic world for the dashboard's tests and screenshots.

Seeded through the ledger on a ManualClock, so every figure is the same on every run:

- `acme` (Acme Leads, Europe/Paris) on `growth` (5,000 credits a month, rollover up to 500
  for one period): opened on 1 April, spends 1,200 in April (so 500 roll over into May),
  gets a 250 bonus and (on 10 May) a 5,000 top-up, and from 1 to 20 May runs a Maps
  scraper run a day (base rows, phone numbers, emails, a paid geo filter; users alice and
  bob, two tables), a catalogue charge a day (the `lasso` module, user carol, one table)
  and a raw "support" charge every fifth day. One more run on 20 May is dominated by
  phone numbers (60 %); one is still running with a hold. The plan's default alert (below
  10 % of the allowance) is in force; the account never goes below it.
- `beta` (Beta Data, UTC) on `team`, two pools (contact views, direct dials), spends 465 of
  its 500 contact views (so it is flagged low) and has an unpaid bill. It set its own
  alerts when it opened (contact views below 200 credits and below 10 %, direct dials below
  50 credits): its charges cross each of them once, so it has three `balance.low` events.
- `gamma` (Gamma Labs) on `growth`, untouched.

`NOW` is 20 May 2026 15:00 UTC: the clock the server runs on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from creditbook import Credits, Ledger, ManualClock, Plan, RateCard, RolloverPolicy
from creditbook.domain.alerts import AlertRule
from creditbook.domain.rates import Colors, FilterRate, FunctionRate
from creditbook.domain.requests import Scope

OPENED_AT = datetime(2026, 4, 1, tzinfo=UTC)
NOW = datetime(2026, 5, 20, 15, 0, tzinfo=UTC)
ACME, BETA, GAMMA = "acme", "beta", "gamma"
MAY_DAYS = range(1, 21)
BETA_DAYS = (12, 16, 19)
TOP_UP_DAY = 10

GROWTH = Plan(
    "growth",
    name="Growth",
    allowances={"credits": Credits.of(5000)},
    rollover=RolloverPolicy(cap=Credits.of(500), expires_after_periods=1),
    slots=10,
    prices={"EUR": Decimal(99)},
    alerts=(AlertRule("credits", percent=Decimal(10)),),
)
TEAM = Plan(
    "team",
    name="Team",
    allowances={"contact_views": Credits.of(500), "direct_dials": Credits.of(100)},
    slots=2,
)
MAPS = RateCard(
    "maps",
    Credits.of(4),
    base_label="Export Listings",
    base_colors=Colors("#EAFBF3", "#0F9F5F"),
    functions={
        "get_phone_numbers": FunctionRate(
            "get_phone_numbers", Credits.of(6), colors=Colors("#EFF6FF", "#1D4ED8")
        ),
        "reveal_email": FunctionRate(
            "reveal_email", Credits.of(2), colors=Colors("#F5F3FF", "#7C3AED")
        ),
    },
    filters={"geo_match": FilterRate("geo_match", "Geo match", Credits.of("0.5"))},
    module="scraper",
    service="maps",
)
LASSO = RateCard(
    "lasso",
    Credits.of(1),
    base_label="Enrich products",
    base_colors=Colors("#FFF7ED", "#C2410C"),
    module="lasso",
    service="ai_field",
)
BETA_ALERTS = (
    AlertRule("contact_views", credits=Credits.of(200)),
    AlertRule("contact_views", percent=Decimal(10)),
    AlertRule("direct_dials", credits=Credits.of(50)),
)
TABLES = {"tbl_dentists": "Dentists, Austin TX", "tbl_plumbers": "Plumbers, Denver CO"}
CATALOGUE = ("tbl_shoes", "Shoe catalogue")


@dataclass(frozen=True, slots=True)
class World:
    """Keys (secrets) and ids the tests need."""

    operator_key: str
    acme_key: str
    beta_key: str
    acme_revocable_key: str
    acme_revocable_key_id: str
    dominant_run_id: str
    balanced_run_id: str
    running_run_id: str


def rows_on(day: int) -> int:
    return 10 + day


def seed(ledger: Ledger, clock: ManualClock) -> World:
    clock.set(OPENED_AT)
    for plan in (GROWTH, TEAM):
        ledger.put_plan(plan)
    for card in (MAPS, LASSO):
        ledger.put_rate_card(card)
    ledger.open_account("growth", account_id=ACME, name="Acme Leads", timezone="Europe/Paris")
    ledger.open_account("team", account_id=BETA, name="Beta Data")
    ledger.open_account("growth", account_id=GAMMA, name="Gamma Labs")
    ledger.set_alerts(BETA, BETA_ALERTS)
    clock.set(datetime(2026, 4, 10, 9, tzinfo=UTC))
    ledger.charge(account_id=ACME, amount=Credits.of(1200), description="April backfill")

    clock.set(datetime(2026, 5, 1, 8, tzinfo=UTC))
    ledger.grant(ACME, Credits.of(250), source="bonus", description="Welcome bonus")
    balanced = ""  # the last daily run: no function reaches half of its credits
    for day in MAY_DAYS:
        if day == TOP_UP_DAY:
            clock.set(datetime(2026, 5, day, 8, tzinfo=UTC))
            ledger.grant(ACME, Credits.of(5000), source="top_up", description="Top-up pack")
        balanced = _acme_day(ledger, clock, day)
        if day in BETA_DAYS:
            _beta_day(ledger, clock, day)
    ledger.set_unpaid_bill(BETA, True)
    clock.set(datetime(2026, 5, 20, 13, tzinfo=UTC))
    dominant = ledger.start_run(
        ACME,
        "maps",
        user_id="alice",
        resource_id="tbl_dentists",
        resource_name=TABLES["tbl_dentists"],
    )
    ledger.report_results(
        ACME, dominant.run_id, rows_kept=30, functions={"get_phone_numbers": (30, 30)}
    )
    ledger.finish_run(ACME, dominant.run_id)
    clock.set(datetime(2026, 5, 20, 14, 30, tzinfo=UTC))
    running = ledger.start_run(ACME, "maps", slots=2, hold=Credits.of(100), user_id="bob")
    clock.set(NOW)
    keys = [
        ledger.create_key(None, scope=Scope.OPERATOR, name="operator"),
        ledger.create_key(ACME, scope=Scope.READ, name="acme reader"),
        ledger.create_key(BETA, scope=Scope.READ, name="beta reader"),
        ledger.create_key(ACME, scope=Scope.WRITE, name="to revoke"),
    ]
    operator, acme, beta, revocable = (key.secret for key in keys)
    assert operator and acme and beta and revocable
    return World(
        operator_key=operator,
        acme_key=acme,
        beta_key=beta,
        acme_revocable_key=revocable,
        acme_revocable_key_id=keys[3].key.key_id,
        dominant_run_id=dominant.run_id,
        balanced_run_id=balanced,
        running_run_id=running.run_id,
    )


def _acme_day(ledger: Ledger, clock: ManualClock, day: int) -> str:
    """One day of Acme: a scraper run, a catalogue charge, a support charge every 5th day."""
    clock.set(datetime(2026, 5, day, 10, tzinfo=UTC))
    user = "alice" if day % 2 else "bob"
    table = "tbl_dentists" if day % 3 else "tbl_plumbers"
    run = ledger.start_run(
        ACME,
        "maps",
        active_filters=["geo_match"],
        user_id=user,
        resource_id=table,
        resource_name=TABLES[table],
    )
    rows = rows_on(day)
    ledger.report_results(
        ACME,
        run.run_id,
        rows_kept=rows,
        rows_discarded={"geo_match": 3},
        functions={"get_phone_numbers": (rows, rows * 4 // 5), "reveal_email": (rows, rows // 2)},
    )
    ledger.finish_run(ACME, run.run_id)
    clock.set(datetime(2026, 5, day, 11, tzinfo=UTC))
    ledger.charge(
        account_id=ACME,
        rate_card_id="lasso",
        function="base",
        quantity=2 * day,
        user_id="carol",
        resource_id=CATALOGUE[0],
        resource_name=CATALOGUE[1],
        description=f"Catalogue enrichment, batch {day}",
    )
    if day % 5 == 0:
        ledger.charge(
            account_id=ACME, amount=Credits.of("12.5"), description="Support: data cleanup"
        )
    return run.run_id


def _beta_day(ledger: Ledger, clock: ManualClock, day: int) -> None:
    clock.set(datetime(2026, 5, day, 12, tzinfo=UTC))
    ledger.charge(
        account_id=BETA, amount=Credits.of(155), pool="contact_views", description="Contact views"
    )
    ledger.charge(
        account_id=BETA, amount=Credits.of(20), pool="direct_dials", description="Direct dials"
    )


def seeded_ledger(url: str) -> tuple[Ledger, World]:
    """Open `url`, seed it, and leave the clock at NOW."""
    clock = ManualClock(OPENED_AT)
    ledger = Ledger.open(url, clock=clock)
    world = seed(ledger, clock)
    return ledger, world
