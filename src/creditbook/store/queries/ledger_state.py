"""Named queries over one locked account's ledger state: the account row, its transfers and
entries, grants, holds and daily rollups.

Statements are built once, with bound parameters, so SQLAlchemy skips building the
expression and its cache key on every call (they run on every charge). The PostgreSQL flush of
deferred writes is one text statement over `unnest` arrays: one round trip however many
charges it carries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, TypeAlias

from sqlalchemy import (
    Connection,
    Row,
    bindparam,
    case,
    func,
    select,
    update,
)

from creditbook.store import schema
from creditbook.store.queries import upsert_add_many

# Grant sources as stored (the values of the domain's GrantSource).
OVERDRAFT_SOURCE = "overdraft"
ALLOWANCE_SOURCE = "allowance"

AnyRow: TypeAlias = Row[*tuple[Any, ...]]

_A = schema.accounts.c
_G = schema.grants.c
_H = schema.holds.c
_E = schema.entries.c

# -- the account row ---------------------------------------------------------------------

_UPDATE_ACCOUNT = (
    update(schema.accounts)
    .where(_A.account_id == bindparam("p_account"))
    .values(
        last_seq=bindparam("p_last_seq"),
        period_index=bindparam("p_period_index"),
        next_event_at=bindparam("p_next_event_at"),
        anchor_at=bindparam("p_anchor_at"),
        plan_id=bindparam("p_plan_id"),
    )
)


def update_account(
    connection: Connection,
    account_id: str,
    *,
    last_seq: int,
    period_index: int,
    next_event_at: datetime,
    anchor_at: datetime,
    plan_id: str,
) -> None:
    """Write back the locked account's sequence, period and next event."""
    connection.execute(
        _UPDATE_ACCOUNT,
        {
            "p_account": account_id,
            "p_last_seq": last_seq,
            "p_period_index": period_index,
            "p_next_event_at": next_event_at,
            "p_anchor_at": anchor_at,
            "p_plan_id": plan_id,
        },
    )


# -- grants --------------------------------------------------------------------------------

_INSERT_GRANT = schema.grants.insert()
_SET_GRANT_AMOUNT = (
    update(schema.grants)
    .where(_G.account_id == bindparam("p_account"), _G.grant_id == bindparam("p_grant"))
    .values(amount=bindparam("p_amount"))
)
_OVERDRAFT_GRANT = select(_G.grant_id, _G.remaining).where(
    _G.account_id == bindparam("p_account"),
    _G.pool == bindparam("p_pool"),
    _G.source == OVERDRAFT_SOURCE,
)
# The floor never rises above a debt already taken (a limit lowered after the account borrowed).
_FLOOR = case((_G.remaining < bindparam("p_floor"), _G.remaining), else_=bindparam("p_floor"))
_SET_OVERDRAFT_FLOOR = (
    update(schema.grants)
    .where(_G.account_id == bindparam("p_account"), _G.source == OVERDRAFT_SOURCE)
    .values(min_remaining=_FLOOR)
)
_SET_PLAN_OVERDRAFT_FLOORS = (
    update(schema.grants)
    .where(
        _G.source == OVERDRAFT_SOURCE,
        _G.account_id.in_(select(_A.account_id).where(_A.plan_id == bindparam("p_plan"))),
    )
    .values(min_remaining=_FLOOR)
)
_LOCK_PLAN_ACCOUNTS = (
    select(_A.account_id)
    .where(_A.plan_id == bindparam("p_plan"))
    .order_by(_A.account_id)
    .with_for_update()
)
_OVERDRAFT_POOLS = select(_G.pool).where(
    _G.account_id == bindparam("p_account"), _G.source == OVERDRAFT_SOURCE
)
_ANY_GRANT_IN_POOL = (
    select(_G.grant_id)
    .where(_G.account_id == bindparam("p_account"), _G.pool == bindparam("p_pool"))
    .limit(1)
)
_CLOSED_GRANTS = select(_G.grant_id).where(
    _G.account_id == bindparam("p_account"),
    _G.grant_id.in_(bindparam("p_grants", expanding=True)),
    _G.closed_at.is_not(None),
)
_DUE_GRANTS = (
    select(_G.grant_id, _G.pool, _G.source, _G.remaining, _G.expires_at)
    .where(
        _G.account_id == bindparam("p_account"),
        _G.closed_at.is_(None),
        _G.expires_at <= bindparam("p_until"),
    )
    .order_by(_G.expires_at, _G.created_seq)
)
_CLOSE_GRANT = (
    update(schema.grants)
    .where(_G.account_id == bindparam("p_account"), _G.grant_id == bindparam("p_grant"))
    .values(closed_at=bindparam("p_closed_at"))
)
_UNUSED_ALLOWANCE = (
    select(_G.pool, func.sum(_G.remaining).label("unused"))
    .where(
        _G.account_id == bindparam("p_account"),
        _G.source == ALLOWANCE_SOURCE,
        _G.period_index == bindparam("p_period_index"),
        _G.closed_at.is_(None),
    )
    .group_by(_G.pool)
)
_FIRST_GRANT_EXPIRY = select(func.min(_G.expires_at)).where(
    _G.account_id == bindparam("p_account"), _G.closed_at.is_(None)
)


def open_grants(connection: Connection, account_id: str, pool: str, now: datetime) -> Any:
    """A pool's grants in effect at `now` that can be drawn from (credits left, or the
    overdraft grant), read on the driver."""
    from creditbook.store.queries import row_writes

    return row_writes.open_grants(connection, account_id, pool, now, spendable=True)


def all_open_grants(connection: Connection, account_id: str, pool: str, now: datetime) -> Any:
    """A pool's grants in effect at `now` and not closed, empty ones included."""
    from creditbook.store.queries import row_writes

    return row_writes.open_grants(connection, account_id, pool, now, spendable=False)


def insert_grant(connection: Connection, row: Mapping[str, Any]) -> None:
    connection.execute(_INSERT_GRANT, dict(row))


def set_grant_amount(connection: Connection, account_id: str, grant_id: str, amount: int) -> None:
    connection.execute(
        _SET_GRANT_AMOUNT, {"p_account": account_id, "p_grant": grant_id, "p_amount": amount}
    )


def overdraft_grant(connection: Connection, account_id: str, pool: str) -> AnyRow | None:
    """The pool's overdraft grant (grant_id, remaining), if it has one."""
    return connection.execute(_OVERDRAFT_GRANT, {"p_account": account_id, "p_pool": pool}).first()


def overdraft_pools(connection: Connection, account_id: str) -> set[str]:
    """The pools that have their overdraft grant."""
    return set(connection.execute(_OVERDRAFT_POOLS, {"p_account": account_id}).scalars())


def set_overdraft_floor(connection: Connection, account_id: str, floor: int) -> None:
    """Set the floor of the account's overdraft grants (minus the plan's limit)."""
    connection.execute(_SET_OVERDRAFT_FLOOR, {"p_account": account_id, "p_floor": floor})


def set_plan_overdraft_floors(connection: Connection, plan_id: str, floor: int) -> None:
    """Set the floor of the overdraft grants of every account on the plan, after locking those
    accounts in id order (as a charge locks its account before it draws on the grant)."""
    connection.execute(_LOCK_PLAN_ACCOUNTS, {"p_plan": plan_id}).all()
    connection.execute(_SET_PLAN_OVERDRAFT_FLOORS, {"p_plan": plan_id, "p_floor": floor})


def pool_has_grant(connection: Connection, account_id: str, pool: str) -> bool:
    found = connection.execute(_ANY_GRANT_IN_POOL, {"p_account": account_id, "p_pool": pool})
    return found.first() is not None


def closed_grants(connection: Connection, account_id: str, grant_ids: list[str]) -> set[str]:
    """Which of `grant_ids` are closed (expired)."""
    rows = connection.execute(_CLOSED_GRANTS, {"p_account": account_id, "p_grants": grant_ids})
    return set(rows.scalars())


def due_grants(connection: Connection, account_id: str, until: datetime) -> Sequence[AnyRow]:
    """Open grants expiring by `until`, in expiry order."""
    return connection.execute(_DUE_GRANTS, {"p_account": account_id, "p_until": until}).all()


def close_grant(connection: Connection, account_id: str, grant_id: str, at: datetime) -> None:
    connection.execute(
        _CLOSE_GRANT, {"p_account": account_id, "p_grant": grant_id, "p_closed_at": at}
    )


def unused_allowance(connection: Connection, account_id: str, period_index: int) -> Any:
    """Rows (pool, unused) of a period's open allowance grants."""
    return connection.execute(
        _UNUSED_ALLOWANCE, {"p_account": account_id, "p_period_index": period_index}
    )


# Grants whose `credits.expiring` event is still to go out: credits left, an expiry, and not
# the period's allowance (whose end is the period's renewal).
_NOTICE_PENDING = (
    _G.closed_at.is_(None),
    _G.expires_at.is_not(None),
    _G.remaining > 0,
    _G.expiry_noticed.is_(False),
    _G.source.not_in(("allowance", "overdraft")),
)


def grants_to_notice(connection: Connection, account_id: str, until: datetime) -> Sequence[AnyRow]:
    """Grants with credits left expiring by `until` whose `credits.expiring` has not gone out."""
    return connection.execute(
        select(_G.grant_id, _G.pool, _G.source, _G.remaining, _G.expires_at)
        .where(_G.account_id == account_id, _G.expires_at <= until, *_NOTICE_PENDING)
        .order_by(_G.expires_at, _G.created_seq)
    ).all()


def mark_noticed(connection: Connection, account_id: str, grant_ids: list[str]) -> None:
    connection.execute(
        update(schema.grants)
        .where(_G.account_id == account_id, _G.grant_id.in_(grant_ids))
        .values(expiry_noticed=True)
    )


def first_notice_expiry(connection: Connection, account_id: str) -> datetime | None:
    """The soonest expiry of a grant whose `credits.expiring` is still to go out."""
    expiry: datetime | None = connection.execute(
        select(func.min(_G.expires_at)).where(_G.account_id == account_id, *_NOTICE_PENDING)
    ).scalar()
    return expiry


def first_grant_expiry(connection: Connection, account_id: str) -> datetime | None:
    expiry: datetime | None = connection.execute(
        _FIRST_GRANT_EXPIRY, {"p_account": account_id}
    ).scalar()
    return expiry


# -- holds ---------------------------------------------------------------------------------

_DUE_HOLDS = (
    select(_H.hold_id, _H.pool, _H.expires_at)
    .where(
        _H.account_id == bindparam("p_account"),
        _H.status == "active",
        _H.expires_at <= bindparam("p_until"),
    )
    .order_by(_H.expires_at, _H.hold_id)
)
_FIRST_HOLD_EXPIRY = select(func.min(_H.expires_at)).where(
    _H.account_id == bindparam("p_account"), _H.status == "active"
)


def due_holds(connection: Connection, account_id: str, until: datetime) -> Sequence[AnyRow]:
    """Active holds expiring by `until`, in expiry order."""
    return connection.execute(_DUE_HOLDS, {"p_account": account_id, "p_until": until}).all()


def first_hold_expiry(connection: Connection, account_id: str) -> datetime | None:
    expiry: datetime | None = connection.execute(
        _FIRST_HOLD_EXPIRY, {"p_account": account_id}
    ).scalar()
    return expiry


# -- rollups -------------------------------------------------------------------------------

ROLLUP_KEYS = ("day", "pool", "function", "module", "service", "user_id", "resource_id")


def add_rollup(connection: Connection, keys: dict[str, Any], sums: dict[str, int]) -> None:
    """Add `sums` to one day's rollup row (inserting it if new), on the driver."""
    from creditbook.store.queries import row_writes

    row_writes.add_rollup(connection, {**keys, **sums})


def add_rollups(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """add_rollup for many rows (distinct keys) in one executemany."""
    upsert_add_many(connection, schema.rollups, ("account_id", *ROLLUP_KEYS), rows)


# -- the PostgreSQL flush of deferred writes -----------------------------------------------

TRANSFER_TYPES = (
    ("account_id", "varchar"),
    ("seq", "bigint"),
    ("transfer_id", "varchar"),
    ("type", "varchar"),
    ("pool", "varchar"),
    ("amount", "bigint"),
    ("description", "text"),
    ("created_at", "timestamp"),
    ("recorded_at", "timestamp"),
    ("linked_seq", "bigint"),
    ("function", "varchar"),
    ("module", "varchar"),
    ("service", "varchar"),
    ("user_id", "varchar"),
    ("resource_id", "varchar"),
    ("run_id", "varchar"),
    ("hold_id", "varchar"),
    ("quantity", "bigint"),
    ("refunded", "bigint"),
)
ENTRY_TYPES = (
    ("account_id", "varchar"),
    ("seq", "bigint"),
    ("line", "integer"),
    ("book", "varchar"),
    ("grant_id", "varchar"),
    ("hold_id", "varchar"),
    ("amount", "bigint"),
)
ROLLUP_TYPES = (
    ("account_id", "varchar"),
    ("day", "date"),
    ("pool", "varchar"),
    ("function", "varchar"),
    ("module", "varchar"),
    ("service", "varchar"),
    ("user_id", "varchar"),
    ("resource_id", "varchar"),
    ("amount", "bigint"),
    ("quantity", "bigint"),
    ("charges", "bigint"),
)


# Adds a new rollup row's sums to the stored row of its key (a day and its dimensions).
ROLLUP_UPSERT = (
    f" ON CONFLICT ({', '.join(name for name, _ in ROLLUP_TYPES[:8])})"
    " DO UPDATE SET amount = rollups.amount + excluded.amount,"
    " quantity = rollups.quantity + excluded.quantity,"
    " charges = rollups.charges + excluded.charges"
)

# The answers of keyed charges, stored with the flush (creditbook.engine.idempotency).
KEY_TYPES = (
    ("account_id", "varchar"),
    ("key", "varchar"),
    ("operation", "varchar"),
    ("request_hash", "varchar"),
    ("response", "json"),
    ("created_at", "timestamp"),
)


def _insert_select(
    prefix: str, columns: tuple[tuple[str, str], ...], shared: frozenset[str]
) -> tuple[str, str]:
    """A table's column names, and the SELECT of its rows: the columns named in `shared`
    bound once, the others unnested from one array each."""
    names = ", ".join(name for name, _ in columns)
    varying = [(name, kind) for name, kind in columns if f"{prefix}_{name}" not in shared]
    values = ", ".join(
        f"%({prefix}_{name})b::{kind}" if f"{prefix}_{name}" in shared else f"u.{name}"
        for name, kind in columns
    )
    if not varying:
        return names, f"SELECT {values}"  # one row
    arrays = ", ".join(f"%({prefix}_{name})b::{kind}[]" for name, kind in varying)
    aliases = ", ".join(name for name, _ in varying)
    return names, f"SELECT {values} FROM unnest({arrays}) AS u({aliases})"


@lru_cache(maxsize=128)
def postgres_flush(shared: frozenset[str], keys: bool = False) -> str:
    """Every deferred write in one statement: one round trip however many charges.

    Parameters, in binary: `t_<column>` for transfers (TRANSFER_TYPES), `e_<column>` for
    entries, `r_<column>` for rollups, each an array of the column's values, except for the
    columns `shared` names: those give the one value every row has (the pool, the instant,
    empty attribution…), sent once. Then `g_account_id`, `g_grant_id`, `g_amount`, arrays
    of the grant deltas. With `keys`, `k_<column>` store idempotency answers (KEY_TYPES)
    the same way. It answers how many grants it updated.
    """
    t_names, t_select = _insert_select("t", TRANSFER_TYPES, shared)
    e_names, e_select = _insert_select("e", ENTRY_TYPES, shared)
    r_names, r_select = _insert_select("r", ROLLUP_TYPES, shared)
    stored = ""
    if keys:
        k_names, k_select = _insert_select("k", KEY_TYPES, shared)
        stored = f" k AS (INSERT INTO idempotency ({k_names}) {k_select}),"
    return (
        f"WITH t AS (INSERT INTO transfers ({t_names}) {t_select}),"
        f" e AS (INSERT INTO entries ({e_names}) {e_select}),{stored}"
        " g AS (UPDATE grants SET remaining = grants.remaining + d.amount"
        " FROM unnest(%(g_account_id)b::varchar[], %(g_grant_id)b::varchar[],"
        " %(g_amount)b::bigint[]) AS d(account_id, grant_id, amount)"
        " WHERE grants.account_id = d.account_id AND grants.grant_id = d.grant_id"
        # Through the key in the generic plan too (not a hash join over every grant).
        " AND grants.account_id = ANY(%(g_account_id)b::varchar[])"
        " RETURNING 1),"
        f" r AS (INSERT INTO rollups ({r_names}) {r_select}{ROLLUP_UPSERT})"
        " SELECT count(*) FROM g"
    )
