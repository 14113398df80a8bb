"""Operating accounts: accounts, grants, charges and runs (both modes)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import typer

from creditbook.cli.backend import Backend, Json, iter_runs, open_backend
from creditbook.cli.errors import handled, usage
from creditbook.cli.options import (
    Account,
    BaseUrl,
    DatabaseUrl,
    IdempotencyKey,
    JsonFlag,
    Profile,
    instant,
    target,
)
from creditbook.cli.output import console, print_json, record, stream_json, table
from creditbook.cli.target import Target, account_of
from creditbook.domain.rates import BASE_FUNCTION
from creditbook.wire.accounts import AccountCreate
from creditbook.wire.charges import ChargeCreate
from creditbook.wire.grants import GrantCreate

ACCOUNT_COLUMNS = ("account_id", "name", "plan_id", "timezone", "created_at", "has_unpaid_bill")
RUN_COLUMNS = ("run_id", "rate_card_id", "status", "rows_kept", "credits", "started_at")
MAX_RUNS = 100


def amount(value: str, name: str = "amount") -> Decimal:
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise usage(f"{name}: not a number of credits: {value!r}") from None
    if not number.is_finite():
        raise usage(f"{name}: not a number of credits: {value!r}")
    return number


# -- accounts ---------------------------------------------------------------------------------


@handled
def accounts_list(
    database_url: DatabaseUrl = None,
    base_url: BaseUrl = None,
    profile: Profile = None,
    json_output: JsonFlag = False,
) -> None:
    """Every account, by id (both modes; remote: operator key)."""
    with open_backend(target(database_url, base_url, profile), read_only=True) as backend:
        accounts = list(backend.list_accounts())
    if json_output:
        print_json({"data": accounts})
        return
    rows = ([a[c] for c in ACCOUNT_COLUMNS] for a in accounts)
    console.print(table(f"{len(accounts)} accounts", ACCOUNT_COLUMNS, rows))


@handled
def accounts_create(
    plan: Annotated[str, typer.Option("--plan", help="The plan to open the account on.")],
    account_id: Annotated[
        str | None, typer.Option("--id", help="The account id (default: a random one).")
    ] = None,
    name: Annotated[str, typer.Option(help="A display name.")] = "",
    timezone: Annotated[str, typer.Option(help="IANA zone of its days and periods.")] = "UTC",
    billing_anchor_at: Annotated[
        str | None,
        typer.Option("--billing-anchor-at", help="Start of its billing periods (default: now)."),
    ] = None,
    idempotency_key: IdempotencyKey = None,
    database_url: DatabaseUrl = None,
    base_url: BaseUrl = None,
    profile: Profile = None,
    json_output: JsonFlag = False,
) -> None:
    """Open an account on a plan; its first period's allowance is granted at once (both
    modes; remote: operator key)."""
    body = AccountCreate(
        plan_id=plan,
        account_id=account_id,
        name=name,
        timezone=timezone,
        billing_anchor_at=instant(billing_anchor_at, "--billing-anchor-at"),
    )
    with open_backend(target(database_url, base_url, profile)) as backend:
        account = backend.create_account(body, idempotency_key)
    if json_output:
        print_json(account)
        return
    console.print(record(f"account {account['account_id']} opened", account, ACCOUNT_COLUMNS))


@handled
def accounts_show(
    account: Account = None,
    database_url: DatabaseUrl = None,
    base_url: BaseUrl = None,
    profile: Profile = None,
    json_output: JsonFlag = False,
) -> None:
    """An account's details (both modes; operator or the account's own key)."""
    chosen = target(database_url, base_url, profile)
    with open_backend(chosen, read_only=True) as backend:
        found = backend.get_account(account_of(chosen, account, backend))
    if json_output:
        print_json(found)
        return
    fields = (*ACCOUNT_COLUMNS, "billing_anchor_at", "metadata")
    console.print(record(f"account {found['account_id']}", found, fields))


# -- grants and charges -----------------------------------------------------------------------


@handled
def grant(
    account: Annotated[str, typer.Argument(help="The account to give credits to.")],
    credits: Annotated[
        str, typer.Argument(help="Credits, e.g. 50 or 2.5 (negative: an adjustment that takes).")
    ],
    source: Annotated[str, typer.Option(help="bonus, top_up or adjustment.")] = "bonus",
    pool: Annotated[str | None, typer.Option(help="The pool (default: the plan's first).")] = None,
    priority: Annotated[
        int | None, typer.Option(help="Spend order, 0..999999 (lower first).")
    ] = None,
    expires_at: Annotated[
        str | None, typer.Option("--expires-at", help="When the credits expire (ISO 8601).")
    ] = None,
    description: Annotated[str, typer.Option(help="Shown in the history.")] = "",
    idempotency_key: IdempotencyKey = None,
    database_url: DatabaseUrl = None,
    base_url: BaseUrl = None,
    profile: Profile = None,
    json_output: JsonFlag = False,
) -> None:
    """Give an account bonus, top-up or adjustment credits (both modes; remote: operator key)."""
    body = GrantCreate.model_validate(
        {
            "amount": amount(credits),
            "source": source,
            "pool": pool,
            "priority": priority,
            "expires_at": instant(expires_at, "--expires-at"),
            "description": description,
        }
    )
    with open_backend(target(database_url, base_url, profile)) as backend:
        granted = backend.grant(account, body, idempotency_key)
    if json_output:
        print_json(granted)
        return
    fields = ("grant_id", "pool", "source", "amount", "priority", "expires_at", "transaction_id")
    console.print(record(f"granted {granted['amount']} to {account}", granted, fields))


@handled
def charge(
    account: Annotated[str, typer.Argument(help="The account to charge.")],
    credits: Annotated[
        str | None, typer.Argument(help="Raw credits (or use --rate-card/--function).")
    ] = None,
    rate_card: Annotated[
        str | None, typer.Option("--rate-card", help="Price a function of this rate card.")
    ] = None,
    function: Annotated[
        str | None, typer.Option(help="The rate card's function (default: its base rate).")
    ] = None,
    quantity: Annotated[int, typer.Option(help="How many times the function ran.")] = 0,
    pool: Annotated[str | None, typer.Option(help="The pool (raw credits).")] = None,
    partial: Annotated[
        bool, typer.Option("--partial", help="Take what is available instead of refusing.")
    ] = False,
    module: Annotated[str, typer.Option(help="Stats attribution: module.")] = "",
    service: Annotated[str, typer.Option(help="Stats attribution: service.")] = "",
    user_id: Annotated[str, typer.Option("--user-id", help="Stats attribution: user.")] = "",
    resource_id: Annotated[
        str, typer.Option("--resource-id", help="Stats attribution: resource (a table, …).")
    ] = "",
    description: Annotated[str, typer.Option(help="Shown in the history.")] = "",
    idempotency_key: IdempotencyKey = None,
    database_url: DatabaseUrl = None,
    base_url: BaseUrl = None,
    profile: Profile = None,
    json_output: JsonFlag = False,
) -> None:
    """Charge raw credits, or a rate card's function × quantity (both modes; remote:
    operator or the account's write key). Exits 4 when the account cannot pay."""
    if (credits is None) == (rate_card is None):
        raise usage("give an amount of credits, or --rate-card with --quantity (and --function)")
    if rate_card is not None and function is None:
        function = BASE_FUNCTION  # the rate card's per-row price
    fields: dict[str, Any] = {
        "amount": None if credits is None else amount(credits),
        "rate_card_id": rate_card,
        "function": function,
        "quantity": quantity,
        "pool": pool,
        "partial": partial,
        "module": module,
        "service": service,
        "user_id": user_id,
        "resource_id": resource_id,
        "description": description,
    }
    body = ChargeCreate.model_validate(fields)
    with open_backend(target(database_url, base_url, profile)) as backend:
        charged = backend.charge(account, body, idempotency_key)
    if json_output:
        print_json(charged)
        return
    shown = ("charge_id", "pool", "requested", "amount", "function", "quantity", "created_at")
    console.print(record(f"charged {charged['amount']} to {account}", charged, shown))


# -- runs -------------------------------------------------------------------------------------


@handled
def runs_list(
    account: Account = None,
    limit: Annotated[int, typer.Option(min=1, max=MAX_RUNS, help="Page size.")] = 20,
    cursor: Annotated[
        str | None, typer.Option(help="Start after the page that printed it.", show_default=False)
    ] = None,
    all_pages: Annotated[
        bool, typer.Option("--all", help="Every page from --cursor (or the newest) on.")
    ] = False,
    database_url: DatabaseUrl = None,
    base_url: BaseUrl = None,
    profile: Profile = None,
    json_output: JsonFlag = False,
) -> None:
    """An account's runs, newest first, a page at a time (both modes)."""
    chosen = target(database_url, base_url, profile)
    found = account_pages(
        chosen,
        account,
        (limit, cursor, all_pages),
        json_output,
        lambda backend, *page: backend.list_runs(*page),
        iter_runs,
    )
    if found is None:
        return
    account_id, page = found
    runs = page["data"]
    rows = ([run[c] for c in RUN_COLUMNS] for run in runs)
    title = f"{account_id}: {len(runs)} runs, newest first"
    console.print(table(title, RUN_COLUMNS, rows, numeric=("rows_kept", "credits")))
    print_more(page)


def account_pages(
    chosen: Target,
    account: str | None,
    paging: tuple[int, str | None, bool],
    json_output: bool,
    read_page: Callable[[Backend, str, int, str | None], Json],
    read_all: Callable[[Backend, str, str | None], Iterator[Json]],
) -> tuple[str, Json] | None:
    """A page of an account's listing (`paging`: limit, cursor, every page from the cursor
    on), with the account's id; None when it was printed as JSON already (streamed, for
    every page)."""
    limit, cursor, all_pages = paging
    with open_backend(chosen, read_only=True) as backend:
        account_id = account_of(chosen, account, backend)
        if all_pages:
            items = read_all(backend, account_id, cursor)
            if json_output:
                stream_json(items)
                return None
            page: Json = {"data": list(items), "has_more": False, "next_cursor": None}
        else:
            page = read_page(backend, account_id, limit, cursor)
    if json_output:
        print_json(page)
        return None
    return account_id, page


def print_more(page: Json) -> None:
    """Where the next page starts, when there is one."""
    if page["has_more"]:
        console.print(f"more: --cursor {page['next_cursor']}", highlight=False, soft_wrap=True)


def _print_run(run: Json, credits: Json) -> None:
    fields = (*RUN_COLUMNS, "slots", "finished_at", "rows_discarded", "active_filters")
    console.print(record(f"run {run['run_id']} of {run['account_id']}", run, fields))
    title = f"{credits['total_credits']} credits, {credits['total_results']} results"
    rows = [(i["function"], i["credits"], i["attempts"]) for i in credits["breakdown"]]
    rows += [(f"filter {f['display']}", f["credits"], "") for f in credits["filter_breakdown"]]
    columns = ("function", "credits", "attempts")
    console.print(table(title, columns, rows, numeric=("credits", "attempts")))


@handled
def runs_show(
    run_id: Annotated[str, typer.Argument(help="The run's id.")],
    database_url: DatabaseUrl = None,
    base_url: BaseUrl = None,
    profile: Profile = None,
    json_output: JsonFlag = False,
) -> None:
    """A run and where its credits went, per function (both modes)."""
    with open_backend(target(database_url, base_url, profile), read_only=True) as backend:
        run = backend.get_run(run_id)
        credits = backend.run_credits(run_id)
    if json_output:
        print_json({"run": run, "credits": credits})
        return
    _print_run(run, credits)
