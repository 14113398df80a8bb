"""Plans and rate cards to and from the JSON bodies stored for them (amounts in millicredits)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from creditbook.domain.alerts import AlertRule
from creditbook.domain.amounts import Credits
from creditbook.domain.plans import Plan, RolloverPolicy
from creditbook.domain.rates import Colors, FilterRate, FunctionRate, RateCard


def plan_to_body(plan: Plan) -> dict[str, Any]:
    rollover = plan.rollover
    return {
        "plan_id": plan.plan_id,
        "name": plan.name,
        "interval": plan.interval.value,
        "allowances": {pool: amount.millicredits for pool, amount in plan.allowances.items()},
        "rollover": None
        if rollover is None
        else {
            "cap": None if rollover.cap is None else rollover.cap.millicredits,
            "cap_percent": None if rollover.cap_percent is None else str(rollover.cap_percent),
            "expires_after_periods": rollover.expires_after_periods,
        },
        "slots": plan.slots,
        "prices": {currency: str(price) for currency, price in plan.prices.items()},
        "display_currency": plan.display_currency,
        "overdraft": plan.overdraft.millicredits,
        "price_id": plan.price_id,
        "rate_limit_per_s": plan.rate_limit_per_s,
        "rate_limit_burst": plan.rate_limit_burst,
        "alerts": [rule.to_body() for rule in plan.alerts],
    }


def plan_from_body(body: dict[str, Any]) -> Plan:
    rollover = body["rollover"]
    return Plan(
        plan_id=body["plan_id"],
        name=body["name"],
        interval=body["interval"],
        allowances={pool: Credits(amount) for pool, amount in body["allowances"].items()},
        rollover=None
        if rollover is None
        else RolloverPolicy(
            cap=None if rollover["cap"] is None else Credits(rollover["cap"]),
            cap_percent=None
            if rollover["cap_percent"] is None
            else Decimal(rollover["cap_percent"]),
            expires_after_periods=rollover["expires_after_periods"],
        ),
        slots=body["slots"],
        prices={currency: Decimal(price) for currency, price in body["prices"].items()},
        display_currency=body["display_currency"],
        overdraft=Credits(body["overdraft"]),
        price_id=body["price_id"],
        rate_limit_per_s=body.get("rate_limit_per_s"),
        rate_limit_burst=body.get("rate_limit_burst"),
        alerts=tuple(AlertRule.from_body(rule) for rule in body.get("alerts", ())),
    )


def _colors(colors: Colors) -> dict[str, str]:
    return {"bg_color": colors.bg_color, "txt_color": colors.txt_color}


def card_to_body(card: RateCard) -> dict[str, Any]:
    return {
        "rate_card_id": card.rate_card_id,
        "credits_per_row": card.credits_per_row.millicredits,
        "base_label": card.base_label,
        "base_colors": _colors(card.base_colors),
        "pool": card.pool,
        "functions": {
            name: {
                "credits_per_success": function.credits_per_success.millicredits,
                "pool": function.pool,
                "colors": _colors(function.colors),
            }
            for name, function in card.functions.items()
        },
        "filters": {
            name: {"display": rate.display, "credits_per_row": rate.credits_per_row.millicredits}
            for name, rate in card.filters.items()
        },
        "module": card.module,
        "service": card.service,
    }


def card_from_body(body: dict[str, Any]) -> RateCard:
    return RateCard(
        rate_card_id=body["rate_card_id"],
        credits_per_row=Credits(body["credits_per_row"]),
        base_label=body["base_label"],
        base_colors=Colors(**body["base_colors"]),
        pool=body["pool"],
        functions={
            name: FunctionRate(
                name=name,
                credits_per_success=Credits(function["credits_per_success"]),
                pool=function["pool"],
                colors=Colors(**function["colors"]),
            )
            for name, function in body["functions"].items()
        },
        filters={
            name: FilterRate(
                name=name, display=rate["display"], credits_per_row=Credits(rate["credits_per_row"])
            )
            for name, rate in body["filters"].items()
        },
        module=body["module"],
        service=body["service"],
    )
