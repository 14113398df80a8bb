"""The vendor pages' credit endpoints, in each vendor's exact shape (account keys).

- lobstr:      GET /v1/user/balance            (GET /v1/runs/{run_hash}/credits is shared
                                                 with the native API)
- LocalLeads:  GET /api/v1/credits/balance, GET /api/v1/credits/transactions
- Clodura:     GET /api/v1/credits
- catalogue:   GET /credits/stats?from&to
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query

from creditbook.api.deps import Caller, LedgerDep
from creditbook.api.errors import ERROR_RESPONSES
from creditbook.api.responses import ExactJSONResponse, respond
from creditbook.domain.amounts import Credits
from creditbook.domain.errors import InvariantError, ValidationError, invariant
from creditbook.domain.grants import GrantSource
from creditbook.domain.stats import check_range, ratio
from creditbook.engine.results import Balance, PoolBalance, Stats, StatsPlan
from creditbook.wire.common import day_in_range
from creditbook.wire.compat import catalogue, clodura, lobstr, localleads
from creditbook.wire.compat.common import documented

router = APIRouter(tags=["compat"], responses=ERROR_RESPONSES)
SEPARATE_POOLS = ("contact_views", "direct_dials")
# Credits beyond the plan, shown as lobstr's bonus.
EXTRA_SOURCES = tuple(
    s.value for s in (GrantSource.BONUS, GrantSource.TOP_UP, GrantSource.ADJUSTMENT)
)
UNIT_MODULE = "lasso"  # the module whose units (products) the stats page details
LOCALLEADS_MAX_LIMIT = 100


def millis(instant: datetime) -> str:
    """`2026-05-01T00:00:00.000Z`, as the LocalLeads and stats pages print times."""
    return (
        instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{instant.microsecond // 1000:03d}Z"
    )


def seconds(instant: datetime) -> str:
    """`2025-02-01T00:00:00Z`, as the lobstr page prints times: a fraction of a second
    rounds up, so that the reset or expiry has happened by the time shown."""
    if instant.microsecond:
        instant += timedelta(microseconds=1_000_000 - instant.microsecond)
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def number(value: Credits) -> int | Decimal:
    return value.to_json()


def _total(balance: Balance) -> PoolBalance:
    """One pool's figures, or all pools summed (unified views of a multi-pool plan)."""
    pools = list(balance.pools.values())
    if len(pools) == 1:
        return pools[0]
    zero = Credits(0)

    def add(name: str) -> Credits:
        return sum((getattr(p, name) for p in pools), zero)

    def add_sources(name: str) -> dict[str, Credits]:
        totals: dict[str, Credits] = {}
        for pool in pools:
            for source, value in getattr(pool, name).items():
                totals[source] = totals.get(source, zero) + value
        return totals

    expiries = [p.rollover_expires_at for p in pools if p.rollover_expires_at]
    return PoolBalance(
        "*",
        add("available"),
        add("held"),
        add("allowance"),
        add("consumed"),
        add_sources("by_source"),
        min(expiries) if expiries else None,
        add("overdraft_limit"),
        add_sources("drawn_by_source"),
    )


@router.get(
    "/v1/user/balance",
    operation_id="lobstr_user_balance",
    summary="lobstr: the plan balance",
    response_model=lobstr.LobstrBalanceOut,
    responses=documented(
        "The plan and its credits, in the lobstr shape.", example=lobstr.LOBSTR_BALANCE_EXAMPLE
    ),
)
def lobstr_balance(caller: Caller, ledger: LedgerDep) -> ExactJSONResponse:
    """lobstr: the plan, the period's credits, bonus, rollover, slots and next reset."""
    balance = ledger.balance(caller.own_account(), draws=True)
    pool = _total(balance)
    # Each figure is the period's, so none moves when credits are spent but `consumed`:
    # bonus (and the other credits beyond the plan: top-ups, adjustments) and rollover are
    # what is left of them plus what was drawn from them this period, and
    # available + rollover_credit - consumed is what can be spent now (plus what open holds
    # reserve: held credits are consumed when captured).
    bonus = sum((pool.period_credits(source) for source in EXTRA_SOURCES), Credits(0))
    rollover = pool.period_credits(GrantSource.ROLLOVER.value)
    rollover_left = pool.by_source.get(GrantSource.ROLLOVER.value, Credits(0))
    return respond(
        {
            "id": balance.price_id or balance.plan_id,
            "object": "plan",
            "name": balance.plan_name or balance.plan_id,
            "available": number(pool.allowance + bonus),
            "consumed": number(pool.consumed),
            "bonus_credit": number(bonus),
            "rollover_credit": number(rollover),
            "rollover_credit_expires_at": seconds(pool.rollover_expires_at)
            if pool.rollover_expires_at and rollover_left.is_positive()
            else None,
            "interval": balance.interval.value,
            "used_slots": balance.used_slots,
            "total_available_slots": balance.total_slots,
            "has_unpaid_bill": balance.has_unpaid_bill,
            "reset_time": seconds(balance.period_end_at),
        }
    )


@router.get(
    "/api/v1/credits/balance",
    operation_id="localleads_balance",
    summary="LocalLeads: credits",
    response_model=localleads.LocalLeadsBalanceOut,
    responses=documented(
        "The balance, in the LocalLeads shape.", example=localleads.LOCALLEADS_BALANCE_EXAMPLE
    ),
)
def localleads_balance(caller: Caller, ledger: LedgerDep) -> ExactJSONResponse:
    """LocalLeads: availableCredits = monthlyCredits + bonusCredits - usedCredits."""
    account_id = caller.own_account()
    balance = ledger.balance(account_id)
    pool = _total(balance)
    # Credits reserved by open holds cannot be spent: they count as used until the hold
    # is captured (then they are consumed) or released.
    used = pool.consumed + pool.held
    # availableCredits is what a charge may take now, the plan's overdraft included, so the
    # page's "availableCredits >= estimatedCost" check tells the truth. Everything that is
    # not this period's allowance counts as bonus here (bonus, rollover, top-ups, overdraft
    # headroom), so the page's identity holds exactly.
    spendable = pool.available + pool.overdraft_limit
    bonus = spendable - pool.allowance + used
    timezone = ledger.get_account(account_id).timezone

    return respond(
        {
            "success": True,
            "data": {
                "monthlyCredits": number(pool.allowance),
                "bonusCredits": number(bonus),
                "usedCredits": number(used),
                "availableCredits": number(spendable),
                "resetDay": balance.period_start_at.astimezone(ZoneInfo(timezone)).day,
                "lastResetAt": millis(balance.period_start_at),
            },
        }
    )


@router.get(
    "/api/v1/credits/transactions",
    operation_id="localleads_transactions",
    summary="LocalLeads: credit history",
    response_model=localleads.LocalLeadsTransactionsOut,
    responses=documented(
        "One page of history, in the LocalLeads shape.",
        example=localleads.LOCALLEADS_TRANSACTIONS_EXAMPLE,
    ),
)
def localleads_transactions(
    caller: Caller,
    ledger: LedgerDep,
    limit: Annotated[int, Query(ge=1)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> ExactJSONResponse:
    """LocalLeads: history newest first, `limit` (default 50, at most 100) and `offset`."""
    limit = min(limit, LOCALLEADS_MAX_LIMIT)
    page = ledger.transactions(caller.own_account(), limit=limit, offset=offset)
    invariant(page.total is not None, "an offset page counts its matches")
    return respond(
        {
            "success": True,
            "data": [
                {
                    "id": line.transaction_id,
                    "type": line.type.value,
                    "amount": number(line.amount),
                    "description": line.description,
                    "createdAt": millis(line.created_at),
                }
                for line in page.data
            ],
            "meta": {"total": page.total, "limit": limit, "offset": offset},
        }
    )


@router.get(
    "/api/v1/credits",
    operation_id="clodura_credits",
    summary="Clodura: credits",
    response_model=clodura.CloduraCreditsOut,
    responses=documented(
        "The credits, in the Clodura shape of the account's plan: separate pools or unified.",
        examples={
            "separate": {
                "summary": "Separate contact-view and direct-dial pools",
                "value": clodura.CLODURA_SEPARATE_EXAMPLE,
            },
            "unified": {"summary": "One credit pool", "value": clodura.CLODURA_UNIFIED_EXAMPLE},
        },
    ),
)
def clodura_credits(caller: Caller, ledger: LedgerDep) -> ExactJSONResponse:
    """Clodura: separate contact-view and direct-dial pools, or one unified pool."""
    balance = ledger.balance(caller.own_account())
    pools = balance.pools
    if all(name in pools for name in SEPARATE_POOLS):
        views, dials = pools["contact_views"], pools["direct_dials"]
        return respond(
            {
                "contactsView": number(views.consumed),
                "maxContacts": str(number(views.allowance)),
                "directDials": number(dials.consumed),
                "maxDirectDials": number(dials.allowance),
            }
        )
    return respond({"remainingCredits": number(_total(balance).available)})


DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _parse_date(name: str, value: str | None) -> date:
    if value is None or not DATE.fullmatch(value):
        raise ValidationError(f"{name} must be a date YYYY-MM-DD", field=name)
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"{name} is not a valid date", field=name) from None
    try:
        return day_in_range(day)
    except ValueError as error:
        raise ValidationError(f"{name} {error}", field=name) from None


@router.get(
    "/credits/stats",
    operation_id="catalogue_stats",
    summary="Catalogue: credit stats",
    response_model=catalogue.CatalogueStatsOut,
    responses={
        **documented(
            "Spend in the period, in the catalogue's shape.",
            example=catalogue.CATALOGUE_STATS_EXAMPLE,
        ),
        400: {
            **ERROR_RESPONSES[400],
            "description": "`invalid_period`: missing or malformed dates, from after to, "
            "or more than 1830 days; `malformed_request`.",
        },
    },
)
def catalogue_stats(
    caller: Caller,
    ledger: LedgerDep,
    from_: Annotated[str | None, Query(alias="from")] = None,
    to: Annotated[str | None, Query()] = None,
) -> ExactJSONResponse:
    """Catalogue enrichment: spend in a period against the previous one, by day, module,
    service and user, the module's products per table, and the money configuration.

    Missing or malformed dates, `from` after `to`, or more than 1830 days answer 400."""
    try:
        start, end = _parse_date("from", from_), _parse_date("to", to)
        check_range(start, end)
    except ValidationError as error:
        return respond({"detail": error.message, "code": "invalid_period"}, 400)
    return respond(_catalogue_body(start, end, ledger.stats(caller.own_account(), start, end)))


def _catalogue_body(start: date, end: date, stats: Stats) -> dict[str, Any]:
    plan = stats.plan
    if plan is None:
        raise InvariantError("Ledger.stats always reads the plan")
    return {
        "period": {"from": start.isoformat(), "to": end.isoformat()},
        "summary": _catalogue_summary(stats, plan),
        "daily": [
            {
                "date": day.date.isoformat(),
                "total": number(day.amount),
                "by_module": {k: number(v) for k, v in day.by_module.items()},
                "by_user": {k: number(v) for k, v in day.by_user.items()},
            }
            for day in stats.daily
        ],
        "by_module": [{"module_key": t.key, "total": number(t.amount)} for t in stats.by_module],
        "by_service": [
            {"service_type": t.key, "total": number(t.amount)} for t in stats.by_service
        ],
        "by_user": [{"user_id": t.key, "total": number(t.amount)} for t in stats.by_user],
        UNIT_MODULE: _unit_module(stats),
        "currency_config": _currency_config(plan.prices, plan.credits_per_period),
    }


def _catalogue_summary(stats: Stats, plan: StatsPlan) -> dict[str, Any]:
    monthly_credits = plan.credits_per_period
    return {
        "total_spent": number(stats.total),
        "previous_period_spent": number(stats.previous_total),
        "previous_period_change_pct": stats.change_percent,
        "monthly_allocation": number(monthly_credits),
        "period_end": millis(plan.period_end_at),
        "cost_per_credit": {
            "amount": plan.cost_per_credit,
            "currency": plan.currency,
            "monthly_fee": plan.fee,
            "monthly_credits": number(monthly_credits),
        },
    }


def _unit_module(stats: Stats) -> dict[str, Any]:
    """The module whose units (products) the page details, per table (resource)."""
    unit = next((t for t in stats.by_module if t.key == UNIT_MODULE), None)
    spent = unit.amount if unit else Credits(0)
    products = unit.units if unit else 0
    per_product = ratio(spent, products)
    return {
        "credits_spent": number(spent),
        "products_enhanced": products,
        "credits_per_product": per_product if per_product is not None else 0,
        "by_table": [
            {
                "table_id": r.resource_id,
                "name": r.name,
                "total": number(r.amount),
                "products": r.units,
            }
            for r in stats.by_resource
            if r.module == UNIT_MODULE
        ],
    }


def _currency_config(prices: dict[str, Decimal], monthly_credits: Credits) -> dict[str, Any]:
    config: dict[str, Any] = {
        f"monthly_fee_{currency.lower()}": price for currency, price in sorted(prices.items())
    }
    config["monthly_credits"] = number(monthly_credits)
    config["auto_eur"] = False
    return config
