"""Screenshots of every dashboard page for README.md, taken from the real server.

    python scripts/screenshots.py [--out docs/screenshots]

Seeds the test world (tests/dashboard/seed.py: deterministic, clock fixed at 20 May 2026)
into a temporary SQLite file, serves it with uvicorn on a free loopback port, signs in
with Debian's Chromium (/usr/bin/chromium, through Playwright) and saves one PNG per page,
plus the overview on a phone-sized screen.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import Page, ViewportSize, sync_playwright  # noqa: E402
from tests.dashboard.conftest import start_server, stop_server  # noqa: E402
from tests.dashboard.seed import ACME, BETA, seeded_ledger  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}


def sign_in(page: Page, base_url: str, key: str) -> None:
    page.goto(f"{base_url}/dashboard/login")
    page.fill("#api_key", key)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def shoot(page: Page, url: str, path: Path, *, wait_for_chart: bool = False) -> None:
    page.goto(url)
    page.wait_for_load_state("networkidle")
    if wait_for_chart:
        page.wait_for_function("() => window.Chart && document.querySelector('canvas[data-chart]')")
    page.screenshot(path=str(path), full_page=True)
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    out = parser.parse_args().out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite:///{scratch}/screenshots.db"
        ledger, world = seeded_ledger(url)
        ledger.close()
        process, base_url = start_server(url)
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, args=["--no-sandbox"]
                )
                account = f"{base_url}/dashboard/accounts/{ACME}"
                desktop = browser.new_page(viewport=DESKTOP)
                shoot(desktop, f"{base_url}/dashboard/login", out / "login.png")
                sign_in(desktop, base_url, world.operator_key)
                shoot(desktop, f"{base_url}/dashboard/accounts", out / "operator.png")
                shoot(desktop, account, out / "overview.png")
                shoot(
                    desktop, f"{account}/usage?range=period", out / "usage.png", wait_for_chart=True
                )
                shoot(desktop, f"{account}/transactions", out / "transactions.png")
                shoot(desktop, f"{account}/runs", out / "runs.png")
                run = f"{account}/runs/{world.dominant_run_id}"
                shoot(desktop, run, out / "run.png", wait_for_chart=True)
                events = f"{base_url}/dashboard/accounts/{BETA}/events"
                shoot(desktop, events, out / "events.png")
                phone = browser.new_page(viewport=PHONE, device_scale_factor=2, is_mobile=True)
                sign_in(phone, base_url, world.acme_key)
                shoot(phone, account, out / "overview-phone.png")
                browser.close()
        finally:
            stop_server(process)


if __name__ == "__main__":
    main()
