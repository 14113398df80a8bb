"""Plans and rate cards: versioned reference data that accounts and charges price from."""

from __future__ import annotations

from sqlalchemy import Connection

from creditbook.domain.plans import Plan
from creditbook.domain.rates import RateCard
from creditbook.engine.codec import card_from_body, card_to_body, plan_from_body, plan_to_body
from creditbook.engine.context import Context
from creditbook.store.queries import ledger_state
from creditbook.store.queries import pricing as queries


def put_plan(context: Context, plan: Plan) -> Plan:
    body = plan_to_body(plan)

    def transaction(connection: Connection) -> None:
        queries.put_plan(connection, plan.plan_id, body, context.now())
        ledger_state.set_plan_overdraft_floors(
            connection, plan.plan_id, -plan.overdraft.millicredits
        )

    context.run(transaction)
    return plan


def put_rate_card(context: Context, card: RateCard) -> RateCard:
    body = card_to_body(card)

    def transaction(connection: Connection) -> None:
        queries.put_rate_card(connection, card.rate_card_id, body, context.now())

    context.run(transaction)
    return card


def list_plans(context: Context) -> list[Plan]:
    bodies = context.run(queries.plan_bodies, read_only=True)
    return [plan_from_body(body) for body in bodies]


def list_rate_cards(context: Context) -> list[RateCard]:
    bodies = context.run(queries.rate_card_bodies, read_only=True)
    return [card_from_body(body) for body in bodies]
