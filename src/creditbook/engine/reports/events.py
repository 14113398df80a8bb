"""The event log: events newest first across accounts (or one account's), paged by a keyset
cursor, and one event by id."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from creditbook.domain.errors import NotFoundError, ValidationError
from creditbook.engine.events.records import EVENT_TYPES, Event
from creditbook.engine.reports.paging import (
    MAX_PAGE_SIZE,
    check_limit,
    cursor_body,
    encode_cursor_body,
    malformed_cursor,
)
from creditbook.store.queries import events as queries


@dataclass(frozen=True, slots=True)
class EventPage:
    """A page of events, newest first; `next_cursor` continues after the last."""

    data: list[Event]
    has_more: bool
    next_cursor: str | None


def events(
    connection: Connection,
    *,
    account_id: str | None,
    types: Sequence[str],
    limit: int,
    cursor: str | None,
) -> EventPage:
    """Events newest first (creation time, then id): events recorded later never shift the
    pages after a cursor. `account_id` None: every account's and the operator's own."""
    check_limit("limit", limit, MAX_PAGE_SIZE)
    unknown = sorted(set(types) - set(EVENT_TYPES))
    if unknown:
        raise ValidationError(f"unknown event type {unknown[0]!r}", field="type")
    before = _decode(cursor) if cursor else None
    rows = queries.page(
        connection, account_id=account_id, types=types, before=before, limit=limit + 1
    )
    has_more = len(rows) > limit
    data = [Event.from_row(row) for row in rows[:limit]]
    last = data[-1] if has_more else None
    next_cursor = (
        None
        if last is None
        else encode_cursor_body(
            "event", f"{last.created_at.isoformat()}|{last.sequence}|{last.account_id}"
        )
    )
    return EventPage(data, has_more, next_cursor)


def _decode(cursor: str) -> tuple[datetime, str, int]:
    """(created_at, account_id, seq) of the last event of the previous page."""
    created_at, _, rest = cursor_body(cursor, "event").partition("|")
    seq, _, account_id = rest.partition("|")
    try:
        instant = datetime.fromisoformat(created_at)
        number = int(seq)
    except ValueError:
        raise malformed_cursor() from None
    if instant.tzinfo is None:
        raise malformed_cursor()
    return instant, account_id, number


def event(connection: Connection, event_id: str) -> Event:
    row = queries.event(connection, event_id)
    if row is None:
        raise NotFoundError("event", event_id)
    return Event.from_row(row)
