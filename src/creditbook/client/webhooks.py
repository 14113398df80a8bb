"""Receiving creditbook's webhooks: check a delivery's signature and read its event.

    from creditbook.client import webhooks

    event = webhooks.verify(request_body, request_headers, secret)
    if event.type == "balance.low":
        ...

Deliveries are signed per the Standard Webhooks specification (`webhook-id`,
`webhook-timestamp`, `webhook-signature`); the signature is checked by the
`standardwebhooks` package, and a delivery older or newer than five minutes is refused, so
a captured request cannot be replayed later. Amounts in the event's `data` are exact
`Decimal`s, as the API sends them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import simplejson
from standardwebhooks.webhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError as _Refused

from creditbook.wire.events import EventOut


class WebhookVerificationError(Exception):
    """The delivery is not from creditbook (signature, headers or timestamp are wrong)."""


def verify(body: bytes | str, headers: Mapping[str, str], secret: str | Sequence[str]) -> EventOut:
    """The event a delivery carries, once its signature checks out against `secret` (or one
    of several secrets, e.g. the old and the new one while a secret is rotated).

    `body` must be the raw request body exactly as received; `headers` the request's
    headers (any case). Raises WebhookVerificationError otherwise.
    """
    secrets = [secret] if isinstance(secret, str) else list(secret)
    if not secrets:
        raise WebhookVerificationError("no secret to verify the delivery with")
    failure = "no matching signature"
    for candidate in secrets:
        try:
            Webhook(candidate).verify(body, dict(headers), json_parse=False)
        except _Refused as error:
            failure = str(error)
            continue
        except Exception as error:  # a malformed secret
            raise WebhookVerificationError(f"unusable secret: {error}") from None
        data = simplejson.loads(body, use_decimal=True)
        return EventOut.model_validate(data)
    raise WebhookVerificationError(failure)
