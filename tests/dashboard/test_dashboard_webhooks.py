"""The operator's webhooks page: every endpoint with its latest deliveries and attempts."""

from __future__ import annotations

from tests.dashboard.conftest import Seeded, app_client, sign_in
from tests.dashboard.seed import ACME, NOW

from creditbook import Credits, Ledger, ManualClock
from creditbook.domain.alerts import AlertRule

UNREACHABLE = "http://127.0.0.1:9/hooks"  # nothing listens: the attempt fails at once


def test_the_operator_sees_endpoints_and_their_delivery_history(fresh: Seeded) -> None:
    ledger = Ledger.open(fresh.url, clock=ManualClock(NOW), webhooks_allow_private=True)
    try:
        endpoint = ledger.create_webhook_endpoint(
            UNREACHABLE,
            event_types=["balance.low"],
            account_id=ACME,
            description="billing hooks",
        )
        ledger.set_alerts(ACME, [AlertRule("credits", credits=Credits.of(10**6))])
        dispatcher = ledger.webhook_dispatcher(timeout_s=1.0)
        try:
            assert dispatcher.drain(timeout_s=30)
        finally:
            dispatcher.stop()
        (delivery,) = ledger.webhook_deliveries(endpoint.endpoint_id).data  # the balance.low
        with app_client(ledger) as client:
            sign_in(client, fresh.world.operator_key)
            page = client.get("/dashboard/webhooks")
            assert page.status_code == 200
            text = page.text
            assert UNREACHABLE in text and "billing hooks" in text and "Enabled" in text
            assert f'data-delivery="{delivery.delivery_id}" data-status="pending"' in text
            assert delivery.event_id in text
            assert " ms</td>" in text  # the failed attempt, with how long it took
        with app_client(ledger) as client:
            sign_in(client, fresh.world.acme_key)
            refused = client.get("/dashboard/webhooks")
            assert refused.status_code == 403
            assert UNREACHABLE not in refused.text
    finally:
        ledger.close()


def test_no_endpoints_yet(fresh: Seeded) -> None:
    ledger = Ledger.open(fresh.url, clock=ManualClock(NOW))
    try:
        with app_client(ledger) as client:
            sign_in(client, fresh.world.operator_key)
            assert "No webhook endpoints yet." in client.get("/dashboard/webhooks").text
    finally:
        ledger.close()
