"""The dashboard's pages. Each reads its figures from the ledger (see figures.py) and
renders a template; none writes to the ledger. The one form that acts, "Buy credits", starts
a Stripe Checkout (which remembers the account's Stripe customer); credits arrive when Stripe
reports the payment."""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import replace
from datetime import date
from typing import Annotated, Any
from urllib.parse import parse_qs, urlencode, urlsplit

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response, StreamingResponse

from creditbook.dashboard import event_figures, figures, history_figures, payment_figures
from creditbook.dashboard.pages import (
    SIGN_IN_REASONS,
    Viewer,
    dashboard_of,
    optional_viewer,
    page,
    viewer,
)
from creditbook.dashboard.session import CSRF_FIELD, SESSION_MAX_AGE_S, tokens_match
from creditbook.domain.errors import (
    AuthenticationError,
    KeyRevokedError,
    NotFoundError,
    PaymentProviderError,
    PermissionDeniedError,
    StateError,
    ValidationError,
)
from creditbook.domain.periods import SUPPORTED_YEARS, is_supported_day, local_date
from creditbook.engine.ledger import Ledger
from creditbook.engine.payments.checkout import CheckoutRequest
from creditbook.export import TRANSACTION_COLUMNS, csv_lines, transaction_record

router = APIRouter(include_in_schema=False)
SignedIn = Annotated[Viewer, Depends(viewer)]
MAX_FORM_BYTES = 16 * 1024
MAX_KEY_CHARS = 200
MAX_PAGE = 1_000_000


async def form_of(request: Request) -> dict[str, str]:
    """An urlencoded form body (the dashboard's only kind): first value of each field."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise ValidationError("the form is too large")
    fields = parse_qs(body.decode("utf-8", errors="replace"), max_num_fields=20)
    return {name: values[0] for name, values in fields.items()}


def same_origin(request: Request) -> bool:
    """A POST whose Origin, when the browser sends one, names this host (`null` does not)."""
    origin = request.headers.get("origin")
    if origin is None:
        return True  # no Origin header: the CSRF token alone guards the form
    return urlsplit(origin).netloc == request.headers.get("host", "")


def safe_next(base: str, target: str | None) -> str | None:
    """Only a path inside the dashboard: never another site (`//evil`, `/\\evil`)."""
    if not target or not target.startswith(f"{base}/") or "//" in target or "\\" in target:
        return None
    return target


# -- sign-in and sign-out -------------------------------------------------------------------


@router.get("/")
def home(request: Request, signed_in: SignedIn) -> Response:
    return RedirectResponse(f"{dashboard_of(request).mount_path}{signed_in.home}", 303)


def login_page(
    request: Request, *, next_url: str | None, message: str, error: str, status: int
) -> Response:
    sessions = dashboard_of(request).sessions
    token = sessions.login_token(request)
    context = {"next": next_url or "", "message": message, "error": error, "login_csrf": token}
    response = page(request, "login.html", context, viewer=None, status=status)
    sessions.remember_login_token(response, request, token)
    return response


@router.get("/login")
def login_form(
    request: Request,
    next: Annotated[str | None, Query(max_length=500)] = None,
    reason: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    state = dashboard_of(request)
    signed_in = optional_viewer(request)
    if signed_in is not None:
        target = safe_next(state.mount_path, next) or f"{state.mount_path}{signed_in.home}"
        return RedirectResponse(target, 303)
    message = SIGN_IN_REASONS.get(reason or "", "")
    return login_page(request, next_url=next, message=message, error="", status=200)


@router.post("/login")
async def login(request: Request) -> Response:
    state = dashboard_of(request)
    form = await form_of(request)
    next_url = safe_next(state.mount_path, form.get("next"))
    if not same_origin(request) or not state.sessions.login_token_matches(
        request, form.get(CSRF_FIELD)
    ):
        error = "The sign-in form had expired. Please try again."
        return login_page(request, next_url=next_url, message="", error=error, status=403)
    token = form.get("api_key", "").strip()
    if not token:
        error = "Enter an API key."
        return login_page(request, next_url=next_url, message="", error=error, status=400)
    try:
        if len(token) > MAX_KEY_CHARS:
            raise AuthenticationError("key too long")
        key = state.ledger.authenticate(token)
    except AuthenticationError:
        error = "That API key is not valid. Check it and try again."
        return login_page(request, next_url=next_url, message="", error=error, status=401)
    except KeyRevokedError:
        error = "That API key has been revoked."
        return login_page(request, next_url=next_url, message="", error=error, status=403)
    home = f"{state.mount_path}/accounts"
    if key.account_id is not None:
        home = f"{home}/{key.account_id}"
    response = RedirectResponse(next_url or home, 303)
    state.sessions.start(response, request, key.key_id)
    return response


@router.post("/logout")
async def logout(request: Request, signed_in: SignedIn) -> Response:
    state = dashboard_of(request)
    form = await form_of(request)
    if not same_origin(request) or not tokens_match(
        signed_in.session.csrf_token, form.get(CSRF_FIELD)
    ):
        raise PermissionDeniedError("The form had expired. Reload the page and try again.")
    # Recorded in the ledger, so a copy of this cookie (another tab, another machine) is
    # refused from now on, not only the browser that drops it.
    session = signed_in.session
    state.ledger.end_session(session.key_id, session.session_id, lifetime_s=SESSION_MAX_AGE_S)
    response = RedirectResponse(f"{state.mount_path}/login?reason=signed_out", 303)
    state.sessions.end(response)
    return response


# -- operator -------------------------------------------------------------------------------


# Deliveries shown per endpoint on the operator's webhooks page.
RECENT_DELIVERIES = 10


@router.get("/accounts")
def accounts(
    request: Request,
    signed_in: SignedIn,
    after: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    if not signed_in.is_operator:
        raise PermissionDeniedError("The list of all accounts is for the operator's key.")
    listing = figures.account_list(dashboard_of(request).ledger, after)
    context = {"listing": listing, "after": after, "nav": "accounts"}
    return page(request, "accounts.html", context, viewer=signed_in)


@router.get("/webhooks")
def webhooks(request: Request, signed_in: SignedIn) -> Response:
    """The operator's webhook endpoints, each with its latest deliveries and their attempts."""
    if not signed_in.is_operator:
        raise PermissionDeniedError("Webhook endpoints are for the operator's key.")
    ledger = dashboard_of(request).ledger
    endpoints = [
        (endpoint, ledger.webhook_deliveries(endpoint.endpoint_id, limit=RECENT_DELIVERIES).data)
        for endpoint in ledger.webhook_endpoints(limit=100).data
    ]
    context = {"endpoints": endpoints, "recent": RECENT_DELIVERIES, "nav": "webhooks"}
    return page(request, "webhooks.html", context, viewer=signed_in)


# -- one account ----------------------------------------------------------------------------


@router.get("/accounts/{account_id}")
def overview(
    request: Request,
    signed_in: SignedIn,
    account_id: str,
    purchase: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    notice = payment_figures.PURCHASE_NOTICES.get(purchase or "", "")
    return overview_page(request, signed_in, account_id, notice=notice)


def overview_page(
    request: Request,
    signed_in: Viewer,
    account_id: str,
    *,
    notice: str = "",
    buy_error: str = "",
    status: int = 200,
) -> Response:
    """The overview, with the "Buy credits" section for the account's own people when this
    server sells credits (an operator looking at the account does not buy for it)."""
    ledger = dashboard_of(request).ledger
    account = signed_in.account(ledger, account_id)
    buy = None
    if not signed_in.is_operator and payment_figures.sells_credits(ledger):
        buy = payment_figures.buy_view(ledger, account, can_buy=signed_in.can_write)
    context = {
        "account": account,
        "view": figures.overview(ledger, account_id),
        "nav": "overview",
        "buy": buy,
        "purchase_notice": notice,
        "buy_error": buy_error,
    }
    return page(request, "overview.html", context, viewer=signed_in, status=status)


def parse_day(value: str | None) -> date | None:
    """A filter's day, in the years the ledger supports (as the API's)."""
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"{value!r} is not a date like 2026-05-31") from None
    if not is_supported_day(day):
        raise ValidationError(f"{value} is outside {SUPPORTED_YEARS}")
    return day


@router.get("/accounts/{account_id}/usage")
def usage(
    request: Request,
    signed_in: SignedIn,
    account_id: str,
    range: Annotated[str | None, Query(max_length=10)] = None,
    from_: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    to: Annotated[str | None, Query(max_length=10)] = None,
) -> Response:
    ledger = dashboard_of(request).ledger
    account = signed_in.account(ledger, account_id)
    balance = ledger.balance(account_id)
    today = local_date(balance.at, account.timezone)
    period_start = local_date(balance.period_start_at, account.timezone)
    context: dict[str, Any] = {
        "account": account,
        "nav": "usage",
        "range": figures.usage_range_key(range),
        "from": from_ or "",
        "to": to or "",
        "error": "",
        "usage": None,
    }
    try:
        chosen = figures.usage_range(range, parse_day(from_), parse_day(to), today, period_start)
        styles = figures.account_styles(ledger, account_id)
        context["usage"] = figures.usage(ledger, account_id, chosen, styles)
        context["from"], context["to"] = chosen.start.isoformat(), chosen.end.isoformat()
        status = 200
    except ValidationError as error:
        context["error"] = str(error)
        status = 400
    return page(request, "usage.html", context, viewer=signed_in, status=status)


def history_filter(
    type: str | None, from_: str | None, to: str | None, page_number: int
) -> history_figures.HistoryFilter:
    if type and type not in history_figures.TRANSACTION_TYPES:
        raise ValidationError(f"unknown transaction type {type!r}")
    return history_figures.HistoryFilter(type or None, parse_day(from_), parse_day(to), page_number)


TypeQuery = Annotated[str | None, Query(max_length=20)]
FromQuery = Annotated[str | None, Query(alias="from", max_length=10)]
ToQuery = Annotated[str | None, Query(max_length=10)]


@router.get("/accounts/{account_id}/transactions")
def transactions(
    request: Request,
    signed_in: SignedIn,
    account_id: str,
    type: TypeQuery = None,
    from_: FromQuery = None,
    to: ToQuery = None,
    page_number: Annotated[int, Query(alias="page", ge=1, le=MAX_PAGE)] = 1,
) -> Response:
    ledger = dashboard_of(request).ledger
    account = signed_in.account(ledger, account_id)
    context: dict[str, Any] = {
        "account": account,
        "nav": "transactions",
        "types": history_figures.TRANSACTION_TYPES,
        "error": "",
        "history": None,
        "filter": history_figures.HistoryFilter(None, None, None),
        "from": from_ or "",
        "to": to or "",
    }
    try:
        chosen = history_filter(type, from_, to, page_number)
        context["filter"] = chosen
        context["history"] = history_figures.history(ledger, account, chosen)
        status = 200
    except ValidationError as error:
        context["error"] = str(error)
        status = 400
    context["link"] = lambda **changes: urlencode(context["filter"].params(**changes))
    return page(request, "transactions.html", context, viewer=signed_in, status=status)


@router.get("/accounts/{account_id}/transactions.csv")
def transactions_csv(
    request: Request,
    signed_in: SignedIn,
    account_id: str,
    type: TypeQuery = None,
    from_: FromQuery = None,
    to: ToQuery = None,
) -> Response:
    ledger = dashboard_of(request).ledger
    account = signed_in.account(ledger, account_id)
    chosen = history_filter(type, from_, to, 1)
    # Reads the first page now: a filter the ledger refuses is a 400 page, not a file cut
    # short after its header has gone out.
    matches = history_figures.all_transactions(ledger, account, chosen)
    filename = re.sub(r"[^A-Za-z0-9_.-]", "_", account_id)
    return StreamingResponse(
        csv_lines(map(transaction_record, matches), TRANSACTION_COLUMNS),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}-transactions.csv"'},
    )


@router.get("/accounts/{account_id}/runs")
def runs(
    request: Request,
    signed_in: SignedIn,
    account_id: str,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    ledger = dashboard_of(request).ledger
    account = signed_in.account(ledger, account_id)
    listed = ledger.runs(account_id, limit=figures.RUNS_PAGE_SIZE, cursor=cursor or None)
    context = {
        "account": account,
        "runs": listed.data,
        "nav": "runs",
        "limit": figures.RUNS_PAGE_SIZE,
        "first_page": not cursor,
        "older": urlencode({"cursor": listed.next_cursor}) if listed.has_more else "",
    }
    return page(request, "runs.html", context, viewer=signed_in)


@router.get("/accounts/{account_id}/runs/{run_id}")
def run(request: Request, signed_in: SignedIn, account_id: str, run_id: str) -> Response:
    ledger = dashboard_of(request).ledger
    account = signed_in.account(ledger, account_id)
    view = figures.run_view(ledger, account_id, run_id)
    context = {
        "account": account,
        "view": view,
        "nav": "runs",
        "dominant_share": figures.DOMINANT_SHARE_PERCENT,
    }
    return page(request, "run.html", context, viewer=signed_in)


@router.get("/accounts/{account_id}/events")
def events(
    request: Request,
    signed_in: SignedIn,
    account_id: str,
    type: Annotated[str | None, Query(max_length=40)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    ledger = dashboard_of(request).ledger
    account = signed_in.account(ledger, account_id)
    context: dict[str, Any] = {
        "account": account,
        "nav": "events",
        "alerts": event_figures.alerts_view(ledger, account),
        "labels": event_figures.EVENT_LABELS,
        "type": type or "",
        "log": None,
        "error": "",
        "page_size": event_figures.EVENTS_PAGE_SIZE,
    }
    try:
        context["log"] = event_figures.event_log(ledger, account, type, cursor)
        status = 200
    except ValidationError as error:
        context["error"] = str(error)
        status = 400
    return page(request, "events.html", context, viewer=signed_in, status=status)


# -- buying credits -------------------------------------------------------------------------


def checkout_urls(request: Request, account_id: str) -> tuple[str, str]:
    """Where Stripe sends the buyer back: the overview, saying how it went (absolute, as
    Stripe needs them; the host is the one the browser used)."""
    path = f"{dashboard_of(request).mount_path}/accounts/{account_id}"
    done = request.url.replace(path=path, query="purchase=done", fragment="")
    cancelled = request.url.replace(path=path, query="purchase=cancelled", fragment="")
    return str(done), str(cancelled)


def check_buyer(signed_in: Viewer, ledger: Ledger) -> None:
    """Only the account's own write key buys, and only where Stripe is configured."""
    if signed_in.is_operator:
        raise PermissionDeniedError(
            "Buying credits is for the account's own people: they sign in with one of "
            "the account's write keys."
        )
    if not signed_in.can_write:
        raise PermissionDeniedError(
            "Buying credits needs a write key: this session signed in with a read key."
        )
    if not payment_figures.sells_credits(ledger):
        raise PermissionDeniedError("This server does not sell credits (Stripe is not set up).")


@router.post("/accounts/{account_id}/checkout")
async def checkout(request: Request, signed_in: SignedIn, account_id: str) -> Response:
    """Start a Stripe Checkout for a pack and send the browser to Stripe's payment page."""
    state = dashboard_of(request)
    form = await form_of(request)
    if not same_origin(request) or not tokens_match(
        signed_in.session.csrf_token, form.get(CSRF_FIELD)
    ):
        raise PermissionDeniedError("The form had expired. Reload the page and try again.")
    signed_in.account(state.ledger, account_id)
    check_buyer(signed_in, state.ledger)
    success_url, cancel_url = checkout_urls(request, account_id)
    try:
        wanted = CheckoutRequest(
            account_id,
            form.get("pack_id", ""),
            success_url,
            cancel_url,
            quantity=payment_figures.parse_quantity(form.get("quantity")),
            currency=form.get("currency") or None,
        )
        wanted = replace(wanted, idempotency_key=double_click_key(signed_in, wanted))
        session = await run_in_threadpool(state.ledger.payments.checkout, wanted)
    except CheckoutRefused as error:
        status, message = refusal(error)
        return await run_in_threadpool(
            overview_page, request, signed_in, account_id, buy_error=message, status=status
        )
    return RedirectResponse(session.url, 303)


def double_click_key(signed_in: Viewer, wanted: CheckoutRequest) -> str:
    """The same purchase asked twice by one session within a minute (a double click, a
    resubmitted form) opens one Checkout Session: one idempotency key for both."""
    minute = int(time.time() // 60)
    fields = (signed_in.session.csrf_token, wanted.pack_id, wanted.quantity, wanted.currency)
    digest = hashlib.sha256(repr((*fields, minute)).encode()).hexdigest()[:32]
    return f"dashboard-{digest}"


CheckoutRefused = (ValidationError, NotFoundError, StateError, PaymentProviderError)


def refusal(error: Exception) -> tuple[int, str]:
    """The status and the sentence for a checkout that could not start."""
    reason = str(error).rstrip(".")
    if isinstance(error, PaymentProviderError):
        return 502, f"{reason}. Nothing was charged; please try again in a moment."
    if isinstance(error, NotFoundError | StateError):
        return 409, "That pack is no longer sold. Reload the page to see the packs on sale."
    return 400, f"The checkout could not start: {reason}."


@router.get("/accounts/{account_id}/purchases")
def purchases(
    request: Request,
    signed_in: SignedIn,
    account_id: str,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    ledger = dashboard_of(request).ledger
    account = signed_in.account(ledger, account_id)
    context = {
        "account": account,
        "nav": "purchases",
        "log": payment_figures.purchase_log(ledger, account_id, cursor or None),
        "page_size": payment_figures.PURCHASES_PAGE_SIZE,
    }
    return page(request, "purchases.html", context, viewer=signed_in)
