"""The dashboard over HTTP, without a browser: sign-in, sessions, CSRF, cookie flags,
tenant isolation, CSV export, error pages. The browser tests check what the pages show."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from itsdangerous.timed import TimestampSigner
from pydantic import SecretStr
from tests.dashboard.conftest import Seeded, app_client, sign_in
from tests.dashboard.seed import ACME, BETA, NOW

from creditbook import Credits, Ledger, ManualClock
from creditbook.api.app import create_app
from creditbook.dashboard import figures, formatting, pages
from creditbook.dashboard.history_figures import HISTORY_PAGE_SIZE
from creditbook.dashboard.session import SESSION_COOKIE, SESSION_MAX_AGE_S, Sessions
from creditbook.domain.periods import SUPPORTED_YEARS
from creditbook.settings import Settings


def set_cookie_headers(response: object) -> list[str]:
    headers = response.headers  # type: ignore[attr-defined]
    found: list[str] = headers.get_list("set-cookie")
    return found


def cookie_named(response: object, name: str) -> str:
    matches = [h for h in set_cookie_headers(response) if h.startswith(f"{name}=")]
    assert len(matches) == 1, set_cookie_headers(response)
    return matches[0]


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match is not None
    return match.group(1)


# -- sign-in --------------------------------------------------------------------------------


def test_pages_redirect_to_sign_in_without_a_session(client: TestClient) -> None:
    for path in ("/dashboard/", f"/dashboard/accounts/{ACME}", "/dashboard/accounts"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        location = response.headers["location"]
        assert location.startswith("/dashboard/login?next="), location
    response = client.get(f"/dashboard/accounts/{ACME}/usage?range=7d", follow_redirects=False)
    location = response.headers["location"]
    assert location == "/dashboard/login?next=%2Fdashboard%2Faccounts%2Facme%2Fusage%3Frange%3D7d"
    form = client.get(location)
    assert 'name="next" value="/dashboard/accounts/acme/usage?range=7d"' in form.text


def test_bare_mount_path_leads_to_the_dashboard(client: TestClient) -> None:
    response = client.get("/dashboard", follow_redirects=True)
    assert response.status_code == 200
    assert "Sign in" in response.text


def test_sign_in_with_an_account_key_opens_its_overview(client: TestClient, seeded: Seeded) -> None:
    response = sign_in(client, seeded.world.acme_key)
    assert response.status_code == 303
    assert response.headers["location"] == f"/dashboard/accounts/{ACME}"
    page = client.get(response.headers["location"])
    assert page.status_code == 200
    assert "Acme Leads" in page.text


def test_sign_in_with_the_operator_key_opens_the_list_of_accounts(
    client: TestClient, seeded: Seeded
) -> None:
    response = sign_in(client, seeded.world.operator_key)
    assert response.headers["location"] == "/dashboard/accounts"
    page = client.get("/dashboard/accounts")
    assert page.status_code == 200
    for name in ("Acme Leads", "Beta Data", "Gamma Labs"):
        assert name in page.text


def test_sign_in_returns_to_the_page_asked_for_and_only_inside_the_dashboard(
    client: TestClient, seeded: Seeded
) -> None:
    wanted = f"/dashboard/accounts/{ACME}/runs"
    response = sign_in(client, seeded.world.acme_key, next_url=wanted)
    assert response.headers["location"] == wanted
    client.cookies.clear()
    for hostile in ("//evil.example/x", "https://evil.example/", "/dashboard//evil.example"):
        response = sign_in(client, seeded.world.acme_key, next_url=hostile)
        assert response.headers["location"] == f"/dashboard/accounts/{ACME}", hostile
        client.cookies.clear()


def test_an_invalid_key_gets_a_clear_message(client: TestClient, seeded: Seeded) -> None:
    for key in ("not-a-key", "cb_0000000000000000_" + "a" * 32 + "_00000000"):
        response = sign_in(client, key)
        assert response.status_code == 401
        assert "That API key is not valid" in response.text
        assert not any(h.startswith(SESSION_COOKIE) for h in set_cookie_headers(response))
    response = sign_in(client, "")
    assert response.status_code == 400
    assert "Enter an API key" in response.text


def test_a_revoked_key_cannot_sign_in(fresh: Seeded) -> None:
    ledger = Ledger.open(fresh.url, clock=ManualClock(NOW))
    try:
        ledger.revoke_key(fresh.world.acme_revocable_key_id)
        with app_client(ledger) as client:
            response = sign_in(client, fresh.world.acme_revocable_key)
            assert response.status_code == 403
            assert "revoked" in response.text
    finally:
        ledger.close()


def test_a_revoked_keys_session_stops_working(fresh: Seeded) -> None:
    ledger = Ledger.open(fresh.url, clock=ManualClock(NOW))
    try:
        with app_client(ledger) as client:
            assert sign_in(client, fresh.world.acme_revocable_key).status_code == 303
            assert client.get(f"/dashboard/accounts/{ACME}").status_code == 200
            ledger.revoke_key(fresh.world.acme_revocable_key_id)
            response = client.get(f"/dashboard/accounts/{ACME}", follow_redirects=False)
            assert response.status_code == 303
            assert "reason=revoked" in response.headers["location"]
            assert "has been revoked" in client.get(response.headers["location"]).text
            # The cookie is cleared too.
            assert cookie_named(response, SESSION_COOKIE).startswith(f'{SESSION_COOKIE}="";')
    finally:
        ledger.close()


# -- cookies --------------------------------------------------------------------------------


def test_session_cookie_flags(client: TestClient, seeded: Seeded) -> None:
    form = client.get("/dashboard/login")
    login_cookie = cookie_named(form, "creditbook_login_csrf").lower()
    for flag in ("httponly", "path=/dashboard", "samesite=strict", "max-age=3600"):
        assert flag in login_cookie
    response = sign_in(client, seeded.world.acme_key)
    cookie = cookie_named(response, SESSION_COOKIE)
    lowered = cookie.lower()
    for flag in ("httponly", "path=/dashboard", "samesite=lax", f"max-age={SESSION_MAX_AGE_S}"):
        assert flag in lowered, cookie
    assert "secure" not in lowered  # plain http here
    assert seeded.world.acme_key not in cookie  # the key itself is never in the cookie


def test_session_cookie_is_secure_over_https(ledger: Ledger, seeded: Seeded) -> None:
    with app_client(ledger, base_url="https://testserver") as client:
        form = client.get("/dashboard/login")
        assert "secure" in cookie_named(form, "creditbook_login_csrf").lower()
        response = sign_in(client, seeded.world.acme_key)
        assert response.status_code == 303
        assert "secure" in cookie_named(response, SESSION_COOKIE).lower()


@pytest.mark.parametrize(
    ("setting", "base_url", "secure"),
    [
        (True, "http://testserver", True),  # TLS ended by a proxy uvicorn does not trust
        (False, "https://testserver", False),
        (None, "https://testserver", True),
        (None, "http://testserver", False),
    ],
)
def test_the_secure_flag_can_be_forced(
    ledger: Ledger, seeded: Seeded, setting: bool | None, base_url: str, secure: bool
) -> None:
    settings = Settings(
        rate_limit_per_s=10_000, rate_limit_burst=10_000, session_cookie_secure=setting
    )
    with TestClient(create_app(ledger, settings), base_url=base_url) as client:
        form = client.get("/dashboard/login")
        login_cookie = cookie_named(form, "creditbook_login_csrf")
        assert ("secure" in login_cookie.lower()) is secure
        # Sent by hand: the test client, like a browser, keeps a Secure cookie from http.
        client.cookies.clear()
        response = client.post(
            "/dashboard/login",
            data={"csrf_token": csrf_of(form.text), "api_key": seeded.world.acme_key},
            headers={"Cookie": login_cookie.split(";")[0]},
            follow_redirects=False,
        )
        assert response.status_code == 303
        assert ("secure" in cookie_named(response, SESSION_COOKIE).lower()) is secure


@pytest.mark.parametrize(
    ("value", "parsed"), [(None, None), ("true", True), ("1", True), ("false", False)]
)
def test_the_secure_flag_setting_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, value: str | None, parsed: bool | None
) -> None:
    monkeypatch.delenv("CREDITBOOK_SESSION_COOKIE_SECURE", raising=False)
    if value is not None:
        monkeypatch.setenv("CREDITBOOK_SESSION_COOKIE_SECURE", value)
    assert Settings().session_cookie_secure is parsed


def test_a_short_session_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16 characters"):
        Sessions("s" * 15, "/dashboard")
    Sessions("s" * 16, "/dashboard")


def test_processes_with_the_same_secret_share_sessions(ledger: Ledger, seeded: Seeded) -> None:
    """Several workers (or machines) given one CREDITBOOK_SESSION_SECRET accept each
    other's sessions; another secret does not."""

    def worker(secret: str) -> TestClient:
        settings = Settings(
            rate_limit_per_s=10_000, rate_limit_burst=10_000, session_secret=SecretStr(secret)
        )
        return TestClient(create_app(ledger, settings))

    with worker("s" * 32) as first, worker("s" * 32) as second, worker("t" * 32) as third:
        assert sign_in(first, seeded.world.acme_key).status_code == 303
        cookie = first.cookies[SESSION_COOKIE]
        second.cookies.set(SESSION_COOKIE, cookie)
        assert second.get(f"/dashboard/accounts/{ACME}").status_code == 200
        third.cookies.set(SESSION_COOKIE, cookie)
        refused = third.get(f"/dashboard/accounts/{ACME}", follow_redirects=False)
        assert refused.status_code == 303


def test_a_tampered_session_cookie_is_refused(client: TestClient, seeded: Seeded) -> None:
    sign_in(client, seeded.world.acme_key)
    value = client.cookies[SESSION_COOKIE]
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, value[:-2] + ("AA" if value[-2:] != "AA" else "BB"))
    response = client.get(f"/dashboard/accounts/{ACME}", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/dashboard/login")


def test_a_session_expires(
    client: TestClient, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    sign_in(client, seeded.world.acme_key)
    assert client.get(f"/dashboard/accounts/{ACME}").status_code == 200
    later = int(datetime.now(UTC).timestamp()) + SESSION_MAX_AGE_S + 60
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: later)
    response = client.get(f"/dashboard/accounts/{ACME}", follow_redirects=False)
    assert response.status_code == 303
    assert "reason=expired" in response.headers["location"]


def test_htmx_requests_without_a_session_are_told_to_navigate(client: TestClient) -> None:
    response = client.get(
        f"/dashboard/accounts/{ACME}/usage", headers={"HX-Request": "true"}, follow_redirects=False
    )
    assert response.status_code == 204
    assert response.headers["HX-Redirect"].startswith("/dashboard/login")


# -- CSRF -----------------------------------------------------------------------------------


def test_sign_in_without_the_forms_token_is_refused(client: TestClient, seeded: Seeded) -> None:
    client.get("/dashboard/login")  # the form's cookie is set, but no token is sent
    response = client.post(
        "/dashboard/login", data={"api_key": seeded.world.acme_key}, follow_redirects=False
    )
    assert response.status_code == 403
    assert "form had expired" in response.text
    assert not any(h.startswith(SESSION_COOKIE) for h in set_cookie_headers(response))
    response = client.post(
        "/dashboard/login",
        data={"api_key": seeded.world.acme_key, "csrf_token": "forged"},
        follow_redirects=False,
    )
    assert response.status_code == 403


def test_sign_in_token_without_its_cookie_is_refused(client: TestClient, seeded: Seeded) -> None:
    token = csrf_of(client.get("/dashboard/login").text)
    client.cookies.clear()  # another site's form cannot send our SameSite=Strict cookie
    response = client.post(
        "/dashboard/login",
        data={"api_key": seeded.world.acme_key, "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 403


def test_sign_in_from_another_origin_is_refused(client: TestClient, seeded: Seeded) -> None:
    token = csrf_of(client.get("/dashboard/login").text)
    response = client.post(
        "/dashboard/login",
        data={"api_key": seeded.world.acme_key, "csrf_token": token},
        headers={"Origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert response.status_code == 403


def test_sign_out_needs_the_sessions_token(fresh: Seeded) -> None:
    ledger = Ledger.open(fresh.url, clock=ManualClock(NOW))
    try:
        with app_client(ledger) as client:
            sign_in(client, fresh.world.acme_key)
            overview = client.get(f"/dashboard/accounts/{ACME}")
            token = csrf_of(overview.text)
            refused = client.post("/dashboard/logout", data={}, follow_redirects=False)
            assert refused.status_code == 403
            refused = client.post(
                "/dashboard/logout", data={"csrf_token": "x" + token}, follow_redirects=False
            )
            assert refused.status_code == 403
            assert client.get(f"/dashboard/accounts/{ACME}").status_code == 200  # signed in
            response = client.post(
                "/dashboard/logout", data={"csrf_token": token}, follow_redirects=False
            )
            assert response.status_code == 303
            assert response.headers["location"] == "/dashboard/login?reason=signed_out"
            assert "max-age=0" in cookie_named(response, SESSION_COOKIE).lower()
            after = client.get(f"/dashboard/accounts/{ACME}", follow_redirects=False)
            assert after.status_code == 303
    finally:
        ledger.close()


def test_a_copied_cookie_is_refused_after_sign_out(fresh: Seeded) -> None:
    """Sign-out ends the session on the server: a copy of the cookie (kept by an attacker,
    or sent to another worker process) no longer signs anyone in."""
    secret = SecretStr("s" * 32)
    settings = Settings(rate_limit_per_s=10_000, rate_limit_burst=10_000, session_secret=secret)
    first_ledger = Ledger.open(fresh.url, clock=ManualClock(NOW))
    second_ledger = Ledger.open(fresh.url, clock=ManualClock(NOW))  # another worker
    try:
        with (
            TestClient(create_app(first_ledger, settings)) as browser,
            TestClient(create_app(second_ledger, settings)) as copy,
        ):
            assert sign_in(browser, fresh.world.acme_key).status_code == 303
            copy.cookies.set(SESSION_COOKIE, browser.cookies[SESSION_COOKIE])
            assert copy.get(f"/dashboard/accounts/{ACME}").status_code == 200
            token = csrf_of(browser.get(f"/dashboard/accounts/{ACME}").text)
            response = browser.post(
                "/dashboard/logout", data={"csrf_token": token}, follow_redirects=False
            )
            assert response.status_code == 303
            refused = copy.get(f"/dashboard/accounts/{ACME}", follow_redirects=False)
            assert refused.status_code == 303
            assert "reason=signed_out" in refused.headers["location"]
            # Signing in again starts a new session that works.
            assert sign_in(browser, fresh.world.acme_key).status_code == 303
            assert browser.get(f"/dashboard/accounts/{ACME}").status_code == 200
    finally:
        first_ledger.close()
        second_ledger.close()


def test_a_token_from_another_session_does_not_sign_out(ledger: Ledger, seeded: Seeded) -> None:
    with app_client(ledger) as first, app_client(ledger) as second:
        sign_in(first, seeded.world.acme_key)
        sign_in(second, seeded.world.acme_key)
        other_token = csrf_of(second.get(f"/dashboard/accounts/{ACME}").text)
        response = first.post(
            "/dashboard/logout", data={"csrf_token": other_token}, follow_redirects=False
        )
        assert response.status_code == 403


# -- tenant isolation -----------------------------------------------------------------------


def account_pages(account_id: str, run_id: str) -> list[str]:
    base = f"/dashboard/accounts/{account_id}"
    return [
        base,
        f"{base}/usage",
        f"{base}/usage?range=7d",
        f"{base}/transactions",
        f"{base}/transactions?page=2",
        f"{base}/transactions.csv",
        f"{base}/runs",
        f"{base}/events",
        f"{base}/events?type=balance.low",
        f"{base}/runs/{run_id}",  # last: the operator's test leaves it out
    ]


def test_an_account_key_sees_another_accounts_pages_as_missing(
    client: TestClient, seeded: Seeded
) -> None:
    world = seeded.world
    sign_in(client, world.beta_key)
    for other, missing in zip(
        account_pages(ACME, world.dominant_run_id),
        account_pages("no-such-account", world.dominant_run_id),
        strict=True,
    ):
        seen = client.get(other, follow_redirects=False)
        absent = client.get(missing, follow_redirects=False)
        assert seen.status_code == 404, other
        assert (seen.status_code, seen.text) == (absent.status_code, absent.text), other
        assert "Acme" not in seen.text
    # Another account's run under the caller's own account: missing, like an unknown run.
    seen = client.get(f"/dashboard/accounts/{BETA}/runs/{world.dominant_run_id}")
    absent = client.get(f"/dashboard/accounts/{BETA}/runs/{'0' * 32}")
    assert seen.status_code == absent.status_code == 404
    assert seen.text == absent.text


def test_the_operator_sees_every_account(client: TestClient, seeded: Seeded) -> None:
    sign_in(client, seeded.world.operator_key)
    for account_id, run_id in ((ACME, seeded.world.dominant_run_id), (BETA, "0" * 32)):
        for path in account_pages(account_id, run_id)[:-1]:
            assert client.get(path).status_code == 200, path
    missing = client.get("/dashboard/accounts/no-such-account")
    assert missing.status_code == 404


def test_the_list_of_accounts_is_for_the_operator_only(client: TestClient, seeded: Seeded) -> None:
    sign_in(client, seeded.world.acme_key)
    response = client.get("/dashboard/accounts")
    assert response.status_code == 403
    assert "Beta" not in response.text and "Gamma" not in response.text


def test_a_running_run_with_nothing_billed_yet(client: TestClient, seeded: Seeded) -> None:
    sign_in(client, seeded.world.acme_key)
    response = client.get(f"/dashboard/accounts/{ACME}/runs/{seeded.world.running_run_id}")
    assert response.status_code == 200
    assert "This run has not been billed yet." in response.text
    assert 'id="dominant"' not in response.text


def test_the_operators_list_pages_through_accounts(
    client: TestClient, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(figures, "OPERATOR_PAGE_SIZE", 2)
    sign_in(client, seeded.world.operator_key)
    first = client.get("/dashboard/accounts")
    assert re.findall(r'data-account="([^"]+)"', first.text) == [ACME, BETA]
    assert 'href="/dashboard/accounts?after=beta"' in first.text
    second = client.get("/dashboard/accounts", params={"after": BETA})
    assert re.findall(r'data-account="([^"]+)"', second.text) == ["gamma"]
    assert "after=" not in second.text.split('id="accounts"')[1]


def test_the_runs_page_pages_through_every_run(
    client: TestClient, seeded: Seeded, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(figures, "RUNS_PAGE_SIZE", 2)
    sign_in(client, seeded.world.acme_key)
    every = [run.run_id for run in ledger.runs(ACME, limit=100).data]
    assert len(every) > 2
    seen: list[str] = []
    path: str | None = f"/dashboard/accounts/{ACME}/runs"
    while path is not None:
        response = client.get(path)
        assert response.status_code == 200
        seen += re.findall(r'data-run="([^"]+)"', response.text)
        older = re.search(r'href="([^"]+)" rel="next"', response.text)
        path = None if older is None else older.group(1).replace("&amp;", "&")
        if seen != every[:2]:
            assert 'rel="first"' in response.text
    assert seen == every
    bad = client.get(f"/dashboard/accounts/{ACME}/runs", params={"cursor": "garbage"})
    assert bad.status_code == 400


# -- CSV export -----------------------------------------------------------------------------


def rows_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_csv_export_has_every_matching_transaction(
    client: TestClient, seeded: Seeded, ledger: Ledger
) -> None:
    sign_in(client, seeded.world.acme_key)
    response = client.get(f"/dashboard/accounts/{ACME}/transactions.csv")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="acme-transactions.csv"'
    rows = rows_of(response.text)
    everything = ledger.transactions(ACME, limit=100).total
    assert everything > HISTORY_PAGE_SIZE  # more than one page in the browser
    assert len(rows) == everything
    assert list(rows[0]) == [
        "transaction_id",
        "created_at",
        "type",
        "pool",
        "amount",
        "description",
        "function",
        "run_id",
        "user_id",
        "linked_transaction_id",
    ]
    newest = ledger.transactions(ACME, limit=1).data[0]
    assert rows[0]["transaction_id"] == newest.transaction_id
    assert rows[0]["created_at"] == newest.created_at.isoformat().replace("+00:00", "Z")
    support = [row for row in rows if row["description"] == "Support: data cleanup"]
    assert [row["amount"] for row in support] == ["-12.5"] * 4
    # Holds are not in the history: what it adds up to is available plus held.
    pool = ledger.balance(ACME).pools["credits"]
    assert sum(Decimal(row["amount"]) for row in rows) == (pool.available + pool.held).to_decimal()


def test_csv_export_applies_the_filters(client: TestClient, seeded: Seeded, ledger: Ledger) -> None:
    sign_in(client, seeded.world.acme_key)
    response = client.get(
        f"/dashboard/accounts/{ACME}/transactions.csv",
        params={"type": "DEDUCTION", "from": "2026-05-19", "to": "2026-05-19"},
    )
    rows = rows_of(response.text)
    assert rows and {row["type"] for row in rows} == {"DEDUCTION"}
    paris = date(2026, 5, 19)
    expected = ledger.transactions(
        ACME,
        limit=100,
        types=["DEDUCTION"],
        since=datetime(2026, 5, 18, 22, tzinfo=UTC),  # local midnight in Paris (UTC+2)
        until=datetime(2026, 5, 19, 22, tzinfo=UTC) - timedelta(microseconds=1),
    )
    assert [row["transaction_id"] for row in rows] == [t.transaction_id for t in expected.data]
    assert all(row["created_at"].startswith(paris.isoformat()) for row in rows)


def test_csv_export_defuses_spreadsheet_formulas(fresh: Seeded) -> None:
    ledger = Ledger.open(fresh.url, clock=ManualClock(NOW))
    try:
        ledger.charge(account_id=ACME, amount=Credits.of(1), description='=HYPERLINK("x")')
        with app_client(ledger) as client:
            sign_in(client, fresh.world.acme_key)
            rows = rows_of(client.get(f"/dashboard/accounts/{ACME}/transactions.csv").text)
            assert rows[0]["description"] == '\'=HYPERLINK("x")'
            assert rows[0]["amount"] == "-1"
    finally:
        ledger.close()


def test_csv_export_with_no_match_is_just_the_header(client: TestClient, seeded: Seeded) -> None:
    sign_in(client, seeded.world.acme_key)
    response = client.get(
        f"/dashboard/accounts/{ACME}/transactions.csv", params={"type": "DAILY_RESET"}
    )
    assert response.text.splitlines() == [
        "transaction_id,created_at,type,pool,amount,description,function,run_id,user_id,"
        "linked_transaction_id"
    ]


# -- pages ----------------------------------------------------------------------------------


def test_bad_filters_answer_400_with_a_message(client: TestClient, seeded: Seeded) -> None:
    sign_in(client, seeded.world.acme_key)
    base = f"/dashboard/accounts/{ACME}"
    response = client.get(f"{base}/usage", params={"range": "custom", "from": "2026-05-10"})
    assert response.status_code == 400 and "choose both" in response.text
    response = client.get(
        f"{base}/usage", params={"range": "custom", "from": "2026-05-10", "to": "2026-05-01"}
    )
    assert response.status_code == 400 and "must not come after" in response.text
    response = client.get(f"{base}/usage", params={"range": "custom", "from": "May", "to": "x"})
    assert response.status_code == 400 and "is not a date" in response.text
    response = client.get(f"{base}/transactions", params={"type": "NOPE"})
    assert response.status_code == 400 and "unknown transaction type" in response.text
    response = client.get(f"{base}/transactions", params={"page": "0"})
    assert response.status_code == 400


OUT_OF_RANGE = [
    "usage?range=custom&from=0001-01-01&to=0001-01-05",
    "usage?range=custom&from=9999-12-25&to=9999-12-31",
    "transactions?from=9999-12-31&to=9999-12-31",
    "transactions?from=0001-01-01",  # Paris: local midnight is before datetime's first day
    "transactions?from=1969-12-31",
    "transactions.csv?to=9999-12-31",
    "transactions.csv?from=0001-01-01",
]


@pytest.mark.parametrize("path", OUT_OF_RANGE)
def test_dates_outside_the_supported_years_answer_400(
    client: TestClient, seeded: Seeded, path: str
) -> None:
    """The API's bounds (one definition in the domain), with a page that says so."""
    sign_in(client, seeded.world.acme_key)
    response = client.get(f"/dashboard/accounts/{ACME}/{path}")
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert f"outside {SUPPORTED_YEARS}" in response.text


@pytest.mark.parametrize(
    "path",
    [
        "usage?range=custom&from=1970-01-01&to=1970-01-07",
        "usage?range=custom&from=8999-12-25&to=8999-12-31",
        "transactions?from=1970-01-01&to=8999-12-31",
        "transactions.csv?from=1970-01-01&to=8999-12-31",
    ],
)
def test_the_first_and_last_supported_days_work(
    client: TestClient, seeded: Seeded, path: str
) -> None:
    sign_in(client, seeded.world.acme_key)
    assert client.get(f"/dashboard/accounts/{ACME}/{path}").status_code == 200


def test_a_bad_csv_filter_is_a_400_page_not_a_truncated_file(
    client: TestClient, seeded: Seeded
) -> None:
    sign_in(client, seeded.world.acme_key)
    response = client.get(
        f"/dashboard/accounts/{ACME}/transactions.csv",
        params={"from": "2026-05-19", "to": "2026-05-01"},
    )
    assert response.status_code == 400
    assert "must not come after" in response.text
    assert "content-disposition" not in response.headers


def test_an_unknown_usage_range_shows_the_default_tab(client: TestClient, seeded: Seeded) -> None:
    sign_in(client, seeded.world.acme_key)
    base = f"/dashboard/accounts/{ACME}/usage"
    bogus = client.get(base, params={"range": "bogus"})
    assert bogus.status_code == 200
    current = re.findall(r'<a href="[^"]*\?range=(\w+)" aria-current="page"', bogus.text)
    assert current == [figures.DEFAULT_USAGE_RANGE]
    assert bogus.text.count('aria-current="page"') == client.get(base).text.count(
        'aria-current="page"'
    )


def test_pages_carry_security_headers(client: TestClient, seeded: Seeded) -> None:
    sign_in(client, seeded.world.acme_key)
    response = client.get(f"/dashboard/accounts/{ACME}")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"


def test_assets_are_served_locally(client: TestClient) -> None:
    for name in pages.vendor_files():
        if not (pages.VENDOR_DIR / name).is_file():
            pytest.skip(f"{name} is not installed (pip install -e . fetches it)")
        response = client.get(f"/dashboard/static/vendor/{name}")
        assert response.status_code == 200
        assert "javascript" in response.headers["content-type"]
    assert client.get("/dashboard/static/dashboard.js").status_code == 200
    assert client.get("/dashboard/static/dashboard.css").status_code == 200


def test_missing_assets_give_a_notice_not_an_error(
    client: TestClient,
    seeded: Seeded,
    ledger: Ledger,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setattr(pages, "VENDOR_DIR", tmp_path / "empty")
    sign_in(client, seeded.world.acme_key)
    available = formatting.credits(ledger.balance(ACME).pools["credits"].available)
    for path, figure in (
        (f"/dashboard/accounts/{ACME}", available),
        (f"/dashboard/accounts/{ACME}/usage", "Daily spend by function"),
    ):
        response = client.get(path)
        assert response.status_code == 200
        assert 'id="assets-notice"' in response.text
        assert "chart.umd.min.js" in response.text  # named in the notice
        assert "vendor/chart.umd.min.js" not in response.text  # but not loaded
        assert figure in response.text


def test_the_dashboard_is_not_in_the_openapi_schema(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not [path for path in paths if path.startswith("/dashboard")]


# -- formatting -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("millicredits", "text"),
    [
        (10_000_000, "10,000"),
        (500, "0.5"),
        (6_670, "6.67"),
        (-43_000, "−43"),
        (1_234_567_890, "1,234,567.89"),
        (0, "0"),
    ],
)
def test_credits_are_formatted_for_people(millicredits: int, text: str) -> None:
    assert formatting.credits(Credits(millicredits)) == text


def test_other_formats() -> None:
    assert formatting.signed_credits(Credits.of(25)) == "+25"
    assert formatting.percent(Decimal("42.857")) == "42.9 %"
    assert formatting.burn(Decimal("356.214")) == "356.21"
    assert formatting.day(date(2026, 5, 5)) == "5 May 2026"
    instant = datetime(2026, 5, 5, 8, 1, tzinfo=UTC)
    assert formatting.when(instant, "Europe/Paris") == "5 May 2026, 10:01"
    assert formatting.when_with_zone(instant, "Europe/Paris") == "5 May 2026, 10:01 CEST"
