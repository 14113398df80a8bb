"""The balance: grants and holds now (materialised) or at an instant (replayed from the
entries), spend per pool from the rollups and the spent book, draws per grant."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, and_, func, or_, select

from creditbook.store import schema
from creditbook.store.partial import not_empty
from creditbook.store.queries.sums import exact_sum


def open_grants(account_id: str, at: datetime) -> Select[Any]:
    """The open grants in effect at `at` that hold credits (or owe them)."""
    grants = schema.grants.c
    return select(grants.pool, grants.source, grants.remaining, grants.expires_at).where(
        grants.account_id == account_id,
        grants.closed_at.is_(None),
        grants.effective_at <= at,
        grants.remaining != 0,
    )


def grants_replayed(account_id: str, at: datetime) -> Select[Any]:
    """Each grant in effect at `at` with its remaining credits replayed from the grant book
    of the transfers posted by then."""
    grants, entries, transfers = schema.grants.c, schema.entries.c, schema.transfers.c
    return (
        select(
            grants.pool,
            grants.source,
            grants.grant_id,
            grants.expires_at,
            exact_sum(entries.amount).label("remaining"),
        )
        .select_from(schema.entries)
        .join(
            schema.transfers,
            and_(transfers.account_id == entries.account_id, transfers.seq == entries.seq),
        )
        .join(
            schema.grants,
            and_(grants.account_id == entries.account_id, grants.grant_id == entries.grant_id),
        )
        .where(
            entries.account_id == account_id,
            entries.book == "grant",
            transfers.created_at <= at,
            grants.effective_at <= at,
        )
        .group_by(grants.pool, grants.source, grants.grant_id, grants.expires_at)
    )


def active_holds(account_id: str) -> Select[Any]:
    """Credits held now per pool, from the active holds' materialised remainders."""
    holds = schema.holds.c
    return (
        select(holds.pool, exact_sum(holds.remaining).label("held"))
        .where(holds.account_id == account_id, holds.status == "active")
        .group_by(holds.pool)
    )


def held_replayed(account_id: str, at: datetime) -> Select[Any]:
    """Credits held per pool at `at`, replayed from the hold book."""
    entries, transfers = schema.entries.c, schema.transfers.c
    return (
        select(transfers.pool, exact_sum(entries.amount).label("held"))
        .select_from(schema.entries)
        .join(
            schema.transfers,
            and_(transfers.account_id == entries.account_id, transfers.seq == entries.seq),
        )
        .where(entries.account_id == account_id, entries.book == "hold", transfers.created_at <= at)
        .group_by(transfers.pool)
    )


def drawable_grants(
    account_id: str, sources: Sequence[str], start: datetime, at: datetime
) -> Select[Any]:
    """The grants of `sources` open at some point of [start, at]."""
    grants = schema.grants.c
    return select(grants.grant_id, grants.pool, grants.source).where(
        grants.account_id == account_id,
        grants.source.in_(sources),
        or_(grants.closed_at.is_(None), grants.closed_at >= start),
        grants.effective_at <= at,
    )


def first_seq_since(account_id: str, start: datetime) -> Select[Any]:
    """The sequence number of the first transfer posted at or after `start` (NULL if none)."""
    transfers = schema.transfers.c
    return select(func.min(transfers.seq)).where(
        transfers.account_id == account_id, transfers.created_at >= start
    )


def grant_net_since(
    account_id: str,
    grant_ids: list[str],
    first_seq: int,
    types: Sequence[str],
    at: datetime,
) -> Select[Any]:
    """Net grant-book movement per grant of `grant_ids` by transfers of `types` from the
    transfer `first_seq` until `at` (`ix_entries_grant_seq` serves it)."""
    entries, transfers = schema.entries.c, schema.transfers.c
    return (
        select(entries.grant_id, exact_sum(entries.amount).label("net"))
        .select_from(schema.entries)
        .join(
            schema.transfers,
            and_(transfers.account_id == entries.account_id, transfers.seq == entries.seq),
        )
        .where(
            entries.account_id == account_id,
            entries.grant_id.in_(grant_ids),
            not_empty(entries.grant_id),  # the condition of ix_entries_grant_seq
            entries.seq >= first_seq,
            entries.book == "grant",
            transfers.type.in_(types),
            transfers.created_at <= at,
        )
        .group_by(entries.grant_id)
    )


def rollup_spend_by_pool(account_id: str, first: date, last: date) -> Select[Any]:
    """Net spend per pool on the local days [first, last], from the daily rollups."""
    rollups = schema.rollups.c
    return (
        select(rollups.pool, exact_sum(rollups.amount).label("net"))
        .where(rollups.account_id == account_id, rollups.day >= first, rollups.day <= last)
        .group_by(rollups.pool)
    )


def spent_by_pool(
    account_id: str,
    types: Sequence[str],
    start: datetime,
    end: datetime,
    *,
    inclusive: bool,
) -> Select[Any]:
    """Spent-book movement per pool of the transfers of `types` posted in [start, end)
    (or [start, end] when `inclusive`)."""
    entries, transfers = schema.entries.c, schema.transfers.c
    upper = transfers.created_at <= end if inclusive else transfers.created_at < end
    return (
        select(transfers.pool, exact_sum(entries.amount).label("net"))
        .select_from(schema.transfers)
        .join(
            schema.entries,
            and_(
                entries.account_id == transfers.account_id,
                entries.seq == transfers.seq,
                entries.book == "spent",
            ),
        )
        .where(
            transfers.account_id == account_id,
            transfers.type.in_(types),
            transfers.created_at >= start,
            upper,
        )
        .group_by(transfers.pool)
    )
