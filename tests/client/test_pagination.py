"""Lists page themselves: iterating follows `next_cursor` until `has_more` is false."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tests.client.conftest import BASE_URL, MakeClient, Recorder

from creditbook.client import Client, Page, Pager


def test_accounts_across_several_pages(client: Client, make_client: MakeClient) -> None:
    ids = [f"acct-{n:02d}" for n in range(7)]
    for account_id in ids:
        client.accounts.create(plan_id="pro", account_id=account_id)
    recorder = Recorder()
    operator = make_client(through=recorder)

    accounts = operator.accounts.list(limit=3)
    assert recorder.requests == []  # nothing is fetched until the pager is used
    assert [a.account_id for a in accounts] == ids
    cursors = [r.url.params.get("cursor") for r in recorder.requests]
    assert cursors == [None, "acct-02", "acct-05"]
    assert {r.url.params["limit"] for r in recorder.requests} == {"3"}

    pages = list(accounts.pages())
    assert [len(p.data) for p in pages] == [3, 3, 1]
    assert [(p.has_more, p.next_cursor) for p in pages] == [
        (True, "acct-02"),
        (True, "acct-05"),
        (False, None),
    ]
    assert len(recorder.requests) == 3 + 2  # the first page is fetched once per pager


def test_the_first_page(client: Client) -> None:
    for n in range(3):
        client.accounts.create(plan_id="pro", account_id=f"acct-{n}")
    pager = client.accounts.list(limit=2)
    page = pager.first_page()
    assert isinstance(page, Page)
    assert pager.page is page
    assert ([a.account_id for a in page.data], page.has_more, page.next_cursor) == (
        ["acct-0", "acct-1"],
        True,
        "acct-1",
    )


def test_transactions_across_pages_with_filters(client: Client) -> None:
    client.accounts.create(plan_id="pro", account_id="acme")
    for amount in range(1, 8):
        client.charges.create("acme", amount=amount)
    client.grants.create("acme", amount=5)

    everything = client.credits.transactions("acme", limit=2)
    amounts = [t.amount for t in everything]
    assert amounts == [5, -7, -6, -5, -4, -3, -2, -1, 100]  # newest first
    assert len(list(everything.pages())) == 5

    deductions = client.credits.transactions("acme", type="DEDUCTION", limit=3)
    assert [t.amount for t in deductions] == [-7, -6, -5, -4, -3, -2, -1]
    pages = list(deductions.pages())
    assert [len(p.data) for p in pages] == [3, 3, 1]
    # the first page tells how many match; later pages, reached by cursor, do not count
    assert [p.total for p in pages] == [7, None, None]


def test_runs_across_pages(client: Client, make_client: MakeClient) -> None:
    client.accounts.create(plan_id="pro", account_id="acme")
    started = []
    for _ in range(5):
        run = client.runs.start(account_id="acme", rate_card_id="maps")
        client.runs.finish(run.run_id)
        started.append(run.run_id)
    newest_first = [r.run_id for r in client.runs.list("acme", limit=100).page.data]
    assert sorted(newest_first) == sorted(started)
    recorder = Recorder()
    operator = make_client(through=recorder)

    runs = operator.runs.list("acme", limit=2)
    assert [r.run_id for r in runs] == newest_first
    cursors = [r.url.params.get("cursor") for r in recorder.requests]
    assert len(cursors) == 3 and cursors[0] is None and None not in cursors[1:]
    pages = list(runs.pages())
    assert [len(p.data) for p in pages] == [2, 2, 1]
    assert [p.has_more for p in pages] == [True, True, False] and pages[-1].next_cursor is None


def test_runs_from_a_server_that_does_not_page_them() -> None:
    """An older server answered `data` alone: one page."""

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"data": []})

    client = Client(api_key="k", base_url=BASE_URL, transport=httpx.MockTransport(answer))
    with client:
        pager = client.runs.list("acme")
        assert list(pager) == [] and pager.page.has_more is False


def test_a_repeated_cursor_stops_the_pager() -> None:
    """A server that answers the same cursor again would page forever: refuse it."""

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"data": [], "has_more": True, "next_cursor": "same"})

    client = Client(api_key="k", base_url=BASE_URL, transport=httpx.MockTransport(answer))
    with client, pytest.raises(RuntimeError, match="repeated the cursor"):
        list(client.accounts.list())


def test_a_pager_of_any_fetch() -> None:
    pages = {None: Page([1, 2], True, "b"), "b": Page([3], True, "c"), "c": Page([], False, None)}
    fetched: list[Any] = []

    def fetch(cursor: str | None) -> Page[int]:
        fetched.append(cursor)
        return pages[cursor]

    pager = Pager(fetch)
    assert list(pager) == [1, 2, 3]
    assert fetched == [None, "b", "c"]
