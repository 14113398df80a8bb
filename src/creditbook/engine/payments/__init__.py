"""Selling credits: credit packs, Stripe Checkout, fulfilment from Stripe's notifications
(once per Stripe object, in the transaction of the grant), refunds and disputes, and
auto-recharge on the saved card when a balance falls below a threshold."""
