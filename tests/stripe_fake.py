"""A local stand-in for Stripe's API, and Stripe's way of signing notifications.

`FakeStripe` is a real HTTP server on a loopback port that the `stripe` package is pointed at
(`api_base`). It records every request (method, path, idempotency key, form parameters
flattened as Stripe encodes them: `metadata[creditbook_account_id]`) and answers with
Stripe-shaped objects. Like Stripe, it answers a repeated idempotency key with the first
answer. `decline` makes PaymentIntents fail as a declined card does (402 `card_error`).

`signed(event, secret)` returns the body and `Stripe-Signature` header exactly as Stripe
computes them: `t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" under the secret>`.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

WEBHOOK_SECRET = "whsec_test_" + "c2VjcmV0X2Zvcl90ZXN0cw"
API_KEY = "sk_test_creditbook"


@dataclass
class Call:
    method: str
    path: str
    idempotency_key: str | None
    params: dict[str, str]
    authorization: str


@dataclass
class FakeStripe:
    decline: bool = False
    intent_status: str = "succeeded"
    calls: list[Call] = field(default_factory=list)
    port: int = 0
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Stripe's clock (unix seconds), for the times it answers with.
    now: Any = time.time
    _answers: dict[tuple[str, str], tuple[int, dict[str, Any]]] = field(default_factory=dict)
    _numbers: Any = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def calls_to(self, method: str, path: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method and c.path == path]

    def _id(self, prefix: str) -> str:
        """Ids numbered in creation order, so documented answers can show them as they are."""
        return f"{prefix}_test_{next(self._numbers):04d}"

    def answer(self, call: Call) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.calls.append(call)
            key = (call.path, call.idempotency_key or "")
            if call.idempotency_key and key in self._answers:
                return self._answers[key]
            status, body = self._make(call)
            if status == 200 and "id" in body:
                self.objects[body["id"]] = body
            if call.idempotency_key:
                self._answers[key] = (status, body)
            return status, body

    def _make(self, call: Call) -> tuple[int, dict[str, Any]]:
        p = call.params
        metadata = {k[9:-1]: v for k, v in p.items() if k.startswith("metadata[")}
        if call.path == "/v1/customers" and call.method == "POST":
            return 200, {"id": self._id("cus"), "object": "customer", "name": p.get("name")}
        if call.path == "/v1/checkout/sessions":
            session_id = self._id("cs")
            quantity = int(p["line_items[0][quantity]"])
            unit = int(p["line_items[0][price_data][unit_amount]"])
            return 200, {
                "id": session_id,
                "object": "checkout.session",
                "url": f"https://checkout.stripe.com/c/pay/{session_id}",
                "mode": p.get("mode"),
                "customer": p.get("customer"),
                "currency": p["line_items[0][price_data][currency]"],
                "amount_total": unit * quantity,
                "metadata": metadata,
                "payment_status": "unpaid",
                "status": "open",
                "expires_at": int(self.now()) + 86400,
            }
        if call.path == "/v1/payment_intents":
            intent = {
                "id": self._id("pi"),
                "object": "payment_intent",
                "amount": int(p["amount"]),
                "amount_received": 0 if self.decline else int(p["amount"]),
                "currency": p["currency"],
                "customer": p.get("customer"),
                "payment_method": p.get("payment_method"),
                "metadata": metadata,
                "status": "requires_payment_method" if self.decline else self.intent_status,
            }
            if self.decline:
                return 402, {
                    "error": {
                        "type": "card_error",
                        "code": "card_declined",
                        "decline_code": "insufficient_funds",
                        "message": "Your card has insufficient funds.",
                        "payment_intent": intent,
                    }
                }
            return 200, intent
        if call.path.startswith("/v1/payment_intents/") and call.method == "GET":
            found = self.objects.get(call.path.rsplit("/", 1)[1])
            if found is not None:
                return 200, found
            return 404, {"error": {"type": "invalid_request_error", "code": "resource_missing"}}
        if call.path.endswith("/payment_methods") and call.method == "GET":
            return 200, {
                "object": "list",
                "url": call.path,
                "has_more": False,
                "data": [{"id": "pm_card_visa", "object": "payment_method", "type": "card"}],
            }
        return 404, {"error": {"type": "invalid_request_error", "message": "no such route"}}


def _handler(fake: FakeStripe) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            params = dict(parse_qsl(body or parts.query, keep_blank_values=True))
            status, answer = fake.answer(
                Call(
                    self.command,
                    parts.path,
                    self.headers.get("Idempotency-Key"),
                    params,
                    self.headers.get("Authorization", ""),
                )
            )
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Request-Id", "req_" + secrets.token_hex(6))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = _serve

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


def serve(fake: FakeStripe) -> Iterator[FakeStripe]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


def event(kind: str, obj: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    """A notification as Stripe sends it."""
    return {
        "id": event_id or f"evt_{secrets.token_hex(12)}",
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": kind,
        "data": {"object": obj},
    }


def signed(
    body: dict[str, Any], secret: str = WEBHOOK_SECRET, at: int | None = None
) -> tuple[bytes, str]:
    """The payload and its `Stripe-Signature` header, as Stripe makes them."""
    payload = json.dumps(body).encode()
    timestamp = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256)
    return payload, f"t={timestamp},v1={mac.hexdigest()}"


def paid_session(session: dict[str, Any], payment_intent: str | None = None) -> dict[str, Any]:
    """The Checkout Session Stripe reports once the customer paid."""
    return {
        **session,
        "status": "complete",
        "payment_status": "paid",
        "payment_intent": payment_intent or f"pi_test_{secrets.token_hex(8)}",
    }
