"""Stripe, through the official `stripe` package: the only module that talks to it.

Outbound calls (customers, Checkout Sessions, off-session PaymentIntents, a customer's
cards) go through one `StripeClient`, each with an idempotency key derived from what it is
for, so a retried call never does a thing twice. Inbound notifications are verified by
`stripe.Webhook.construct_event` (the `Stripe-Signature` header, HMAC-SHA256 over the
timestamp and the body, at most `tolerance_s` old).

`stripe` is imported on first use: most processes of a ledger never sell anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from creditbook.domain.errors import (
    PaymentProviderError,
    PaymentsNotConfiguredError,
    SignatureError,
)

if TYPE_CHECKING:
    import stripe

DEFAULT_TIMEOUT_S = 20.0
DEFAULT_TOLERANCE_S = 300
# Stripe retries a call that failed on the network, with the same idempotency key.
NETWORK_RETRIES = 2


@dataclass(frozen=True, slots=True)
class StripeSettings:
    """How to reach Stripe.

    Attributes:
        api_key: the secret key (`sk_test_…` or `sk_live_…`); None: no outbound calls.
        webhook_secret: the signing secret of the webhook endpoint (`whsec_…`); None: the
            webhook route answers 503.
        api_base: another API address (a local Stripe stand-in); None: Stripe's own.
        timeout_s: how long one call may take.
        tolerance_s: how old a signed notification may be.
    """

    api_key: str | None = field(default=None, repr=False)
    webhook_secret: str | None = field(default=None, repr=False)
    api_base: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    tolerance_s: int = DEFAULT_TOLERANCE_S


class StripeGateway:
    """The calls creditbook makes to Stripe, with Stripe's errors turned into ours."""

    def __init__(self, settings: StripeSettings) -> None:
        self.settings = settings
        self._client: stripe.StripeClient | None = None

    @property
    def can_charge(self) -> bool:
        return self.settings.api_key is not None

    def client(self) -> stripe.StripeClient:
        if self.settings.api_key is None:
            raise PaymentsNotConfiguredError(
                "payments need a Stripe secret key: set CREDITBOOK_STRIPE_API_KEY"
            )
        if self._client is None:
            import stripe

            base = {"api": self.settings.api_base} if self.settings.api_base else None
            self._client = stripe.StripeClient(
                self.settings.api_key,
                base_addresses=base,  # type: ignore[arg-type]
                http_client=stripe.RequestsClient(timeout=self.settings.timeout_s),
                max_network_retries=NETWORK_RETRIES,
            )
        return self._client

    # -- outbound -------------------------------------------------------------------------

    def create_customer(self, account_id: str, name: str) -> str:
        """A customer for the account (the same one for every call about the account)."""
        customer = self._call(
            lambda client: client.v1.customers.create(
                params={"name": name, "metadata": {"creditbook_account_id": account_id}},
                options={"idempotency_key": f"creditbook-customer-{account_id}"},
            )
        )
        return str(customer.id)

    def create_checkout_session(self, params: dict[str, Any], idempotency_key: str) -> Any:
        return self._call(
            lambda client: client.v1.checkout.sessions.create(
                params=params,
                options={"idempotency_key": idempotency_key},
            )
        )

    def create_payment_intent(self, params: dict[str, Any], idempotency_key: str) -> Any:
        """An off-session payment. A declined card raises `CardDeclined`."""
        import stripe

        try:
            return self.client().v1.payment_intents.create(
                params=params,  # type: ignore[arg-type]  # a plain dict of Stripe's parameters
                options={"idempotency_key": idempotency_key},
            )
        except stripe.CardError as error:
            raise CardDeclined(_message(error), _intent_id(error)) from error
        except stripe.StripeError as error:
            raise _refused(error, "the payment") from error

    def payment_intent(self, payment_intent_id: str) -> dict[str, Any]:
        """A PaymentIntent as a dict (empty when Stripe has none of that id)."""
        import stripe

        try:
            intent = self.client().v1.payment_intents.retrieve(payment_intent_id)
        except stripe.InvalidRequestError as error:
            if error.code == "resource_missing":
                return {}
            raise _refused(error) from error
        except stripe.StripeError as error:
            raise _refused(error) from error
        found: dict[str, Any] = intent.to_dict()
        return found

    def newest_card(self, customer_id: str) -> str | None:
        """The customer's most recently saved card (None: no card)."""
        cards = self._call(
            lambda client: client.v1.customers.payment_methods.list(
                customer_id, params={"limit": 1}
            )
        )
        return str(cards.data[0].id) if cards.data else None

    def _call(self, call: Any) -> Any:
        import stripe

        try:
            return call(self.client())
        except stripe.StripeError as error:
            raise _refused(error) from error

    # -- inbound --------------------------------------------------------------------------

    def verify(self, payload: bytes, signature: str | None) -> dict[str, Any]:
        """The notification `payload` as a dict, once its signature verified."""
        if self.settings.webhook_secret is None:
            raise PaymentsNotConfiguredError(
                "Stripe notifications need the endpoint's signing secret: "
                "set CREDITBOOK_STRIPE_WEBHOOK_SECRET"
            )
        import stripe

        if not signature:
            raise SignatureError("no Stripe-Signature header")
        try:
            event = stripe.Webhook.construct_event(
                payload,
                signature,
                self.settings.webhook_secret,
                tolerance=self.settings.tolerance_s,
            )
        except stripe.SignatureVerificationError as error:
            raise SignatureError(
                f"the Stripe signature does not verify: {error.user_message or error}"
            ) from error
        except ValueError as error:
            raise SignatureError("the notification is not a JSON object") from error
        body: dict[str, Any] = event.to_dict()
        return body


class CardDeclined(Exception):
    """Stripe declined an off-session payment (the card, or authentication it needs)."""

    def __init__(self, message: str, payment_intent_id: str | None) -> None:
        super().__init__(message)
        self.message = message
        self.payment_intent_id = payment_intent_id


def _refused(error: Any, what: str = "the request") -> PaymentProviderError:
    return PaymentProviderError(f"Stripe refused {what}: {_message(error)}")


def _message(error: Any) -> str:
    return str(getattr(error, "user_message", None) or error)[:300]


def _intent_id(error: Any) -> str | None:
    body = getattr(error, "json_body", None) or {}
    intent = (body.get("error") or {}).get("payment_intent") or {}
    found = intent.get("id") if isinstance(intent, dict) else None
    return str(found) if found else None
