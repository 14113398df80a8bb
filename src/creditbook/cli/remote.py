"""Remote mode: commands call a creditbook server through the Python SDK."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

import httpx
import pydantic

from creditbook.cli.backend import PAGE_SIZE, Json, TransactionFilter
from creditbook.cli.errors import CliError, describe, usage
from creditbook.cli.output import as_json, plain
from creditbook.cli.target import Target
from creditbook.client import Client, Pager
from creditbook.client.errors import APIConnectionError, CreditbookAPIError
from creditbook.client.models import TransactionOut
from creditbook.domain.errors import InvariantError
from creditbook.wire.accounts import AccountCreate
from creditbook.wire.alerts import AlertsBody
from creditbook.wire.charges import ChargeCreate
from creditbook.wire.grants import GrantCreate
from creditbook.wire.keys import KeyCreate
from creditbook.wire.payments import AutoRechargeBody, CheckoutBody, CreditPackBody
from creditbook.wire.plans import PlanBody
from creditbook.wire.rate_cards import RateCardBody

T = TypeVar("T")
# The CLI waits this long for one answer; the SDK retries connection errors and 5xx.
TIMEOUT_S = 60.0
# Tests set this to talk to an in-process app; None: real HTTP.
TRANSPORT: httpx.BaseTransport | None = None


def _body(model: Any) -> dict[str, Any]:
    """A request model as keyword arguments: top-level None left out (the server's default
    is the same), nested values kept as they are (`rollover.expires_after_periods: null`
    means never)."""
    return {key: value for key, value in model.model_dump().items() if value is not None}


def call(operation: Callable[[], T]) -> T:
    """Run one SDK call; its failures become CliErrors with the server's code."""
    try:
        return operation()
    except APIConnectionError as error:
        raise CliError("connection_error", error.message) from None
    except CreditbookAPIError as error:
        # A body without a code (the lobstr-shaped 404 of a run's credits): its status's.
        code = error.code or error.default_code or "error"
        suffix = f" (request {error.request_id})" if error.request_id else ""
        raise CliError(code, f"{error.message}{suffix}") from None
    except pydantic.ValidationError as error:
        # The server's answer is not what this version reads: not the caller's mistake.
        raise CliError("invalid_response", f"the server's answer: {describe(error)}") from None
    except ValueError as error:
        raise usage(str(error)) from None


@dataclass
class RemoteBackend:
    """The Backend over the SDK's `Client` (see `creditbook.cli.backend`)."""

    client: Client
    mode: str = "remote"

    @classmethod
    def connect(cls, target: Target) -> RemoteBackend:
        if target.base_url is None:
            raise InvariantError("a remote target without a server URL")
        client = Client(
            api_key=target.api_key,
            base_url=target.base_url,
            account_id=target.account,
            timeout=TIMEOUT_S,
            transport=TRANSPORT,
        )
        return cls(client)

    def close(self) -> None:
        self.client.close()

    def own_account(self) -> str | None:
        return call(lambda: self.client.keys.current()).account_id

    # -- pricing ----------------------------------------------------------------------------

    def list_plans(self) -> list[Json]:
        return call(lambda: [plain(plan) for plan in self.client.plans.list()])

    def put_plan(self, plan_id: str, body: PlanBody) -> Json:
        return as_json(call(lambda: self.client.plans.put(plan_id, **_body(body))))

    def list_rate_cards(self) -> list[Json]:
        return call(lambda: [plain(card) for card in self.client.rate_cards.list()])

    def put_rate_card(self, rate_card_id: str, body: RateCardBody) -> Json:
        return as_json(call(lambda: self.client.rate_cards.put(rate_card_id, **_body(body))))

    # -- accounts and keys ------------------------------------------------------------------

    def list_accounts(self) -> Iterator[Json]:
        pager = call(lambda: self.client.accounts.list(limit=PAGE_SIZE))
        pages = pager.pages()
        while True:
            page = call(lambda: next(pages, None))
            if page is None:
                return
            yield from (plain(account) for account in page.data)

    def create_account(self, body: AccountCreate, idempotency_key: str | None) -> Json:
        return as_json(
            call(
                lambda: self.client.accounts.create(**_body(body), idempotency_key=idempotency_key)
            )
        )

    def get_account(self, account_id: str) -> Json:
        return as_json(call(lambda: self.client.accounts.get(account_id)))

    def create_key(self, account_id: str | None, body: KeyCreate) -> Json:
        if account_id is None:
            raise usage(
                "operator keys are issued on the database only (local mode): "
                "`creditbook keys create --operator --database-url URL`"
            )
        return as_json(
            call(
                lambda: self.client.keys.create(
                    account_id, scope=body.scope, user_id=body.user_id, name=body.name
                )
            )
        )

    def revoke_key(self, key_id: str) -> Json:
        return as_json(call(lambda: self.client.keys.revoke(key_id)))

    # -- credits ----------------------------------------------------------------------------

    def grant(self, account_id: str, body: GrantCreate, idempotency_key: str | None) -> Json:
        return as_json(
            call(
                lambda: self.client.grants.create(
                    account_id, **_body(body), idempotency_key=idempotency_key
                )
            )
        )

    def charge(self, account_id: str, body: ChargeCreate, idempotency_key: str | None) -> Json:
        return as_json(
            call(
                lambda: self.client.charges.create(
                    account_id, **_body(body), idempotency_key=idempotency_key
                )
            )
        )

    # -- runs and reports -------------------------------------------------------------------

    def list_runs(self, account_id: str, limit: int, cursor: str | None) -> Json:
        pager = call(lambda: self.client.runs.list(account_id, limit=limit))
        # The SDK's pager starts at the first page; a page from a given cursor is its fetch.
        page = call(lambda: pager.first_page() if cursor is None else pager._fetch(cursor))
        return {
            "data": [plain(item) for item in page.data],
            "has_more": page.has_more,
            "next_cursor": page.next_cursor,
        }

    def list_events(
        self, account_id: str | None, types: tuple[str, ...], limit: int, cursor: str | None
    ) -> Json:
        pager = call(
            lambda: self.client.events.list(account_id=account_id, types=types, limit=limit)
        )
        page = call(lambda: pager.first_page() if cursor is None else pager._fetch(cursor))
        return {
            "data": [plain(item) for item in page.data],
            "has_more": page.has_more,
            "next_cursor": page.next_cursor,
        }

    def get_alerts(self, account_id: str) -> Json:
        return as_json(call(lambda: self.client.alerts.get(account_id)))

    def put_alerts(self, account_id: str, body: AlertsBody) -> Json:
        rules = body.model_dump(mode="json", exclude_none=True).get("rules")
        return as_json(call(lambda: self.client.alerts.put(account_id, rules=rules)))

    def get_run(self, run_id: str) -> Json:
        return as_json(call(lambda: self.client.runs.get(run_id)))

    def run_credits(self, run_id: str) -> Json:
        return as_json(call(lambda: self.client.runs.credits(run_id)))

    def balance(self, account_id: str, at: datetime | None) -> Json:
        return as_json(call(lambda: self.client.credits.balance(account_id, at=at)))

    def _transaction_pager(
        self, account_id: str, query: TransactionFilter, limit: int
    ) -> Pager[TransactionOut]:
        return call(
            lambda: self.client.credits.transactions(
                account_id,
                type=list(query.types) or None,
                since=query.since,
                until=query.until,
                limit=limit,
            )
        )

    def transaction_count(self, account_id: str, query: TransactionFilter) -> int | None:
        """How many transactions `query` matches, as the server's first page tells."""
        return call(self._transaction_pager(account_id, query, 1).first_page).total

    def transactions(self, account_id: str, query: TransactionFilter) -> Json:
        pager = self._transaction_pager(account_id, query, query.limit)
        # The SDK's pager starts at the first page; a page from a given cursor is its fetch.
        page = call(
            lambda: pager.first_page() if query.cursor is None else pager._fetch(query.cursor)
        )
        return {
            "data": [plain(item) for item in page.data],
            "has_more": page.has_more,
            "next_cursor": page.next_cursor,
        }

    def stats(self, account_id: str, start: date, end: date, group_by: str) -> Json:
        return as_json(
            call(
                lambda: self.client.credits.stats(
                    from_=start,
                    to=end,
                    account_id=account_id,
                    group_by=group_by,  # type: ignore[arg-type]
                )
            )
        )

    def verify(self, account_id: str | None) -> Json:
        return as_json(call(lambda: self.client.ledger.verify(account_id=account_id)))

    # -- payments ---------------------------------------------------------------------------

    def list_packs(self) -> list[Json]:
        return call(lambda: [plain(pack) for pack in self.client.credit_packs.list()])

    def put_pack(self, pack_id: str, body: CreditPackBody) -> Json:
        return as_json(call(lambda: self.client.credit_packs.put(pack_id, **_body(body))))

    def checkout(self, account_id: str, body: CheckoutBody, idempotency_key: str | None) -> Json:
        fields = _body(body)
        pack_id = fields.pop("pack_id")
        try:
            session = call(
                lambda: self.client.checkout_sessions.create(
                    account_id, pack_id, **fields, idempotency_key=idempotency_key
                )
            )
        except CliError as error:
            if error.code != "payments_not_configured":
                raise
            # The setting is missing on the server, not in this shell: say where.
            raise CliError(
                error.code,
                f"the server at {self.client.base_url} does not sell credits: {error.message}",
            ) from None
        return as_json(session)

    def get_auto_recharge(self, account_id: str) -> Json:
        return as_json(call(lambda: self.client.auto_recharge.get(account_id)))

    def set_auto_recharge(self, account_id: str, body: AutoRechargeBody | None) -> Json:
        if body is None:
            return as_json(call(lambda: self.client.auto_recharge.remove(account_id)))
        return as_json(call(lambda: self.client.auto_recharge.set(account_id, **_body(body))))

    def list_payments(self, account_id: str, limit: int, cursor: str | None) -> Json:
        pager = call(lambda: self.client.payments.list(account_id, limit=limit))
        page = call(lambda: pager.first_page() if cursor is None else pager._fetch(cursor))
        return {
            "data": [plain(item) for item in page.data],
            "has_more": page.has_more,
            "next_cursor": page.next_cursor,
        }
