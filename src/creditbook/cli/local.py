"""Local mode: commands call the `Ledger` on a database directly (no server, no key)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import date, datetime

from creditbook.cli.backend import PAGE_SIZE, Json, TransactionFilter
from creditbook.cli.output import as_json, plain
from creditbook.engine.ledger import Ledger
from creditbook.engine.payments.checkout import CheckoutRequest
from creditbook.engine.results import Entry
from creditbook.wire.accounts import AccountCreate, AccountOut
from creditbook.wire.alerts import AlertsBody, AlertsOut
from creditbook.wire.balance import BalanceOut
from creditbook.wire.charges import ChargeCreate, ChargeOut
from creditbook.wire.events import EventOut
from creditbook.wire.grants import GrantCreate, GrantOut
from creditbook.wire.keys import KeyCreate, KeyOut
from creditbook.wire.payments import (
    AutoRechargeBody,
    AutoRechargeOut,
    CheckoutBody,
    CheckoutOut,
    CreditPackBody,
    CreditPackOut,
    PaymentOut,
)
from creditbook.wire.plans import PlanBody, PlanOut
from creditbook.wire.rate_cards import RateCardBody, RateCardOut
from creditbook.wire.runs import RunCreditsOut, RunOut
from creditbook.wire.stats import StatsOut
from creditbook.wire.transactions import TransactionOut
from creditbook.wire.verify import VerifyOut

# Entries are read this many at a time: an export holds one batch in memory.
ENTRIES_BATCH = 1000
ENTRY_FIELDS = tuple(field.name for field in fields(Entry))


@dataclass
class LocalBackend:
    """The Backend over a Ledger (see `creditbook.cli.backend`)."""

    ledger: Ledger
    mode: str = "local"

    @classmethod
    def open(cls, database_url: str, *, stripe: bool = False) -> LocalBackend:
        """The ledger at `database_url`; with `stripe`, set up to call Stripe as the server
        is (`CREDITBOOK_STRIPE_*`)."""
        if not stripe:
            return cls(Ledger.open(database_url))
        from creditbook.settings import Settings

        return cls(Ledger.open(database_url, stripe=Settings().stripe()))

    def close(self) -> None:
        self.ledger.close()

    # -- pricing ----------------------------------------------------------------------------

    def list_plans(self) -> list[Json]:
        return [plain(PlanOut.model_validate(plan)) for plan in self.ledger.list_plans()]

    def put_plan(self, plan_id: str, body: PlanBody) -> Json:
        return as_json(PlanOut.model_validate(self.ledger.put_plan(body.to_plan(plan_id))))

    def own_account(self) -> str | None:
        return None  # a database has no key of its own

    def list_rate_cards(self) -> list[Json]:
        return [plain(RateCardOut.model_validate(card)) for card in self.ledger.list_rate_cards()]

    def put_rate_card(self, rate_card_id: str, body: RateCardBody) -> Json:
        return as_json(
            RateCardOut.model_validate(self.ledger.put_rate_card(body.to_card(rate_card_id)))
        )

    # -- accounts and keys ------------------------------------------------------------------

    def list_accounts(self) -> Iterator[Json]:
        after: str | None = None
        while True:
            page = self.ledger.list_accounts(limit=PAGE_SIZE, after=after)
            yield from (plain(AccountOut.model_validate(account)) for account in page)
            if len(page) < PAGE_SIZE:
                return
            after = page[-1].account_id

    def create_account(self, body: AccountCreate, idempotency_key: str | None) -> Json:
        account = self.ledger.open_account(body.to_request(idempotency_key=idempotency_key))
        return as_json(AccountOut.model_validate(account))

    def get_account(self, account_id: str) -> Json:
        return as_json(AccountOut.model_validate(self.ledger.get_account(account_id)))

    def create_key(self, account_id: str | None, body: KeyCreate) -> Json:
        issued = self.ledger.create_key(body.to_request(account_id))
        return as_json(KeyOut.issued(issued))

    def revoke_key(self, key_id: str) -> Json:
        return as_json(KeyOut.model_validate(self.ledger.revoke_key(key_id)))

    # -- credits ----------------------------------------------------------------------------

    def grant(self, account_id: str, body: GrantCreate, idempotency_key: str | None) -> Json:
        grant = self.ledger.grant(body.to_request(account_id, idempotency_key=idempotency_key))
        return as_json(GrantOut.model_validate(grant))

    def charge(self, account_id: str, body: ChargeCreate, idempotency_key: str | None) -> Json:
        request = body.to_request(account_id, idempotency_key=idempotency_key)
        return as_json(ChargeOut.model_validate(self.ledger.charge(request)))

    # -- runs and reports -------------------------------------------------------------------

    def list_runs(self, account_id: str, limit: int, cursor: str | None) -> Json:
        page = self.ledger.runs(account_id, limit=limit, cursor=cursor)
        return {
            "data": [plain(RunOut.model_validate(run)) for run in page.data],
            "has_more": page.has_more,
            "next_cursor": page.next_cursor,
        }

    def list_events(
        self, account_id: str | None, types: tuple[str, ...], limit: int, cursor: str | None
    ) -> Json:
        page = self.ledger.events(account_id=account_id, types=types, limit=limit, cursor=cursor)
        return {
            "data": [plain(EventOut.model_validate(event.body())) for event in page.data],
            "has_more": page.has_more,
            "next_cursor": page.next_cursor,
        }

    def get_alerts(self, account_id: str) -> Json:
        return as_json(AlertsOut.model_validate(self.ledger.get_alerts(account_id)))

    def put_alerts(self, account_id: str, body: AlertsBody) -> Json:
        rules = None if body.rules is None else [rule.to_rule() for rule in body.rules]
        return as_json(AlertsOut.model_validate(self.ledger.set_alerts(account_id, rules)))

    def get_run(self, run_id: str) -> Json:
        account_id = self.ledger.account_of_run(run_id)
        return as_json(RunOut.model_validate(self.ledger.get_run(account_id, run_id)))

    def run_credits(self, run_id: str) -> Json:
        account_id = self.ledger.account_of_run(run_id)
        return as_json(RunCreditsOut.model_validate(self.ledger.run_breakdown(account_id, run_id)))

    def balance(self, account_id: str, at: datetime | None) -> Json:
        return as_json(BalanceOut.model_validate(self.ledger.balance(account_id, at=at)))

    def transactions(self, account_id: str, query: TransactionFilter) -> Json:
        page = self.ledger.transactions(
            account_id,
            limit=query.limit,
            cursor=query.cursor,
            types=list(query.types) or None,
            since=query.since,
            until=query.until,
        )
        return {
            "data": [plain(TransactionOut.model_validate(t)) for t in page.data],
            "has_more": page.has_more,
            "next_cursor": page.next_cursor,
        }

    def transaction_count(self, account_id: str, query: TransactionFilter) -> int | None:
        """How many transactions `query` matches (for a progress bar's total)."""
        page = self.ledger.transactions(
            account_id,
            limit=1,
            types=list(query.types) or None,
            since=query.since,
            until=query.until,
        )
        return page.total

    def stats(self, account_id: str, start: date, end: date, group_by: str) -> Json:
        result = self.ledger.stats(account_id, start, end, group_by=group_by)
        return as_json(StatsOut.of(result, group_by))

    def verify(self, account_id: str | None) -> Json:
        return as_json(VerifyOut.model_validate(self.ledger.verify(account_id)))

    # -- payments ---------------------------------------------------------------------------

    def list_packs(self) -> list[Json]:
        return [plain(CreditPackOut.model_validate(p)) for p in self.ledger.payments.list_packs()]

    def put_pack(self, pack_id: str, body: CreditPackBody) -> Json:
        pack = self.ledger.payments.put_pack(body.to_pack(pack_id))
        return as_json(CreditPackOut.model_validate(pack))

    def checkout(self, account_id: str, body: CheckoutBody, idempotency_key: str | None) -> Json:
        request = CheckoutRequest(
            account_id=account_id,
            pack_id=body.pack_id,
            success_url=body.success_url,
            cancel_url=body.cancel_url,
            quantity=body.quantity,
            currency=body.currency,
            idempotency_key=idempotency_key,
        )
        return as_json(CheckoutOut.model_validate(self.ledger.payments.checkout(request)))

    def get_auto_recharge(self, account_id: str) -> Json:
        return as_json(AutoRechargeOut.of(self.ledger.payments.get_auto_recharge(account_id)))

    def set_auto_recharge(self, account_id: str, body: AutoRechargeBody | None) -> Json:
        settings = None if body is None else body.to_settings()
        state = self.ledger.payments.set_auto_recharge(account_id, settings)
        return as_json(AutoRechargeOut.of(state))

    def list_payments(self, account_id: str, limit: int, cursor: str | None) -> Json:
        page = self.ledger.payments.purchases(account_id, limit=limit, cursor=cursor)
        return {
            "data": [plain(PaymentOut.model_validate(payment)) for payment in page.data],
            "has_more": page.has_more,
            "next_cursor": page.next_cursor,
        }

    # -- local only -------------------------------------------------------------------------

    def tick(self) -> int:
        return self.ledger.tick()

    def entry_count(self, account_id: str | None) -> int:
        return self.ledger.count_entries(account_id)

    def entries(self, account_id: str | None) -> Iterator[Json]:
        """Every ledger entry with its transfer's type and time, in (account, seq, line)
        order, read in batches so that memory stays bounded."""
        for entry in self.ledger.iter_entries(account_id, batch=ENTRIES_BATCH):
            yield as_json(entry)
