"""The dashboard in a real browser: Debian's Chromium driven by Playwright against the real
server (uvicorn on a free loopback port, seeded SQLite file, clock fixed at NOW).

Each page is checked for the seeded account's figures (read back from the ledger and also
pinned where the seed makes them obvious), charts are checked to be drawn with data, and
filters, pagination, CSV export, sign-out, revocation and tenant isolation are exercised as
a person would.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from tests.dashboard.conftest import Seeded, Server, start_server, stop_server
from tests.dashboard.seed import ACME, BETA, GAMMA, NOW
from tests.stripe_fake import WEBHOOK_SECRET, FakeStripe, event, serve, signed

from creditbook import Credits, Ledger, ManualClock
from creditbook.dashboard import figures, formatting
from creditbook.domain.payments import CreditPack
from creditbook.engine.payments.stripe_api import StripeSettings

CHROMIUM = Path("/usr/bin/chromium")

if not CHROMIUM.exists():
    pytest.skip(
        f"browser tests need Debian's Chromium at {CHROMIUM} (apt-get install -y chromium)",
        allow_module_level=True,
    )

from playwright.sync_api import (  # noqa: E402
    Browser,
    BrowserContext,
    Page,
    ViewportSize,
    expect,
    sync_playwright,
)

PHONE: ViewportSize = {"width": 390, "height": 844}
# True once the usage chart is drawn with `days` bars (after an htmx swap it is redrawn).
DAYS_DRAWN = """days => {
    const chart = window.Chart && Chart.getChart(document.getElementById('daily-chart'));
    return Boolean(chart) && chart.data.labels.length === days;
}"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    opened = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    yield opened
    opened.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    yield opened
    # No script error, no CSP violation ("Refused to …"); error statuses (401, 404) that
    # pages answer on purpose are logged as failed loads and are fine.
    problems = [e for e in errors if not e.startswith("Failed to load resource")]
    assert not problems, problems


@pytest.fixture
def ledger(server: Server) -> Iterator[Ledger]:
    """The served database, read at the server's instant (the oracle for figures)."""
    opened = Ledger.open(server.database_url, clock=ManualClock(NOW))
    yield opened
    opened.close()


def sign_in(page: Page, server: Server, key: str) -> None:
    page.goto(f"{server.base_url}/dashboard/login")
    page.fill("#api_key", key)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def chart_data(page: Page, canvas_id: str) -> dict[str, Any]:
    """The Chart.js instance drawn on a canvas: its labels and datasets."""
    page.wait_for_function(
        "id => window.Chart && window.Chart.getChart(document.getElementById(id))", arg=canvas_id
    )
    data: dict[str, Any] = page.evaluate(
        """id => {
            const chart = window.Chart.getChart(document.getElementById(id));
            return {
                type: chart.config.type,
                labels: chart.data.labels,
                datasets: chart.data.datasets.map(d => ({
                    label: d.label, data: d.data, color: d.backgroundColor
                })),
                width: chart.width,
            };
        }""",
        canvas_id,
    )
    return data


def text_of(page: Page, selector: str) -> str:
    return " ".join(page.locator(selector).inner_text().split())


# -- sign-in --------------------------------------------------------------------------------


def test_an_invalid_key_is_refused_with_a_message(page: Page, server: Server) -> None:
    sign_in(page, server, "cb_not_a_real_key")
    expect(page.locator("#login-error")).to_contain_text("That API key is not valid")
    assert page.url.endswith("/dashboard/login")


def test_overview_shows_the_seeded_accounts_figures(
    page: Page, server: Server, ledger: Ledger
) -> None:
    sign_in(page, server, server.world.acme_key)
    assert page.url == f"{server.base_url}/dashboard/accounts/{ACME}"
    card = page.locator('[data-pool="credits"]')
    pool = ledger.balance(ACME).pools["credits"]
    # Pinned by the seed: 5,000 allowance + 500 rollover + 250 bonus + 5,000 top-up, less
    # 4,935 spent in May and 100 held by the running run.
    assert text_of(page, '[data-pool="credits"] [data-figure="available"]') == "5,715"
    assert formatting.credits(pool.available) == "5,715"
    expect(card.locator('[data-figure="consumed"]')).to_have_text("4,935 of 5,000")
    expect(card.locator('[data-figure="held"]')).to_have_text("100")
    expect(card.locator('[data-figure="bonus"]')).to_have_text("0")  # bonus is spent first
    expect(page.locator("#slots")).to_have_text("2 of 10")
    expect(page.locator("#next-reset")).to_have_text("1 Jun 2026, 02:00 CEST")
    expect(page.locator("#period-elapsed")).to_contain_text("63.3 %")
    forecast = ledger.stats(ACME, date(2026, 5, 20), date(2026, 5, 20)).forecast
    for item in forecast:
        row = text_of(page, f'#forecast tr[data-window="{item.window_days}"]')
        assert formatting.burn(item.daily_burn) in row
        assert item.runs_out_on is not None and formatting.day(item.runs_out_on) in row
    expect(page.locator("#unpaid-bill")).to_have_count(0)
    expect(page.locator("#low-balance")).to_have_count(0)


def test_overview_warns_of_an_unpaid_bill_and_a_low_balance(page: Page, server: Server) -> None:
    sign_in(page, server, server.world.beta_key)
    expect(page.locator("#unpaid-bill")).to_be_visible()
    expect(page.locator("#low-balance")).to_be_visible()
    views = page.locator('[data-pool="contact_views"]')
    expect(views.locator('[data-figure="available"]')).to_have_text("35")
    expect(views.locator('[data-figure="consumed"]')).to_have_text("465 of 500")
    dials = page.locator('[data-pool="direct_dials"]')
    expect(dials.locator('[data-figure="available"]')).to_have_text("40")


def test_rollover_and_its_expiry(page: Page, server: Server) -> None:
    sign_in(page, server, server.world.operator_key)
    page.goto(f"{server.base_url}/dashboard/accounts/{GAMMA}")
    rollover = text_of(page, '[data-pool="credits"] [data-figure="rollover"]')
    assert rollover == "500 · expires 1 Jun 2026, 00:00"


# -- usage ----------------------------------------------------------------------------------


def test_usage_chart_is_stacked_by_function_in_the_rate_cards_colours(
    page: Page, server: Server, ledger: Ledger
) -> None:
    sign_in(page, server, server.world.acme_key)
    page.goto(f"{server.base_url}/dashboard/accounts/{ACME}/usage?range=7d")
    chart = chart_data(page, "daily-chart")
    assert chart["type"] == "bar" and chart["width"] > 0
    assert chart["labels"] == [f"{day} May" for day in range(14, 21)]
    colors = {d["label"]: d["color"] for d in chart["datasets"]}
    assert colors["get phone numbers"] == "#1D4ED8"
    assert colors["reveal email"] == "#7C3AED"
    assert colors["Base rows"] == "#0F9F5F"
    assert "Geo match (filter)" in colors and "Other (raw credits)" in colors
    stats = ledger.stats(ACME, date(2026, 5, 14), date(2026, 5, 20))
    drawn = sum(sum(d["data"]) for d in chart["datasets"])
    assert drawn == pytest.approx(float(stats.total.to_decimal()))
    assert all(any(value > 0 for value in d["data"]) for d in chart["datasets"])
    by_day = [sum(d["data"][i] for d in chart["datasets"]) for i in range(7)]
    assert by_day == pytest.approx([float(day.amount.to_decimal()) for day in stats.daily])
    expect(page.locator("#usage-total")).to_have_text(formatting.credits(stats.total))


def test_usage_ranges_swap_in_place(page: Page, server: Server, ledger: Ledger) -> None:
    sign_in(page, server, server.world.acme_key)
    page.goto(f"{server.base_url}/dashboard/accounts/{ACME}/usage?range=7d")
    chart_data(page, "daily-chart")
    page.evaluate("window.__same_document = true")  # gone if the page reloads
    page.click("text=30 days")
    page.wait_for_url(re.compile(r"range=30d"))
    page.wait_for_function(DAYS_DRAWN, arg=30)
    page.click("text=This period")
    page.wait_for_url(re.compile(r"range=period"))
    page.wait_for_function(DAYS_DRAWN, arg=20)
    expect(page.locator("#usage-total")).to_have_text("4,935")  # all of May's spend so far
    page.fill('#custom-range input[name="from"]', "2026-05-10")
    page.fill('#custom-range input[name="to"]', "2026-05-12")
    page.click("#custom-range button")
    page.wait_for_url(re.compile(r"range=custom"))
    chart = chart_data(page, "daily-chart")
    assert chart["labels"] == ["10 May", "11 May", "12 May"]
    total = ledger.stats(ACME, date(2026, 5, 10), date(2026, 5, 12)).total
    expect(page.locator("#usage-total")).to_have_text(formatting.credits(total))
    assert page.evaluate("window.__same_document") is True  # htmx swapped, no reload


def test_usage_breakdowns_and_top_resources(page: Page, server: Server, ledger: Ledger) -> None:
    sign_in(page, server, server.world.acme_key)
    page.goto(f"{server.base_url}/dashboard/accounts/{ACME}/usage?range=period")
    stats = ledger.stats(ACME, date(2026, 5, 1), date(2026, 5, 20))
    body = page.locator("main").inner_text()
    for total in [*stats.by_module, *stats.by_service, *stats.by_user]:
        assert total.key in body
    modules = text_of(page, "section:has(h2:text('By module'))")
    assert "scraper 1,400 4,465" in modules and "lasso 420 420" in modules
    users = text_of(page, "section:has(h2:text('By user'))")
    for total in stats.by_user:
        assert f"{total.key} {formatting.credits(total.amount)}" in users
    rows = page.locator("#top-resources tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text("Dentists, Austin TX")
    top = stats.by_resource[0]
    expect(rows.nth(0)).to_contain_text(formatting.credits(top.amount))
    expect(rows.nth(2)).to_contain_text("Shoe catalogue")


# -- transactions ---------------------------------------------------------------------------


def test_transactions_paginate(page: Page, server: Server, ledger: Ledger) -> None:
    sign_in(page, server, server.world.acme_key)
    page.goto(f"{server.base_url}/dashboard/accounts/{ACME}/transactions")
    total = ledger.transactions(ACME, limit=1).total
    rows = page.locator("#transactions tbody tr")
    expect(rows).to_have_count(25)
    expect(page.locator("#history-count")).to_have_text(f"Showing 1–25 of {total}")
    first_page = rows.evaluate_all("rows => rows.map(r => r.dataset.transaction)")
    newest = ledger.transactions(ACME, limit=25).data
    assert first_page == [t.transaction_id for t in newest]
    page.click("text=Older →")
    page.wait_for_url(re.compile(r"page=2"))
    expect(page.locator("#history-count")).to_have_text(f"Showing 26–50 of {total}")
    second_page = rows.evaluate_all("rows => rows.map(r => r.dataset.transaction)")
    older = ledger.transactions(ACME, limit=25, offset=25).data
    assert second_page == [t.transaction_id for t in older]
    page.click("text=← Newer")
    page.wait_for_url(re.compile(r"/transactions$"))
    expect(page.locator("#history-count")).to_have_text(f"Showing 1–25 of {total}")


def test_transactions_filter_by_type_and_dates(page: Page, server: Server) -> None:
    sign_in(page, server, server.world.acme_key)
    page.goto(f"{server.base_url}/dashboard/accounts/{ACME}/transactions")
    page.select_option('#history-filter select[name="type"]', "BONUS")
    page.click("#history-filter button")
    page.wait_for_url(re.compile(r"type=BONUS"))
    rows = page.locator("#transactions tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Welcome bonus")
    expect(rows.first).to_contain_text("+250")
    page.select_option('#history-filter select[name="type"]', "DEDUCTION")
    page.fill('#history-filter input[name="from"]', "2026-05-20")
    page.fill('#history-filter input[name="to"]', "2026-05-20")
    page.click("#history-filter button")
    page.wait_for_url(re.compile(r"from=2026-05-20"))
    # 20 May: a daily run (4 lines), a catalogue charge, a support charge, the phone run (2).
    expect(rows).to_have_count(8)
    assert set(rows.evaluate_all("rows => rows.map(r => r.dataset.type)")) == {"DEDUCTION"}


def test_csv_export_downloads_the_filtered_history(page: Page, server: Server) -> None:
    sign_in(page, server, server.world.acme_key)
    page.goto(f"{server.base_url}/dashboard/accounts/{ACME}/transactions?type=BONUS")
    with page.expect_download() as download_info:
        page.click("#csv-export")
    download = download_info.value
    assert download.suggested_filename == "acme-transactions.csv"
    path = download.path()
    assert path is not None
    rows = list(csv.DictReader(io.StringIO(Path(path).read_text(encoding="utf-8"))))
    assert [(row["type"], row["amount"], row["description"]) for row in rows] == [
        ("BONUS", "250", "Welcome bonus")
    ]


# -- runs -----------------------------------------------------------------------------------


def test_runs_and_a_run_dominated_by_one_function(
    page: Page, server: Server, ledger: Ledger
) -> None:
    world = server.world
    sign_in(page, server, world.acme_key)
    page.goto(f"{server.base_url}/dashboard/accounts/{ACME}/runs")
    first_page = ledger.runs(ACME, limit=figures.RUNS_PAGE_SIZE).data
    expect(page.locator("#runs tbody tr")).to_have_count(len(first_page))
    expect(page.locator(f'tr[data-run="{world.running_run_id}"]')).to_contain_text("running")
    page.click(f'tr[data-run="{world.dominant_run_id}"] a')
    page.wait_for_url(re.compile(world.dominant_run_id))
    expect(page.locator("#run-total")).to_have_text("300")
    expect(page.locator("#dominant")).to_contain_text(
        "get phone numbers accounts for 60 % of this run's credits (180 of 300)"
    )
    chart = chart_data(page, "run-chart")
    assert chart["type"] == "doughnut"
    assert chart["labels"] == ["get phone numbers", "Export Listings"]
    assert chart["datasets"][0]["data"] == [180, 120]
    assert chart["datasets"][0]["color"] == ["#1D4ED8", "#0F9F5F"]
    phones = text_of(page, '#breakdown tr[data-function="get_phone_numbers"]')
    assert phones == "get phone numbers 6 30 180 60 %"


def test_a_balanced_run_has_no_callout_and_shows_its_filter(
    page: Page, server: Server, ledger: Ledger
) -> None:
    world = server.world
    sign_in(page, server, world.acme_key)
    page.goto(f"{server.base_url}/dashboard/accounts/{ACME}/runs/{world.balanced_run_id}")
    breakdown = ledger.run_breakdown(ACME, world.balanced_run_id)
    expect(page.locator("#run-total")).to_have_text(formatting.credits(breakdown.total_credits))
    expect(page.locator("#dominant")).to_have_count(0)
    expect(page.locator('#filters tr[data-filter="geo_match"]')).to_contain_text("Geo match")
    expect(page.locator('#filters tr[data-filter="geo_match"]')).to_contain_text("0.5")
    chart = chart_data(page, "run-chart")
    assert sum(chart["datasets"][0]["data"]) == pytest.approx(
        float(breakdown.total_credits.to_decimal())
    )
    assert len(chart["labels"]) == 4  # base, two functions, the filter


# -- alerts and events ----------------------------------------------------------------------


def test_alerts_and_a_low_balance_event_from_real_charges(
    page: Page, server: Server, ledger: Ledger
) -> None:
    # The seed set beta's alerts through the ledger; its charges crossed them.
    sign_in(page, server, server.world.beta_key)
    page.click("text=Alerts & events")
    page.wait_for_url(re.compile(rf"/accounts/{BETA}/events$"))
    expect(page.locator("#alerts-source")).to_contain_text("This account has its own alerts")
    views = page.locator('#alert-pools [data-pool="contact_views"]')
    expect(views.locator('[data-figure="available"]')).to_have_text("35")
    expect(views.locator('[data-figure="state"]')).to_have_text("Low: below 200 and 50 credits.")
    expect(views).to_contain_text("Below 10 % of the period's allowance (50 credits)")
    lows = ledger.events(account_id=BETA, types=["balance.low"]).data
    assert len(lows) == 3 and lows[0].data["transfer_id"]  # each caused by a charge
    row = page.locator(f'#events tr[data-event="{lows[1].event_id}"]')
    expect(row).to_have_text(
        re.compile(
            r"19 May 2026, 12:00\s+Low balance\s+contact views\s+"
            r"Credits fell below 50 \(35 left\), the 10 % alert"
        )
    )
    page.evaluate("window.__same_document = true")
    page.select_option('#events-filter select[name="type"]', "balance.low")
    page.click("#events-filter button")
    page.wait_for_url(re.compile(r"type=balance\.low"))
    shown = page.locator("#events tbody tr")
    expect(shown).to_have_count(3)
    assert shown.evaluate_all("rows => rows.map(r => r.dataset.event)") == [
        event.event_id for event in lows
    ]
    expect(shown.first).to_contain_text("Credits fell below 50 (40 left)")
    assert page.evaluate("window.__same_document") is True  # htmx swapped, no reload


# -- operator and isolation -----------------------------------------------------------------


def test_operator_sees_all_accounts_and_drills_down(page: Page, server: Server) -> None:
    sign_in(page, server, server.world.operator_key)
    assert page.url == f"{server.base_url}/dashboard/accounts"
    rows = page.locator("#accounts tbody tr")
    expect(rows).to_have_count(3)
    beta = page.locator(f'tr[data-account="{BETA}"]')
    expect(beta.locator('[data-flag="low"]')).to_be_visible()
    expect(beta).to_contain_text("Unpaid bill")
    expect(beta.locator('[data-pool="contact_views"]')).to_contain_text("35 of 500")
    acme = page.locator(f'tr[data-account="{ACME}"]')
    expect(acme.locator('[data-flag="low"]')).to_have_count(0)
    expect(acme.locator('[data-figure="burn"]')).to_have_text("356.21")
    acme.locator("a").click()
    page.wait_for_url(re.compile(rf"/accounts/{ACME}$"))
    expect(page.locator("h1")).to_have_text("Acme Leads")


def test_an_account_key_never_sees_another_account(page: Page, server: Server) -> None:
    sign_in(page, server, server.world.beta_key)
    paths = (
        "",
        "/usage",
        "/transactions",
        "/runs",
        "/events",
        f"/runs/{server.world.dominant_run_id}",
    )
    for path in paths:
        response = page.goto(f"{server.base_url}/dashboard/accounts/{ACME}{path}")
        assert response is not None and response.status == 404, path
        expect(page.locator("main h1")).to_have_text("Not found")
        assert "Acme" not in page.content()
    response = page.goto(f"{server.base_url}/dashboard/accounts")
    assert response is not None and response.status == 403


def test_sign_out(page: Page, server: Server) -> None:
    sign_in(page, server, server.world.acme_key)
    page.click("text=Sign out")
    page.wait_for_url(re.compile(r"/login\?reason=signed_out"))
    expect(page.locator("main")).to_contain_text("You are signed out.")
    page.goto(f"{server.base_url}/dashboard/accounts/{ACME}")
    assert "/dashboard/login" in page.url


def test_a_revoked_keys_session_ends(page: Page, server: Server, ledger: Ledger) -> None:
    sign_in(page, server, server.world.acme_revocable_key)
    expect(page.locator("h1")).to_have_text("Acme Leads")
    ledger.revoke_key(server.world.acme_revocable_key_id)
    page.reload()
    assert "/dashboard/login" in page.url
    expect(page.locator("main")).to_contain_text("has been revoked")


def test_pages_fit_a_phone(browser: Browser, server: Server) -> None:
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        sign_in(page, server, server.world.acme_key)
        for path in ("", "/usage?range=7d", "/transactions", "/runs", "/events"):
            page.goto(f"{server.base_url}/dashboard/accounts/{ACME}{path}")
            page.wait_for_load_state("networkidle")
            overflow = page.evaluate(
                "() => document.documentElement.scrollWidth - window.innerWidth"
            )
            assert overflow <= 0, (path, overflow)
    finally:
        context.close()


def test_the_events_table_stacks_on_a_phone(browser: Browser, server: Server) -> None:
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        sign_in(page, server, server.world.beta_key)
        page.goto(f"{server.base_url}/dashboard/accounts/{BETA}/events")
        row = page.locator("#events tbody tr").first
        assert row.evaluate("row => getComputedStyle(row).display") == "grid"
        header = page.locator("#events thead")
        assert header.evaluate("head => head.getBoundingClientRect().width") <= 1
        expect(row).to_contain_text("Credits fell below 50 (40 left)")
    finally:
        context.close()


# Amounts a phone cuts off: outside the viewport (a table scrolled sideways) or clipped.
CUT_AMOUNTS = """selector => [...document.querySelectorAll(selector)].flatMap(cell => {
    const box = cell.getBoundingClientRect();
    const inside = box.left >= 0 && box.right <= window.innerWidth;
    const whole = cell.scrollWidth <= cell.clientWidth;
    return inside && whole ? [] : [`${cell.innerText} ${box.left}-${box.right} ${
        cell.scrollWidth}/${cell.clientWidth}`];
})"""


def test_amounts_show_whole_on_a_phone(browser: Browser, server: Server) -> None:
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        sign_in(page, server, server.world.acme_key)
        pages = {
            "/transactions": "#transactions td.num",
            "/usage?range=7d": "td.num, .share-text, .stat-value",
            "/events": "#events td, [data-figure]",
        }
        for path, selector in pages.items():
            page.goto(f"{server.base_url}/dashboard/accounts/{ACME}{path}")
            page.wait_for_load_state("networkidle")
            assert page.locator(selector).count() > 0, path
            cut = page.evaluate(CUT_AMOUNTS, selector)
            assert cut == [], (path, cut)
    finally:
        context.close()


BULK = CreditPack(
    "credits-100000", Credits.of(100_000), MappingProxyType({"usd": 411_500}), name="Bulk 100k"
)


def record_purchase(database_url: str) -> None:
    """The bulk pack on sale, and acme's purchase of three, half refunded and disputed, as
    Stripe reports them."""
    settings = StripeSettings(webhook_secret=WEBHOOK_SECRET)
    ledger = Ledger.open(database_url, clock=ManualClock(NOW), stripe=settings)
    ledger.payments.put_pack(BULK)
    session = {
        "id": "cs_test_a1B2c3D4e5F6g7H8i9J0kLmNoPqRsTuVwXyZ0123456789",
        "object": "checkout.session",
        "payment_status": "paid",
        "payment_intent": "pi_3PqRsTuVwXyZ0123456789aB",
        "customer": "cus_test_0001",
        "amount_total": 1_234_500,
        "currency": "usd",
        "metadata": {
            "creditbook_account_id": ACME,
            "creditbook_pack_id": BULK.pack_id,
            "creditbook_quantity": "3",
            "creditbook_credits": str(3 * BULK.credits.millicredits),
            "creditbook_pool": "credits",
            "creditbook_kind": "checkout",
        },
    }
    refund = {"id": "ch_1", "payment_intent": session["payment_intent"], "amount_refunded": 617_250}
    dispute = {"id": "dp_1", "payment_intent": session["payment_intent"], "amount": 617_250}
    try:
        for kind, obj in (
            ("checkout.session.completed", session),
            ("charge.refunded", refund),
            ("charge.dispute.created", dispute),
        ):
            ledger.payments.handle_stripe(*signed(event(kind, obj)))
    finally:
        ledger.close()


@pytest.fixture
def shop(seeded: Seeded, tmp_path: Path) -> Iterator[Server]:
    """A server that sells credits through the Stripe stand-in, over a copy of the seeded
    database with one purchase (the shared server's database stays as seeded)."""
    target = tmp_path / "shop.db"
    target.write_bytes(Path(seeded.url.removeprefix("sqlite:///")).read_bytes())
    record_purchase(f"sqlite:///{target}")
    for stripe in serve(FakeStripe()):
        process, base_url = start_server(f"sqlite:///{target}", "--stripe-api-base", stripe.url)
        try:
            yield Server(base_url, f"sqlite:///{target}", seeded.world)
        finally:
            stop_server(process)


def test_buying_a_pack_goes_to_stripe_checkout(page: Page, shop: Server) -> None:
    # Stripe's page itself is not reachable from the tests: answer for it.
    page.route("https://checkout.stripe.com/**", lambda route: route.fulfill(body="Checkout"))
    sign_in(page, shop, shop.world.acme_revocable_key)  # a write key
    card = page.locator(f'#buy-credits [data-pack="{BULK.pack_id}"]')
    expect(card).to_contain_text("4,115.00 USD per pack")
    card.locator("input[name=quantity]").fill("2")
    card.locator("button[type=submit]").click()
    # The form's answer redirects to Stripe: the page's CSP lets the form go there.
    page.wait_for_url("https://checkout.stripe.com/c/pay/cs_test_*")


def test_purchase_amounts_show_whole_on_a_phone(browser: Browser, shop: Server) -> None:
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        sign_in(page, shop, shop.world.acme_key)
        page.click("nav >> text=Purchases")
        row = page.locator("#purchases tbody tr").first
        expect(row).to_contain_text("12,345.00 USD")
        expect(row).to_contain_text("6,172.50 USD")
        assert row.evaluate("row => getComputedStyle(row).display") == "grid"
        assert page.evaluate(CUT_AMOUNTS, "#purchases td.num") == []
        overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0
    finally:
        context.close()
