"""The service answers: health, metrics, a first charge through each header style."""

from __future__ import annotations

from tests.api.conftest import Api, bearer


def test_health_and_metrics(api: Api) -> None:
    health = api.client.get("/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert health.headers["x-request-id"]
    metrics = api.client.get("/metrics")
    assert "creditbook_http_requests_total" in metrics.text


def test_each_header_style_authenticates(api: Api) -> None:
    keys = api.account("acme")
    for headers in (
        bearer(keys.read),
        {"Authorization": f"Token {keys.read}"},
        {"X-API-KEY": keys.read},
    ):
        response = api.client.get("/v1/accounts/acme/balance", headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["pools"]["credits"]["available"] == 100


def test_metrics_count_charges_and_refusals(api: Api) -> None:
    keys = api.account("acme")
    for amount in (30, 30, 50):  # the third cannot be paid
        api.client.post(
            "/v1/accounts/acme/charges", json={"amount": amount}, headers=bearer(keys.write)
        )
    text = api.client.get("/metrics").text
    assert "creditbook_charges_total 2.0" in text
    assert 'creditbook_refusals_total{code="insufficient_credits"} 1.0' in text
