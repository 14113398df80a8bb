"""`Ledger.payments`: selling credits, as one façade over the payment operations.

ledger = Ledger.open(url, stripe=StripeSettings(api_key="sk_test_…", webhook_secret="whsec_…"))
ledger.payments.put_pack(CreditPack("starter", Credits.of(1000), {"usd": 900}))
session = ledger.payments.checkout(CheckoutRequest(account_id, "starter", ok_url, back_url))
"""

from __future__ import annotations

from datetime import date

from creditbook.domain.payments import AutoRecharge, CreditPack
from creditbook.engine.context import Context
from creditbook.engine.payments import checkout, fulfilment, packs, purchases, recharge
from creditbook.engine.payments.checkout import CheckoutRequest
from creditbook.engine.payments.results import (
    AutoRechargeState,
    CheckoutSession,
    PaymentPage,
    Revenue,
    StripeOutcome,
)
from creditbook.engine.payments.stripe_api import StripeGateway, StripeSettings


class Payments:
    """Credit packs, Checkout, Stripe's notifications, auto-recharge, purchases."""

    def __init__(self, context: Context, settings: StripeSettings | None) -> None:
        self._context = context
        self.gateway = StripeGateway(settings or StripeSettings())

    # -- packs ------------------------------------------------------------------------------

    def put_pack(self, pack: CreditPack) -> CreditPack:
        """Create or replace a credit pack."""
        return packs.put_pack(self._context, pack)

    def get_pack(self, pack_id: str) -> CreditPack:
        return packs.get_pack(self._context, pack_id)

    def list_packs(self) -> list[CreditPack]:
        return packs.list_packs(self._context)

    # -- buying -----------------------------------------------------------------------------

    def checkout(self, request: CheckoutRequest) -> CheckoutSession:
        """A Stripe Checkout Session selling packs to the account."""
        return checkout.create_checkout(self._context, self.gateway, request)

    def handle_stripe(self, payload: bytes, signature: str | None) -> StripeOutcome:
        """Verify and apply a Stripe notification (once, whatever its repeats)."""
        return fulfilment.handle(self._context, self.gateway, payload, signature)

    def purchases(
        self, account_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> PaymentPage:
        """The account's purchases, newest first."""
        return purchases.purchases(self._context, account_id, limit, cursor)

    def revenue(self, account_id: str, start: date, end: date) -> list[Revenue]:
        """Per currency, what the account's purchases on its local days [start, end] paid
        (the same figures as its stats' `purchases`)."""
        return purchases.revenue(self._context, account_id, start, end)

    # -- auto-recharge ----------------------------------------------------------------------

    def set_auto_recharge(
        self, account_id: str, settings: AutoRecharge | None
    ) -> AutoRechargeState:
        return recharge.set_auto_recharge(self._context, account_id, settings)

    def get_auto_recharge(self, account_id: str) -> AutoRechargeState:
        return recharge.get_auto_recharge(self._context, account_id)

    def process_recharges(self, limit: int = 20) -> int:
        """Ask Stripe for the payments of due recharges (the dispatcher does this every
        round when a Stripe secret key is set)."""
        if not self.gateway.can_charge:
            return 0
        return recharge.process_due(self._context, self.gateway, limit)
