"""The sync client's payment resources: credit packs, Checkout, auto-recharge, purchases.

They follow the rules of `_resources.py` (body fields as keyword arguments, None not
sent, `account_id` first and falling back to the client's account, `idempotency_key` on
POSTs) and are the source of `_async_payments.py`, written by `scripts/generate_async.py`.

Money is in the currency's minor unit (cents for `usd`), as Stripe counts it; credits are
exact amounts like everywhere else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from creditbook.client import _calls as calls
from creditbook.client._base import DEFAULT_PAGE_LIMIT, AmountInput, fields
from creditbook.client.pagination import Page, Pager
from creditbook.wire.payments import AutoRechargeOut, CheckoutOut, CreditPackOut, PaymentOut

if TYPE_CHECKING:
    from creditbook.client._client import Client


class Resource:
    def __init__(self, client: Client) -> None:
        self._client = client


class CreditPacks(Resource):
    """`PUT /v1/credit_packs/{pack_id}` (operator key), `GET /v1/credit_packs[/{pack_id}]`
    (an account key sees the packs on sale only)."""

    def put(
        self,
        pack_id: str,
        *,
        credits: AmountInput,
        prices: Mapping[str, int],
        name: str | None = None,
        pool: str | None = None,
        expires_after_months: int | None = None,
        priority: int | None = None,
        active: bool | None = None,
    ) -> CreditPackOut:
        """Create or replace a pack: `credits` for a price per currency in minor units
        (`{"usd": 900}` is $9.00). `active=False` stops selling it."""
        body = fields(locals(), "pack_id")
        return self._client._send(calls.put_credit_pack(pack_id, body))

    def list(self) -> Pager[CreditPackOut]:
        """Every pack by id (one page)."""
        client = self._client

        def fetch(_cursor: str | None) -> Page[CreditPackOut]:
            return Page.of(client._send(calls.list_credit_packs()))

        return Pager(fetch)

    def get(self, pack_id: str) -> CreditPackOut:
        return self._client._send(calls.get_credit_pack(pack_id))


class CheckoutSessions(Resource):
    """Buying packs through Stripe Checkout (operator, or the account's own write key)."""

    def create(
        self,
        account_id: str | None,
        pack_id: str,
        *,
        success_url: str,
        cancel_url: str,
        quantity: int = 1,
        currency: str | None = None,
        idempotency_key: str | None = None,
    ) -> CheckoutOut:
        """A Checkout Session for `quantity` packs: send the customer to its `url`. The
        credits arrive when Stripe reports the payment. `currency` may be left out when the
        pack has one price. `account_id` None: the client's account.

        Raises InternalServerError with code `payments_not_configured` (503, not retried)
        when the server has no Stripe key, and `payment_provider_error` (502) when Stripe
        refuses.
        """
        body = fields(locals(), "account_id", "idempotency_key")
        account = self._client._account(account_id)
        call = calls.create_checkout_session(account, body, idempotency_key)
        return self._client._send(call)


class AutoRecharge(Resource):
    """An account's auto-recharge: `PUT|GET|DELETE /v1/accounts/{account_id}/auto_recharge`
    (set and remove: operator or the account's own write key)."""

    def set(
        self,
        account_id: str | None = None,
        *,
        pack_id: str,
        threshold: AmountInput,
        max_per_month: int | None = None,
        currency: str | None = None,
        enabled: bool | None = None,
    ) -> AutoRechargeOut:
        """Buy `pack_id` on the saved card when a write takes the pack's pool below
        `threshold` credits: once per crossing, at most `max_per_month` times a calendar
        month (UTC). A pool already below the threshold recharges at once."""
        body = fields(locals(), "account_id")
        account = self._client._account(account_id)
        return self._client._send(calls.auto_recharge("PUT", account, body))

    def get(self, account_id: str | None = None) -> AutoRechargeOut:
        """The settings (None: none), whether paused and why, and the latest recharges."""
        account = self._client._account(account_id)
        return self._client._send(calls.auto_recharge("GET", account))

    def remove(self, account_id: str | None = None) -> AutoRechargeOut:
        """Stop recharging (the Stripe customer and card stay); removing none is no error."""
        account = self._client._account(account_id)
        return self._client._send(calls.auto_recharge("DELETE", account))


class Payments(Resource):
    """An account's purchases (operator or the account's own key)."""

    def list(
        self, account_id: str | None = None, *, limit: int = DEFAULT_PAGE_LIMIT
    ) -> Pager[PaymentOut]:
        """Purchases newest first, `limit` per page (at most 100): what was paid, the grant
        it funded, its Stripe objects and what refunds covered."""
        self._client._resolve_account_now(account_id)
        calls.check_limit(limit)
        client = self._client

        def fetch(cursor: str | None) -> Page[PaymentOut]:
            account = client._account(account_id)
            return Page.of(client._send(calls.list_payments(account, limit, cursor)))

        return Pager(fetch)
