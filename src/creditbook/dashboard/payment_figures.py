"""Selling credits in the dashboard: the packs an account's people can buy on its overview,
and the account's purchases.

Every figure comes from the ledger (`payments.list_packs`, `payments.purchases`); this
module only arranges them. Prices and amounts paid are money in the currency's minor unit,
shown as `9.00 USD` (`creditbook.wire.events.money`, as the API's event summaries write
them); credits are shown with the dashboard's credit format.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from creditbook.domain.amounts import Credits
from creditbook.domain.errors import ValidationError
from creditbook.domain.payments import MAX_PACK_QUANTITY, CreditPack
from creditbook.engine.ledger import Ledger
from creditbook.engine.payments.results import Payment
from creditbook.engine.results import Account
from creditbook.wire.events import money

# The purchases page lists this many purchases a page, older pages by cursor.
PURCHASES_PAGE_SIZE = 25
# What `?purchase=` on the overview says: Stripe sends the buyer back with one of these.
PURCHASE_NOTICES = {
    "done": "Thanks — your credits arrive as soon as Stripe confirms the payment.",
    "cancelled": "Checkout was cancelled: nothing was charged.",
}


def sells_credits(ledger: Ledger) -> bool:
    """True when this server can start a Stripe Checkout (it has a Stripe secret key)."""
    return ledger.payments.gateway.can_charge


# -- buying ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Price:
    """A pack's price in one currency: `currency` lowercase as Stripe writes it, `text`
    as a person reads it (`9.00 USD`)."""

    currency: str
    text: str


@dataclass(frozen=True, slots=True)
class Offer:
    """A pack on sale to the account. `pool`: the pool its credits go to, shown when the
    plan has several."""

    pack_id: str
    name: str
    credits: Credits
    pool: str
    prices: list[Price]
    expires_after_months: int | None


@dataclass(frozen=True, slots=True)
class BuyView:
    """The overview's "Buy credits" section. `can_buy`: the viewer signed in with a write
    key (a read key sees the packs without the buttons); `pools_shown`: the plan has
    several pools, so each pack says which one it fills."""

    offers: list[Offer]
    can_buy: bool
    pools_shown: bool
    max_quantity: int = MAX_PACK_QUANTITY


def offers(ledger: Ledger, account: Account) -> tuple[list[Offer], bool]:
    """The active packs whose credits fit the account's plan (a pack for a pool the plan
    does not have cannot be sold to it), and whether the plan has several pools."""
    plan = ledger.get_plan(account.plan_id)
    found = []
    for pack in ledger.payments.list_packs():
        if not pack.active:
            continue
        try:
            pool = pack.pool_in(plan.plan_id, plan.pools)
        except ValidationError:
            continue
        found.append(offer(pack, pool))
    return found, len(plan.pools) > 1


def offer(pack: CreditPack, pool: str) -> Offer:
    prices = [Price(code, money(amount, code)) for code, amount in pack.prices.items()]
    return Offer(pack.pack_id, pack.name, pack.credits, pool, prices, pack.expires_after_months)


def buy_view(ledger: Ledger, account: Account, *, can_buy: bool) -> BuyView:
    found, several = offers(ledger, account)
    return BuyView(found, can_buy, several)


def parse_quantity(value: str | None) -> int:
    """The form's quantity: a whole number of packs, 1 to MAX_PACK_QUANTITY."""
    text = (value or "1").strip()
    if not text.isdigit() or not 1 <= int(text) <= MAX_PACK_QUANTITY:
        raise ValidationError(
            f"the quantity is a whole number of packs from 1 to {MAX_PACK_QUANTITY}",
            field="quantity",
        )
    return int(text)


# -- purchases ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PurchaseRow:
    """One purchase as the table shows it: money already written (`paid`, `refunded`,
    '' when nothing was refunded)."""

    payment: Payment
    pack_name: str
    paid: str
    refunded: str

    @property
    def is_recharge(self) -> bool:
        return self.payment.kind == "auto_recharge"


@dataclass(frozen=True, slots=True)
class PurchaseLog:
    """A page of purchases, newest first. `older`: the query string of the next page (''
    on the last); `first_page`: no cursor was given."""

    rows: list[PurchaseRow]
    first_page: bool
    older: str


def purchase_log(ledger: Ledger, account_id: str, cursor: str | None) -> PurchaseLog:
    """One page of the account's purchases; ValidationError for a malformed cursor."""
    page = ledger.payments.purchases(account_id, limit=PURCHASES_PAGE_SIZE, cursor=cursor)
    names = {pack.pack_id: pack.name for pack in ledger.payments.list_packs()}
    rows = [
        purchase_row(payment, names.get(payment.pack_id, payment.pack_id)) for payment in page.data
    ]
    older = ""
    if page.has_more and page.next_cursor:
        older = urlencode({"cursor": page.next_cursor})
    return PurchaseLog(rows, not cursor, older)


def purchase_row(payment: Payment, pack_name: str) -> PurchaseRow:
    refunded = ""
    if payment.amount_refunded > 0:
        refunded = money(payment.amount_refunded, payment.currency)
    return PurchaseRow(payment, pack_name, money(payment.amount_paid, payment.currency), refunded)
