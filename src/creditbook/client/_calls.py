"""Each API operation as a `Call`: its method, path, query, body and response model.

The sync and async resources build their calls here, so both speak the same API.
Bodies arrive as dicts of the fields the caller gave (see `_base.fields`).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from creditbook.client._base import PAGE_LIMIT_MAX, Call, DayInput, InstantInput, path
from creditbook.wire import (
    AccountList,
    AccountOut,
    AlertsOut,
    BalanceOut,
    BatchOut,
    ChargeOut,
    EstimateOut,
    EventList,
    EventOut,
    GrantOut,
    HealthOut,
    KeyOut,
    PlanList,
    PlanOut,
    RateCardList,
    RateCardOut,
    RefundOut,
    RunCreditsOut,
    RunList,
    RunOut,
    StatsOut,
    TransactionList,
    VerifyOut,
)
from creditbook.wire.payments import (
    AutoRechargeOut,
    CheckoutOut,
    CreditPackList,
    CreditPackOut,
    PaymentList,
)

Body = dict[str, Any]


def check_limit(limit: int) -> int:
    if not 1 <= limit <= PAGE_LIMIT_MAX:
        raise ValueError(f"limit must be 1 to {PAGE_LIMIT_MAX}, not {limit}")
    return limit


# -- plans and rate cards -------------------------------------------------------------------


def put_plan(plan_id: str, body: Body) -> Call[PlanOut]:
    return Call("PUT", path("/v1/plans/{plan_id}", plan_id=plan_id), PlanOut, body=body)


def list_plans() -> Call[PlanList]:
    return Call("GET", "/v1/plans", PlanList)


def put_rate_card(rate_card_id: str, body: Body) -> Call[RateCardOut]:
    url = path("/v1/rate_cards/{rate_card_id}", rate_card_id=rate_card_id)
    return Call("PUT", url, RateCardOut, body=body)


def list_rate_cards() -> Call[RateCardList]:
    return Call("GET", "/v1/rate_cards", RateCardList)


# -- accounts and keys ----------------------------------------------------------------------


def create_account(body: Body, idempotency_key: str | None) -> Call[AccountOut]:
    return Call("POST", "/v1/accounts", AccountOut, body=body, idempotency_key=idempotency_key)


def list_accounts(limit: int, cursor: str | None) -> Call[AccountList]:
    params = {"limit": check_limit(limit), "cursor": cursor}
    return Call("GET", "/v1/accounts", AccountList, params=params)


def get_account(account_id: str) -> Call[AccountOut]:
    return Call("GET", path("/v1/accounts/{account_id}", account_id=account_id), AccountOut)


def update_account(account_id: str, body: Body) -> Call[AccountOut]:
    url = path("/v1/accounts/{account_id}", account_id=account_id)
    return Call("PATCH", url, AccountOut, body=body)


def create_key(account_id: str, body: Body, idempotency_key: str | None) -> Call[KeyOut]:
    url = path("/v1/accounts/{account_id}/api_keys", account_id=account_id)
    return Call("POST", url, KeyOut, body=body, idempotency_key=idempotency_key)


def current_key() -> Call[KeyOut]:
    return Call("GET", "/v1/api_keys/current", KeyOut)


def revoke_key(key_id: str) -> Call[KeyOut]:
    return Call("DELETE", path("/v1/api_keys/{key_id}", key_id=key_id), KeyOut)


# -- grants, charges, refunds, estimates ----------------------------------------------------


def create_grant(account_id: str, body: Body, idempotency_key: str | None) -> Call[GrantOut]:
    url = path("/v1/accounts/{account_id}/grants", account_id=account_id)
    return Call("POST", url, GrantOut, body=body, idempotency_key=idempotency_key)


def create_charge(account_id: str, body: Body, idempotency_key: str | None) -> Call[ChargeOut]:
    url = path("/v1/accounts/{account_id}/charges", account_id=account_id)
    return Call("POST", url, ChargeOut, body=body, idempotency_key=idempotency_key)


def charge_batch(items: list[Any], idempotency_key: str | None) -> Call[BatchOut]:
    body = {"items": items}
    return Call("POST", "/v1/charges/batch", BatchOut, body=body, idempotency_key=idempotency_key)


def refund_charge(charge_id: str, body: Body, idempotency_key: str | None) -> Call[RefundOut]:
    url = path("/v1/charges/{charge_id}/refund", charge_id=charge_id)
    return Call("POST", url, RefundOut, body=body, idempotency_key=idempotency_key)


def create_estimate(account_id: str, body: Body, idempotency_key: str | None) -> Call[EstimateOut]:
    url = path("/v1/accounts/{account_id}/estimates", account_id=account_id)
    return Call("POST", url, EstimateOut, body=body, idempotency_key=idempotency_key)


# -- runs -----------------------------------------------------------------------------------


def start_run(body: Body, idempotency_key: str | None) -> Call[RunOut]:
    return Call("POST", "/v1/runs", RunOut, body=body, idempotency_key=idempotency_key)


def report_results(run_id: str, body: Body, idempotency_key: str | None) -> Call[RunOut]:
    url = path("/v1/runs/{run_id}/results", run_id=run_id)
    return Call("POST", url, RunOut, body=body, idempotency_key=idempotency_key)


def finish_run(run_id: str, idempotency_key: str | None) -> Call[RunOut]:
    url = path("/v1/runs/{run_id}/finish", run_id=run_id)
    return Call("POST", url, RunOut, idempotency_key=idempotency_key)


def list_runs(account_id: str, limit: int, cursor: str | None) -> Call[RunList]:
    url = path("/v1/accounts/{account_id}/runs", account_id=account_id)
    return Call("GET", url, RunList, params={"limit": check_limit(limit), "cursor": cursor})


def get_run(run_id: str) -> Call[RunOut]:
    return Call("GET", path("/v1/runs/{run_id}", run_id=run_id), RunOut)


def run_credits(run_id: str) -> Call[RunCreditsOut]:
    return Call("GET", path("/v1/runs/{run_id}/credits", run_id=run_id), RunCreditsOut)


# -- events and alerts ------------------------------------------------------------------------


def list_events(
    account_id: str | None, types: list[str] | None, limit: int, cursor: str | None
) -> Call[EventList]:
    params = {"account_id": account_id, "type": types, "limit": check_limit(limit)}
    return Call("GET", "/v1/events", EventList, params={**params, "cursor": cursor})


def get_event(event_id: str) -> Call[EventOut]:
    return Call("GET", path("/v1/events/{event_id}", event_id=event_id), EventOut)


def put_alerts(account_id: str, body: Body) -> Call[AlertsOut]:
    url = path("/v1/accounts/{account_id}/alerts", account_id=account_id)
    return Call("PUT", url, AlertsOut, body=body)


def get_alerts(account_id: str) -> Call[AlertsOut]:
    url = path("/v1/accounts/{account_id}/alerts", account_id=account_id)
    return Call("GET", url, AlertsOut)


# -- payments -------------------------------------------------------------------------------


def put_credit_pack(pack_id: str, body: Body) -> Call[CreditPackOut]:
    url = path("/v1/credit_packs/{pack_id}", pack_id=pack_id)
    return Call("PUT", url, CreditPackOut, body=body)


def list_credit_packs() -> Call[CreditPackList]:
    return Call("GET", "/v1/credit_packs", CreditPackList)


def get_credit_pack(pack_id: str) -> Call[CreditPackOut]:
    return Call("GET", path("/v1/credit_packs/{pack_id}", pack_id=pack_id), CreditPackOut)


def create_checkout_session(
    account_id: str, body: Body, idempotency_key: str | None
) -> Call[CheckoutOut]:
    url = path("/v1/accounts/{account_id}/checkout_sessions", account_id=account_id)
    return Call("POST", url, CheckoutOut, body=body, idempotency_key=idempotency_key)


def auto_recharge(method: str, account_id: str, body: Body | None = None) -> Call[AutoRechargeOut]:
    """`PUT` (with the settings), `GET` or `DELETE` an account's auto-recharge."""
    url = path("/v1/accounts/{account_id}/auto_recharge", account_id=account_id)
    return Call(method, url, AutoRechargeOut, body=body)


def list_payments(account_id: str, limit: int, cursor: str | None) -> Call[PaymentList]:
    url = path("/v1/accounts/{account_id}/payments", account_id=account_id)
    return Call("GET", url, PaymentList, params={"limit": check_limit(limit), "cursor": cursor})


# -- reports, ledger, service ---------------------------------------------------------------


def balance(account_id: str, at: InstantInput | None) -> Call[BalanceOut]:
    url = path("/v1/accounts/{account_id}/balance", account_id=account_id)
    return Call("GET", url, BalanceOut, params={"at": at})


def transactions(account_id: str, params: dict[str, Any]) -> Call[TransactionList]:
    check_limit(params["limit"])
    url = path("/v1/accounts/{account_id}/transactions", account_id=account_id)
    return Call("GET", url, TransactionList, params=params)


# The days of a stats range without `from`: the last 30, as `creditbook stats`.
STATS_DAYS = 30


def stats(account_id: str, start: DayInput, end: DayInput, group_by: str) -> Call[StatsOut]:
    url = path("/v1/accounts/{account_id}/stats", account_id=account_id)
    params = {"from": start, "to": end, "group_by": group_by}
    return Call("GET", url, StatsOut, params=params)


def period(
    given: Any, start: DayInput | None, end: DayInput | None
) -> tuple[DayInput | None, DayInput | None]:
    """`from`/`to` of a stats call: keywords, or a `{"from": ..., "to": ...}` mapping;
    either may be missing (see `default_period`)."""
    if given is not None:
        start = given.get("from", start)
        end = given.get("to", end)
    return start, end


def first_day(start: DayInput | None, end: DayInput, days: int = STATS_DAYS) -> DayInput:
    """The first day of a stats range: `start`, else the `days` days up to `end` (the
    CLI's default, the last 30 days)."""
    if start is not None:
        return start
    last = end if isinstance(end, date) else date.fromisoformat(end)
    return last - timedelta(days=days - 1)


def today_in(timezone: str) -> date:
    """Today in an account's time zone (stats days are the account's local days)."""
    return datetime.now(ZoneInfo(timezone)).date()


def verify_ledger(account_id: str | None) -> Call[VerifyOut]:
    return Call("POST", "/v1/ledger/verify", VerifyOut, params={"account_id": account_id})


def health() -> Call[HealthOut]:
    return Call("GET", "/healthz", HealthOut)
