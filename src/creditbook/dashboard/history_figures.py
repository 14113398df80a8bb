"""The transactions page and its CSV export, read from the ledger's history.

Kept apart from figures.py: the history filters and pages by its own rules (local days,
offset pages for the browser, a cursor for the export) and shares nothing with the charts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from creditbook.domain.errors import InvariantError, ValidationError
from creditbook.domain.grants import CUSTOMER_VISIBLE_TYPES, TransactionType
from creditbook.domain.periods import zone
from creditbook.engine.ledger import Ledger
from creditbook.engine.results import Account, Transaction, TransactionPage

HISTORY_PAGE_SIZE = 25
# The CSV export streams every match, reading the history this many rows at a time.
CSV_PAGE_SIZE = 100

TRANSACTION_TYPES = tuple(t.value for t in TransactionType)
VISIBLE_TYPES = tuple(sorted(t.value for t in CUSTOMER_VISIBLE_TYPES))


@dataclass(frozen=True, slots=True)
class HistoryFilter:
    """The transaction page's filters: one type (or all visible), local dates, a page."""

    type: str | None
    start: date | None
    end: date | None
    page: int = 1

    def __post_init__(self) -> None:
        if self.start and self.end and self.start > self.end:
            raise ValidationError("the first day must not come after the last day")

    def window(self, timezone: str) -> tuple[datetime | None, datetime | None]:
        """The filter's dates as instants: from the first day's local midnight to the end
        of the last day."""
        tz = zone(timezone)
        since = None if self.start is None else datetime.combine(self.start, time(0), tzinfo=tz)
        until = None
        if self.end is not None:
            next_day = datetime.combine(self.end + timedelta(days=1), time(0), tzinfo=tz)
            until = next_day - timedelta(microseconds=1)
        return since, until

    def types(self) -> list[str] | None:
        return [self.type] if self.type else None

    def params(self, **changes: Any) -> dict[str, str]:
        """Query parameters for a link to this filter (with `changes`)."""
        values = {
            "type": self.type or "",
            "from": self.start.isoformat() if self.start else "",
            "to": self.end.isoformat() if self.end else "",
            "page": str(self.page),
        }
        values.update({k: str(v) for k, v in changes.items()})
        return {k: v for k, v in values.items() if v and not (k == "page" and v == "1")}


@dataclass(frozen=True, slots=True)
class History:
    filter: HistoryFilter
    page: TransactionPage
    pages: int

    @property
    def first_shown(self) -> int:
        return 0 if not self.page.data else (self.filter.page - 1) * HISTORY_PAGE_SIZE + 1

    @property
    def last_shown(self) -> int:
        return (self.filter.page - 1) * HISTORY_PAGE_SIZE + len(self.page.data)


def history(ledger: Ledger, account: Account, chosen: HistoryFilter) -> History:
    since, until = chosen.window(account.timezone)
    page = ledger.transactions(
        account.account_id,
        limit=HISTORY_PAGE_SIZE,
        offset=(chosen.page - 1) * HISTORY_PAGE_SIZE,
        types=chosen.types(),
        since=since,
        until=until,
    )
    total = page.total
    if total is None:
        raise InvariantError("an offset page counts its matches")
    pages = max(1, -(-total // HISTORY_PAGE_SIZE))
    return History(chosen, page, pages)


def all_transactions(
    ledger: Ledger, account: Account, chosen: HistoryFilter
) -> Iterator[Transaction]:
    """Every match of the filter, newest first, read CSV_PAGE_SIZE at a time by cursor.

    No cap on the total: the caller streams the rows, so memory stays at one page however
    long the history. The cursor is stable, so transactions recorded meanwhile (newer than
    the first page) neither shift nor repeat rows. The first page is read before this
    returns, so a filter the ledger refuses raises here, before a response has started.
    """
    since, until = chosen.window(account.timezone)

    def read(cursor: str | None) -> TransactionPage:
        return ledger.transactions(
            account.account_id,
            limit=CSV_PAGE_SIZE,
            cursor=cursor,
            types=chosen.types(),
            since=since,
            until=until,
        )

    return _every_page(read(None), read)


def _every_page(
    page: TransactionPage, read: Callable[[str | None], TransactionPage]
) -> Iterator[Transaction]:
    while True:
        yield from page.data
        if not page.has_more or page.next_cursor is None:
            return
        page = read(page.next_cursor)
