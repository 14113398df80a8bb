"""Serve the app on a ledger whose clock stands still: the browser tests' real server.

    python tests/dashboard/serve_fixed_clock.py --database-url URL --port N --now ISO
        [--stripe-api-base URL]

Everything a test sees is then as of `--now`: the seeded figures never drift with the wall
clock. The server is uvicorn on `create_app`, as `creditbook serve` runs it. With
`--stripe-api-base` the ledger sells credits through the Stripe stand-in listening there
(tests/stripe_fake.py).
"""

from __future__ import annotations

import argparse
from datetime import datetime

import uvicorn
from tests.stripe_fake import API_KEY, WEBHOOK_SECRET

from creditbook import Ledger, ManualClock
from creditbook.api.app import create_app
from creditbook.engine.payments.stripe_api import StripeSettings
from creditbook.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--now", required=True, help="ISO 8601 instant with an offset")
    parser.add_argument("--stripe-api-base", default=None)
    arguments = parser.parse_args()
    stripe = None
    if arguments.stripe_api_base:
        stripe = StripeSettings(
            api_key=API_KEY, webhook_secret=WEBHOOK_SECRET, api_base=arguments.stripe_api_base
        )
    ledger = Ledger.open(
        arguments.database_url,
        clock=ManualClock(datetime.fromisoformat(arguments.now)),
        stripe=stripe,
    )
    settings = Settings(
        database_url=arguments.database_url, rate_limit_per_s=10_000, rate_limit_burst=10_000
    )
    app = create_app(ledger, settings)
    try:
        uvicorn.run(app, host="127.0.0.1", port=arguments.port, log_level="warning")
    finally:
        ledger.close()


if __name__ == "__main__":
    main()
