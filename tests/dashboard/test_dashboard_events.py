"""The Alerts & events page over HTTP, on SQLite and PostgreSQL: a small account whose
alerts are set through the ledger and crossed by real charges, a refused charge, a top-up,
a bonus that expires and a renewed period; what the page says about each; paging by the
engine's cursor; the type filter; tenant isolation."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from html import unescape

import pytest
from fastapi.testclient import TestClient
from tests.dashboard.conftest import app_client, sign_in

from creditbook import Credits, Ledger, ManualClock, Plan, RolloverPolicy
from creditbook.dashboard import event_figures, formatting
from creditbook.domain.alerts import AlertRule
from creditbook.domain.errors import InsufficientCreditsError
from creditbook.domain.requests import Scope
from creditbook.store.database import make_engine

STARTER = Plan(
    "starter",
    name="Starter",
    allowances={"credits": Credits.of(25)},
    rollover=RolloverPolicy(cap=Credits.of(5), expires_after_periods=1),
    alerts=(AlertRule("credits", credits=Credits.of(5)),),
)
SHOP, OTHER, PLAIN = "shop", "other", "plain"
ROW = re.compile(r'<tr data-event="([^"]+)" data-type="([^"]+)">(.*?)</tr>', re.S)


@dataclass(frozen=True)
class Keys:
    operator: str
    shop: str
    other: str
    plain: str


@pytest.fixture
def events_ledger(database_url: str, clock: ManualClock) -> Iterator[Ledger]:
    """A ledger of either database (the dashboard's own `ledger` is the seeded SQLite)."""
    opened = Ledger(make_engine(database_url), clock)
    yield opened
    opened.close()


def shop_month(ledger: Ledger, clock: ManualClock) -> None:
    """January of `shop` (25 credits a month, its own alerts below 10 and below 50 %)."""
    ledger.put_plan(STARTER)
    ledger.open_account("starter", account_id=SHOP, name="Shop", timezone="Europe/Paris")
    ledger.set_alerts(
        SHOP,
        [AlertRule("credits", credits=Credits.of(10)), AlertRule("credits", percent=Decimal(50))],
    )
    clock.advance(hours=9)
    ledger.charge(account_id=SHOP, amount=Credits.of(10))  # 15 left: above both
    clock.advance(hours=1)
    ledger.charge(account_id=SHOP, amount=Credits.of(6))  # 9 left: below 12.5 and 10
    clock.advance(hours=1)
    with pytest.raises(InsufficientCreditsError):
        ledger.charge(account_id=SHOP, amount=Credits.of(20))
    clock.advance(hours=1)
    ledger.grant(SHOP, Credits.of(20), source="top_up")  # 29 left: recovered
    clock.advance(hours=1)
    expires_at = clock.now() + timedelta(days=3)
    ledger.grant(SHOP, Credits.of(8), source="bonus", expires_at=expires_at)
    clock.advance(days=31)  # February: the bonus expired, the period renews
    ledger.touch(SHOP)


@pytest.fixture
def world(events_ledger: Ledger, clock: ManualClock) -> Keys:
    shop_month(events_ledger, clock)
    events_ledger.open_account("starter", account_id=OTHER, name="Other")
    events_ledger.grant(OTHER, Credits.of(3), source="bonus")
    events_ledger.open_account("starter", account_id=PLAIN, name="Plain")
    keys = [
        events_ledger.create_key(None, scope=Scope.OPERATOR),
        events_ledger.create_key(SHOP, scope=Scope.READ),
        events_ledger.create_key(OTHER, scope=Scope.READ),
        events_ledger.create_key(PLAIN, scope=Scope.READ),
    ]
    secrets = [key.secret for key in keys]
    assert all(secrets)
    return Keys(*(secret or "" for secret in secrets))


@pytest.fixture
def client(events_ledger: Ledger) -> Iterator[TestClient]:
    with app_client(events_ledger) as test_client:
        yield test_client


def text(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def rows(html: str) -> list[tuple[str, str, str]]:
    """(event id, type, the row's text) of each row of the events table."""
    return [(event_id, kind, text(cells)) for event_id, kind, cells in ROW.findall(html)]


def test_the_page_words_the_alerts_and_every_event(
    client: TestClient, world: Keys, events_ledger: Ledger
) -> None:
    sign_in(client, world.shop)
    page = client.get(f"/dashboard/accounts/{SHOP}/events")
    assert page.status_code == 200, page.text
    body = text(page.text)
    assert "This account has its own alerts; they replace the Starter plan's defaults." in body
    card = text(page.text.split('data-pool="credits"', 1)[1].split("</section>", 1)[0])
    assert "Below 50 % of the period's allowance (12.5 credits) Below 10 credits" in card
    available = events_ledger.get_alerts(SHOP).pools[0].available
    assert f"{formatting.credits(available)} available now OK: above every alert." in card
    shown = rows(page.text)
    events = events_ledger.events(account_id=SHOP, limit=100).data
    assert [event_id for event_id, _, _ in shown] == [event.event_id for event in events]
    descriptions = [row for _, _, row in shown]
    for event, row in zip(events, descriptions, strict=True):
        assert row.startswith(formatting.when(event.created_at, "Europe/Paris")), row
    expected = [
        "Period renewed credits Period renewed: 25 credits, 5 rolled over; "
        "4 unused from the last period lapsed",
        "Credits expired credits 8 bonus credits expired",
        "Expiring soon credits 8 bonus credits expire on 4 Jan 2025, 14:00",
        "Credits granted credits 8 credits granted (bonus), expiring 4 Jan 2025, 14:00",
        "Recovered credits Credits back at 10 or more (29 left)",
        "Recovered credits Credits back at 12.5 or more (29 left), the 50 % alert",
        "Recovered credits Credits available again (29 left)",
        "Credits granted credits 20 credits granted (top-up)",
        "Ran out credits Pool ran out: a charge of 20 was refused (9 left)",
        "Low balance credits Credits fell below 10 (9 left)",
        "Low balance credits Credits fell below 12.5 (9 left), the 50 % alert",
    ]
    for wanted in expected:
        assert any(row.endswith(wanted) for row in descriptions), (wanted, descriptions)


def test_pool_states_read_as_a_customer_would(
    client: TestClient, world: Keys, events_ledger: Ledger, clock: ManualClock
) -> None:
    available = events_ledger.get_alerts(SHOP).pools[0].available
    assert available == Credits.of(50)  # 25 + 5 rolled over + the 20 top-up
    events_ledger.charge(account_id=SHOP, amount=Credits.of(42))
    sign_in(client, world.shop)
    card = client.get(f"/dashboard/accounts/{SHOP}/events").text
    assert 'data-state="low"' in card
    assert "Low: below 12.5 and 10 credits." in text(card)
    with pytest.raises(InsufficientCreditsError):
        events_ledger.charge(account_id=SHOP, amount=Credits.of(9))
    card = client.get(f"/dashboard/accounts/{SHOP}/events").text
    assert 'data-state="ran_out"' in card
    assert (
        "Ran out: a charge was refused for lack of credits. This clears when credits are added."
        in text(card)
    )


def test_the_plans_defaults_and_no_events(client: TestClient, world: Keys) -> None:
    sign_in(client, world.plain)
    page = client.get(f"/dashboard/accounts/{PLAIN}/events")
    body = text(page.text)
    assert "These are the Starter plan's default alerts" in body
    assert "Below 5 credits" in body
    assert rows(page.text) == []
    assert "No events yet." in body


def test_filter_by_type(client: TestClient, world: Keys) -> None:
    sign_in(client, world.shop)
    page = client.get(f"/dashboard/accounts/{SHOP}/events?type=balance.low")
    assert page.status_code == 200
    assert [kind for _, kind, _ in rows(page.text)] == ["balance.low", "balance.low"]
    assert '<option value="balance.low" selected>Low balance</option>' in page.text
    page = client.get(f"/dashboard/accounts/{SHOP}/events?type=run.paused")
    assert rows(page.text) == [] and "No run paused events." in text(page.text)
    page = client.get(f"/dashboard/accounts/{SHOP}/events?type=webhook_endpoint.disabled")
    assert page.status_code == 400
    assert "unknown event type" in text(page.text)


def test_pages_follow_the_engines_cursor(
    client: TestClient, world: Keys, events_ledger: Ledger, clock: ManualClock
) -> None:
    for _ in range(event_figures.EVENTS_PAGE_SIZE + 3):
        clock.advance(minutes=1)
        events_ledger.grant(OTHER, Credits.of(1), source="bonus")
    everything = events_ledger.events(account_id=OTHER, limit=100).data
    sign_in(client, world.other)
    first = client.get(f"/dashboard/accounts/{OTHER}/events")
    assert [row[0] for row in rows(first.text)] == [
        event.event_id for event in everything[: event_figures.EVENTS_PAGE_SIZE]
    ]
    older = re.search(r'href="([^"]+)" rel="next"', first.text)
    assert older is not None and "cursor=" in older.group(1)
    second = client.get(unescape(older.group(1)))
    assert [row[0] for row in rows(second.text)] == [
        event.event_id for event in everything[event_figures.EVENTS_PAGE_SIZE :]
    ]
    assert 'rel="next"' not in second.text and 'rel="first"' in second.text
    filtered = client.get(f"/dashboard/accounts/{OTHER}/events?type=credits.granted")
    older = re.search(r'href="([^"]+)" rel="next"', filtered.text)
    assert older is not None and "type=credits.granted" in unescape(older.group(1))
    assert client.get(f"/dashboard/accounts/{OTHER}/events?cursor=nonsense").status_code == 400


def test_an_account_sees_only_its_own_events(
    client: TestClient, world: Keys, events_ledger: Ledger
) -> None:
    sign_in(client, world.other)
    missing = client.get("/dashboard/accounts/nobody/events")
    page = client.get(f"/dashboard/accounts/{SHOP}/events")
    assert page.status_code == missing.status_code == 404
    assert page.text == missing.text  # exactly the page a missing account gets
    own = client.get(f"/dashboard/accounts/{OTHER}/events")
    shop_events = {e.event_id for e in events_ledger.events(account_id=SHOP, limit=100).data}
    assert own.status_code == 200 and rows(own.text)
    assert not shop_events & {row[0] for row in rows(own.text)}
    client.cookies.clear()
    sign_in(client, world.operator)
    page = client.get(f"/dashboard/accounts/{SHOP}/events")
    assert page.status_code == 200 and len(rows(page.text)) == len(shop_events)


@pytest.mark.parametrize(
    ("kind", "data", "words"),
    [
        ("balance.depleted", {"available": 0, "reason": "exhausted"}, "Pool ran out (0 left)"),
        (
            "balance.depleted",
            {"available": -3000, "reason": "exhausted"},
            "Pool ran out (−3 left)",
        ),
        (
            "run.paused",
            {"reason": "insufficient_credits", "requested": 6000},
            "Run paused: a charge of 6 was refused (not enough credits)",
        ),
        (
            "run.finished",
            {"status": "finished", "charged": 116000, "released": 4500},
            "Run finished: 116 credits charged, 4.5 held credits released",
        ),
        ("credits.granted", {"source": "top_up", "amount": 1000}, "1 credit granted (top-up)"),
        (
            "credits.expiring",
            {"source": "bonus", "remaining": 1000, "expires_at": "2026-01-04T00:00:00Z"},
            "1 bonus credit expires on 4 Jan 2026, 00:00",
        ),
        (
            "credits.expired",
            {"source": "rollover", "amount": 5000},
            "5 rolled-over credits expired",
        ),
        (
            "period.renewed",
            {"allowance": 25000, "rollover": 0, "expired": 0},
            "Period renewed: 25 credits",
        ),
    ],
)
def test_descriptions(kind: str, data: dict[str, object], words: str) -> None:
    assert event_figures.DESCRIPTIONS[kind](data, "UTC") == words
