"""Plans and rate cards: versioned bodies, read by id or all at once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, Table, select

from creditbook.store import schema
from creditbook.store.queries import upsert_versioned

_PLANS = schema.plans.c
_CARDS = schema.rate_cards.c


def put_plan(connection: Connection, plan_id: str, body: Any, now: datetime) -> None:
    """Create a plan, or replace its body and bump its version."""
    _put(connection, schema.plans, "plan_id", plan_id, body, now)


def put_rate_card(connection: Connection, rate_card_id: str, body: Any, now: datetime) -> None:
    """Create a rate card, or replace its body and bump its version."""
    _put(connection, schema.rate_cards, "rate_card_id", rate_card_id, body, now)


def _put(
    connection: Connection, table: Table, id_name: str, identifier: str, body: Any, now: datetime
) -> None:
    upsert_versioned(connection, table, {id_name: identifier}, {"body": body, "updated_at": now})


def plan_version(connection: Connection, plan_id: str) -> Row[Any] | None:
    """The plan's current version (None: no such plan)."""
    return connection.execute(select(_PLANS.version).where(_PLANS.plan_id == plan_id)).first()


def plan_body(connection: Connection, plan_id: str) -> Any:
    return connection.execute(select(_PLANS.body).where(_PLANS.plan_id == plan_id)).scalar_one()


def rate_card(connection: Connection, rate_card_id: str) -> Row[Any, Any] | None:
    """The rate card's version and body (None: no such rate card)."""
    return connection.execute(
        select(_CARDS.version, _CARDS.body).where(_CARDS.rate_card_id == rate_card_id)
    ).first()


def plan_bodies(connection: Connection) -> list[Any]:
    """Every plan's body, by id."""
    return list(connection.execute(select(_PLANS.body).order_by("plan_id")).scalars().all())


def rate_card_bodies(connection: Connection) -> list[Any]:
    """Every rate card's body, by id."""
    return list(connection.execute(select(_CARDS.body).order_by("rate_card_id")).scalars().all())
