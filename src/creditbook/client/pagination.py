"""Lists that page themselves: iterate a pager for every item, or walk its pages.

The API pages with `{"data", "has_more", "next_cursor"}`: the pager sends `next_cursor`
back as `cursor` until `has_more` is false. Lists the API returns whole (plans, rate
cards) are pagers of one page.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

ItemT = TypeVar("ItemT")


@dataclass(frozen=True)
class Page(Generic[ItemT]):
    """One page of a list.

    Attributes:
        data: the page's items, in the API's order.
        has_more: whether another page follows.
        next_cursor: the cursor of the next page (None on the last page).
        total: how many items the whole list holds, where the API tells (transactions, on
            the first page); None elsewhere.
    """

    data: list[ItemT]
    has_more: bool
    next_cursor: str | None
    total: int | None = None

    @classmethod
    def of(cls, listing: Any) -> Page[ItemT]:
        """From a list response model (`data`, and `has_more`/`next_cursor` when paged)."""
        return cls(
            data=list(listing.data),
            has_more=bool(getattr(listing, "has_more", False)),
            next_cursor=getattr(listing, "next_cursor", None),
            total=getattr(listing, "total", None),
        )


def _next_cursor(page: Page[Any], seen: set[str]) -> str | None:
    if not page.has_more or page.next_cursor is None:
        return None
    # A cursor that comes back would page forever: a server bug, not an expected failure.
    if page.next_cursor in seen:
        raise RuntimeError(f"the API repeated the cursor {page.next_cursor!r}")
    seen.add(page.next_cursor)
    return page.next_cursor


class Pager(Generic[ItemT]):
    """A list call: `for item in pager` walks every page; nothing is fetched until used.

    `pager.page` (or `pager.first_page()`) is the first page, fetched once; `pager.pages()`
    yields pages, starting from that first page.
    """

    def __init__(self, fetch: Callable[[str | None], Page[ItemT]]) -> None:
        self._fetch = fetch
        self._first: Page[ItemT] | None = None

    def first_page(self) -> Page[ItemT]:
        if self._first is None:
            self._first = self._fetch(None)
        return self._first

    @property
    def page(self) -> Page[ItemT]:
        return self.first_page()

    def pages(self) -> Iterator[Page[ItemT]]:
        page = self.first_page()
        seen: set[str] = set()
        yield page
        while (cursor := _next_cursor(page, seen)) is not None:
            page = self._fetch(cursor)
            yield page

    def __iter__(self) -> Iterator[ItemT]:
        for page in self.pages():
            yield from page.data


class AsyncPager(Generic[ItemT]):
    """The `Pager` for asyncio, member for member: `async for item in pager` walks every
    page; `await pager.page` (or `await pager.first_page()`) is the first page, fetched
    once; `async for page in pager.pages()` yields pages, starting from that first page.
    """

    def __init__(self, fetch: Callable[[str | None], Awaitable[Page[ItemT]]]) -> None:
        self._fetch = fetch
        self._first: Page[ItemT] | None = None

    async def first_page(self) -> Page[ItemT]:
        if self._first is None:
            self._first = await self._fetch(None)
        return self._first

    @property
    def page(self) -> Awaitable[Page[ItemT]]:
        # A property cannot fetch without awaiting: it hands out the awaitable instead.
        return self.first_page()

    async def pages(self) -> AsyncIterator[Page[ItemT]]:
        page = await self.first_page()
        seen: set[str] = set()
        yield page
        while (cursor := _next_cursor(page, seen)) is not None:
            page = await self._fetch(cursor)
            yield page

    async def _items(self) -> AsyncIterator[ItemT]:
        async for page in self.pages():
            for item in page.data:
                yield item

    def __aiter__(self) -> AsyncIterator[ItemT]:
        return self._items()
