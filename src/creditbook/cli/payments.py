"""Selling credits: `creditbook packs list`, `creditbook buy`, `creditbook auto-recharge
show|set|off` and `creditbook payments list` (both modes). Packs are declared with
`creditbook apply` (see `creditbook.cli.pricing`)."""

from __future__ import annotations

from typing import Annotated

import typer

from creditbook.cli.accounts import account_pages, amount, print_more
from creditbook.cli.backend import Json, iter_payments, open_backend
from creditbook.cli.errors import handled
from creditbook.cli.options import (
    Account,
    BaseUrl,
    DatabaseUrl,
    IdempotencyKey,
    JsonFlag,
    Profile,
    target,
)
from creditbook.cli.output import console, print_json, record, table
from creditbook.cli.target import account_of
from creditbook.domain.payments import (
    DEFAULT_RECHARGES_PER_MONTH,
    MAX_PACK_QUANTITY,
    MAX_RECHARGES_PER_MONTH,
)
from creditbook.wire.events import money
from creditbook.wire.payments import AutoRechargeBody, CheckoutBody

PACK_COLUMNS = ("pack_id", "name", "credits", "prices", "pool", "expires", "on sale")
PAYMENT_COLUMNS = ("created_at", "payment_id", "kind", "pack", "credits", "paid", "refunded")
RECHARGE_COLUMNS = ("created_at", "recharge_id", "status", "pack_id", "reason")
MAX_PAYMENTS = 100
Currency = Annotated[
    str | None,
    typer.Option(
        help="The currency to pay in (e.g. usd); needed when the pack has several prices.",
        show_default=False,
    ),
]


def _prices(pack: Json) -> str:
    return ", ".join(money(unit, currency) for currency, unit in pack["prices"].items())


def _months(count: int | None) -> str:
    return "never" if count is None else f"after {count} month{'s' if count != 1 else ''}"


# -- packs ------------------------------------------------------------------------------------


@handled
def packs_list(
    database_url: DatabaseUrl = None,
    base_url: BaseUrl = None,
    profile: Profile = None,
    json_output: JsonFlag = False,
) -> None:
    """Every credit pack, by id (both modes; an account key sees the packs on sale)."""
    with open_backend(target(database_url, base_url, profile), read_only=True) as backend:
        packs = backend.list_packs()
    if json_output:
        print_json({"data": packs})
        return
    rows = (
        (
            p["pack_id"],
            p["name"],
            p["credits"],
            _prices(p),
            p["pool"] or "(the plan's)",
            _months(p["expires_after_months"]),
            p["active"],
        )
        for p in packs
    )
    title = f"{len(packs)} credit pack{'' if len(packs) == 1 else 's'}"
    console.print(table(title, PACK_COLUMNS, rows, numeric=("credits",)))
    if not packs:
        console.print("declare packs in a pricing file: see `creditbook apply`", highlight=False)


# -- buy --------------------------------------------------------------------------------------


@handled
def buy(
    account: Annotated[str, typer.Argument(help="The account that buys.")],
    pack: Annotated[str, typer.Argument(help="The credit pack to buy.")],
    success_url: Annotated[
        str,
        typer.Option(
            help="Where Stripe sends the customer once paid (may hold {CHECKOUT_SESSION_ID})."
        ),
    ],
    cancel_url: Annotated[str, typer.Option(help="Where Stripe sends a customer who cancels.")],
    quantity: Annotated[
        int, typer.Option(min=1, max=MAX_PACK_QUANTITY, help="How many packs.")
    ] = 1,
    currency: Currency = None,
    idempotency_key: IdempotencyKey = None,
    database_url: DatabaseUrl = None,
    base_url: BaseUrl = None,
    profile: Profile = None,
    json_output: JsonFlag = False,
) -> None:
    """Start a Stripe Checkout for packs and print the URL to pay at (both modes; remote:
    operator or the account's write key). The credits arrive when Stripe reports the
    payment. Local mode calls Stripe with CREDITBOOK_STRIPE_API_KEY."""
    body = CheckoutBody(
        pack_id=pack,
        success_url=success_url,
        cancel_url=cancel_url,
        quantity=quantity,
        currency=currency,
    )
    with open_backend(target(database_url, base_url, profile), stripe=True) as backend:
        session = backend.checkout(account, body, idempotency_key)
    if json_output:
        print_json(session)
        return
    console.print(
        f"{session['account_id']}: {session['quantity']} × {session['pack_id']} = "
        f"{session['credits']} credits for {money(session['amount_total'], session['currency'])}"
        f" (Checkout Session {session['id']}). The credits arrive once Stripe reports the "
        "payment. Pay at:",
        highlight=False,
        soft_wrap=True,
    )
    # The URL alone on the last line, whole, so that a script can take it with `tail -n 1`.
    console.print(session["url"], highlight=False, soft_wrap=True, markup=False)


# -- auto-recharge ----------------------------------------------------------------------------


def _print_auto_recharge(state: Json) -> None:
    settings = state["settings"]
    if settings is None:
        status = "off"
    elif state["paused"]:
        status = f"paused since {state['paused_at']}: {state['paused_reason']}"
    else:
        status = "on" if settings["enabled"] else "disabled"
    shown: Json = {"status": status}
    if settings is not None:
        shown.update(
            pack=settings["pack_id"],
            pool=state["pool"],
            threshold=settings["threshold"],
            max_per_month=settings["max_per_month"],
            currency=settings["currency"] or "(the pack's only price)",
        )
    if state["customer_id"]:
        shown.update(stripe_customer=state["customer_id"], card=state["payment_method_id"])
    console.print(record(f"{state['account_id']}: auto-recharge", shown))
    if settings is None:
        console.print(
            f"turn it on: creditbook auto-recharge set {state['account_id']} --pack PACK "
            "--threshold CREDITS",
            highlight=False,
            soft_wrap=True,
        )
    if state["recent"]:
        rows = ([r[c] for c in RECHARGE_COLUMNS] for r in state["recent"])
        console.print(table("latest recharges", RECHARGE_COLUMNS, rows))


@handled
def auto_recharge_show(
    account: Account = None,
    database_url: DatabaseUrl = None,
    base_url: BaseUrl = None,
    profile: Profile = None,
    json_output: JsonFlag = False,
) -> None:
    """An account's auto-recharge: its settings, whether paused, its latest recharges."""
    chosen = target(database_url, base_url, profile)
    with open_backend(chosen, read_only=True) as backend:
        state = backend.get_auto_recharge(account_of(chosen, account, backend))
    print_json(state) if json_output else _print_auto_recharge(state)


@handled
def auto_recharge_set(
    pack: Annotated[str, typer.Option("--pack", help="The credit pack to buy.")],
    threshold: Annotated[
        str, typer.Option(help="Buy when a write takes the pack's pool below these credits.")
    ],
    account: Account = None,
    max_per_month: Annotated[
        int,
        typer.Option(
            min=1, max=MAX_RECHARGES_PER_MONTH, help="At most this many recharges a month (UTC)."
        ),
    ] = DEFAULT_RECHARGES_PER_MONTH,
    currency: Currency = None,
    database_url: DatabaseUrl = None,
    base_url: BaseUrl = None,
    profile: Profile = None,
    json_output: JsonFlag = False,
) -> None:
    """Buy a pack on the saved card whenever the account's pool falls below a threshold
    (both modes; remote: operator or the account's write key). A pool already below it
    recharges at once."""
    body = AutoRechargeBody(
        pack_id=pack,
        threshold=amount(threshold, "--threshold"),
        max_per_month=max_per_month,
        currency=currency,
    )
    chosen = target(database_url, base_url, profile)
    with open_backend(chosen) as backend:
        state = backend.set_auto_recharge(account_of(chosen, account, backend), body)
    print_json(state) if json_output else _print_auto_recharge(state)


@handled
def auto_recharge_off(
    account: Account = None,
    database_url: DatabaseUrl = None,
    base_url: BaseUrl = None,
    profile: Profile = None,
    json_output: JsonFlag = False,
) -> None:
    """Stop an account's auto-recharge (its Stripe customer and card stay)."""
    chosen = target(database_url, base_url, profile)
    with open_backend(chosen) as backend:
        state = backend.set_auto_recharge(account_of(chosen, account, backend), None)
    print_json(state) if json_output else _print_auto_recharge(state)


# -- payments ---------------------------------------------------------------------------------


def _payment_row(payment: Json) -> list[object]:
    refunded = payment["amount_refunded"]
    return [
        payment["created_at"],
        payment["payment_id"],
        payment["kind"],
        f"{payment['quantity']} × {payment['pack_id']}",
        payment["credits"],
        money(payment["amount_paid"], payment["currency"]),
        money(refunded, payment["currency"]) if refunded else "",
    ]


@handled
def payments_list(
    account: Account = None,
    limit: Annotated[int, typer.Option(min=1, max=MAX_PAYMENTS, help="Page size.")] = 20,
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
    """An account's purchases, newest first, a page at a time (both modes)."""
    chosen = target(database_url, base_url, profile)
    found = account_pages(
        chosen,
        account,
        (limit, cursor, all_pages),
        json_output,
        lambda backend, *page: backend.list_payments(*page),
        iter_payments,
    )
    if found is None:
        return
    account_id, page = found
    payments = page["data"]
    title = (
        f"{account_id}: {len(payments)} purchase{'' if len(payments) == 1 else 's'}, newest first"
    )
    rows = (_payment_row(payment) for payment in payments)
    console.print(table(title, PAYMENT_COLUMNS, rows, numeric=("credits", "paid", "refunded")))
    print_more(page)
