"""`GET /v1/accounts/{account_id}/runs`: newest first, paged by a stable cursor."""

from __future__ import annotations

from tests.api.conftest import Api, bearer


def _start(api: Api, account_id: str) -> str:
    run = api.ok("POST", "/v1/runs", json={"account_id": account_id, "rate_card_id": "maps"})
    api.ok("POST", f"/v1/runs/{run['run_id']}/finish")
    run_id: str = run["run_id"]
    return run_id


def test_runs_page_past_the_first_page(api: Api) -> None:
    keys = api.account("acme")
    started = [_start(api, "acme") for _ in range(5)]
    everything = api.ok("GET", "/v1/accounts/acme/runs?limit=100")
    assert (everything["has_more"], everything["next_cursor"]) == (False, None)
    newest_first = [r["run_id"] for r in everything["data"]]
    assert sorted(newest_first) == sorted(started)

    first = api.ok("GET", "/v1/accounts/acme/runs?limit=2", headers=bearer(keys.read))
    assert first["has_more"] is True and isinstance(first["next_cursor"], str)
    seen = [r["run_id"] for r in first["data"]]
    # A run started between pages neither hides nor repeats another one; it may show up
    # on a later page only when it started in the very same instant (the test clock stands).
    late = _start(api, "acme")
    page = first
    while page["has_more"]:
        page = api.ok(
            "GET", "/v1/accounts/acme/runs", params={"limit": 2, "cursor": page["next_cursor"]}
        )
        seen += [r["run_id"] for r in page["data"]]
    assert [run_id for run_id in seen if run_id != late] == newest_first
    assert len(seen) == len(set(seen))
    assert page["next_cursor"] is None


def test_a_malformed_runs_cursor_is_refused(api: Api) -> None:
    api.account("acme")
    response = api.client.get(
        "/v1/accounts/acme/runs", params={"cursor": "garbage"}, headers=api.operator
    )
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
