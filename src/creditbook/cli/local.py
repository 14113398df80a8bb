"""Local mode: commands call the `Ledger` on a database directly (no server, no key)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, func, or_, select

from creditbook.api.schemas import (
    AccountCreate,
    AccountOut,
    BalanceOut,
    ChargeCreate,
    ChargeOut,
    GrantCreate,
    GrantOut,
    KeyCreate,
    KeyOut,
    PlanBody,
    PlanOut,
    RateCardBody,
    RateCardOut,
    RunCreditsOut,
    RunOut,
    StatsOut,
    TransactionOut,
    VerifyOut,
    credits,
)
from creditbook.cli.backend import PAGE_SIZE, Json, TransactionFilter
from creditbook.cli.output import as_json, plain
from creditbook.domain.amounts import Credits
from creditbook.engine.keys import Scope
from creditbook.engine.ledger import Ledger
from creditbook.engine.requests import ChargeRequest
from creditbook.store import schema

# Entries are read this many at a time: an export holds one batch in memory.
ENTRIES_BATCH = 1000
ENTRY_FIELDS = (
    "account_id",
    "seq",
    "line",
    "transfer_id",
    "type",
    "pool",
    "created_at",
    "book",
    "grant_id",
    "hold_id",
    "amount",
)


@dataclass
class LocalBackend:
    """The Backend over a Ledger (see `creditbook.cli.backend`)."""

    ledger: Ledger
    mode: str = "local"

    @classmethod
    def open(cls, database_url: str) -> LocalBackend:
        return cls(Ledger.open(database_url))

    def close(self) -> None:
        self.ledger.close()

    # -- pricing ----------------------------------------------------------------------------

    def list_plans(self) -> list[Json]:
        return [plain(PlanOut.of(plan)) for plan in self.ledger.list_plans()]

    def put_plan(self, plan_id: str, body: PlanBody) -> Json:
        return as_json(PlanOut.of(self.ledger.put_plan(body.to_plan(plan_id))))

    def own_account(self) -> str | None:
        return None  # a database has no key of its own

    def list_rate_cards(self) -> list[Json]:
        return [plain(RateCardOut.of(card)) for card in self.ledger.list_rate_cards()]

    def put_rate_card(self, rate_card_id: str, body: RateCardBody) -> Json:
        return as_json(RateCardOut.of(self.ledger.put_rate_card(body.to_card(rate_card_id))))

    # -- accounts and keys ------------------------------------------------------------------

    def list_accounts(self) -> Iterator[Json]:
        after: str | None = None
        while True:
            page = self.ledger.list_accounts(limit=PAGE_SIZE, after=after)
            yield from (plain(AccountOut.of(account)) for account in page)
            if len(page) < PAGE_SIZE:
                return
            after = page[-1].account_id

    def create_account(self, body: AccountCreate, idempotency_key: str | None) -> Json:
        account = self.ledger.open_account(
            body.plan_id,
            account_id=body.account_id,
            name=body.name,
            timezone=body.timezone,
            billing_anchor_at=body.billing_anchor_at,
            metadata=body.metadata,
            idempotency_key=idempotency_key,
        )
        return as_json(AccountOut.of(account))

    def get_account(self, account_id: str) -> Json:
        return as_json(AccountOut.of(self.ledger.get_account(account_id)))

    def create_key(self, account_id: str | None, body: KeyCreate) -> Json:
        scope = Scope.OPERATOR if account_id is None else Scope(body.scope)
        issued = self.ledger.create_key(
            account_id, scope=scope, user_id=body.user_id, name=body.name
        )
        return as_json(KeyOut.issued(issued))

    def revoke_key(self, key_id: str) -> Json:
        return as_json(KeyOut.of(self.ledger.revoke_key(key_id)))

    # -- credits ----------------------------------------------------------------------------

    def grant(self, account_id: str, body: GrantCreate, idempotency_key: str | None) -> Json:
        grant = self.ledger.grant(
            account_id,
            credits(body.amount, "amount"),
            source=body.source,
            pool=body.pool,
            priority=body.priority,
            effective_at=body.effective_at,
            expires_at=body.expires_at,
            description=body.description,
            idempotency_key=idempotency_key,
        )
        return as_json(GrantOut.of(grant))

    def charge(self, account_id: str, body: ChargeCreate, idempotency_key: str | None) -> Json:
        request = ChargeRequest(
            account_id=account_id,
            amount=None if body.amount is None else credits(body.amount, "amount"),
            rate_card_id=body.rate_card_id,
            function=body.function,
            quantity=body.quantity,
            pool=body.pool,
            partial=body.partial,
            module=body.module,
            service=body.service,
            user_id=body.user_id,
            resource_id=body.resource_id,
            resource_name=body.resource_name,
            run_id=body.run_id,
            description=body.description,
            idempotency_key=idempotency_key,
        )
        return as_json(ChargeOut.of(self.ledger.charge(request)))

    # -- runs and reports -------------------------------------------------------------------

    def list_runs(self, account_id: str, limit: int) -> list[Json]:
        return [plain(RunOut.of(run)) for run in self.ledger.list_runs(account_id, limit=limit)]

    def get_run(self, run_id: str) -> Json:
        account_id = self.ledger.account_of_run(run_id)
        return as_json(RunOut.of(self.ledger.get_run(account_id, run_id)))

    def run_credits(self, run_id: str) -> Json:
        account_id = self.ledger.account_of_run(run_id)
        return as_json(RunCreditsOut.of(self.ledger.run_breakdown(account_id, run_id)))

    def balance(self, account_id: str, at: datetime | None) -> Json:
        return as_json(BalanceOut.of(self.ledger.balance(account_id, at=at)))

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
            "data": [plain(TransactionOut.of(t)) for t in page.data],
            "has_more": page.has_more,
            "next_cursor": page.next_cursor,
        }

    def transaction_count(self, account_id: str, query: TransactionFilter) -> int:
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
        report = self.ledger.verify(account_id)
        return as_json(
            VerifyOut(
                ok=report.ok,
                differences=list(report.differences),
                accounts=report.accounts,
                transfers=report.transfers,
                entries=report.entries,
            )
        )

    # -- local only -------------------------------------------------------------------------

    def tick(self) -> int:
        return self.ledger.tick()

    def entry_count(self, account_id: str | None) -> int:
        entries = schema.entries.c
        statement = select(func.count()).select_from(schema.entries)
        if account_id is not None:
            self.ledger.get_account(account_id)  # not_found for an unknown account
            statement = statement.where(entries.account_id == account_id)
        with self.ledger.engine.connect() as connection:
            return int(connection.execute(statement).scalar_one())

    def entries(self, account_id: str | None) -> Iterator[Json]:
        """Every ledger entry with its transfer's type and time, in (account, seq, line)
        order, read in keyset batches so that memory stays bounded."""
        entries, transfers = schema.entries.c, schema.transfers.c
        base = (
            select(
                entries.account_id,
                entries.seq,
                entries.line,
                transfers.transfer_id,
                transfers.type,
                transfers.pool,
                transfers.created_at,
                entries.book,
                entries.grant_id,
                entries.hold_id,
                entries.amount,
            )
            .join(
                schema.transfers,
                and_(transfers.account_id == entries.account_id, transfers.seq == entries.seq),
            )
            .order_by(entries.account_id, entries.seq, entries.line)
            .limit(ENTRIES_BATCH)
        )
        if account_id is not None:
            self.ledger.get_account(account_id)
            base = base.where(entries.account_id == account_id)
        last: tuple[Any, ...] | None = None
        while True:
            statement = base
            if last is not None:
                statement = statement.where(_after(last))
            with self.ledger.engine.connect() as connection:
                rows = connection.execute(statement).all()
            for row in rows:
                yield _entry(row)
            if len(rows) < ENTRIES_BATCH:
                return
            last = (rows[-1].account_id, rows[-1].seq, rows[-1].line)


def _after(last: tuple[Any, ...]) -> Any:
    entries = schema.entries.c
    account_id, seq, line = last
    # Spelled out rather than a row-value comparison, which every backend plans well.
    return or_(
        entries.account_id > account_id,
        and_(entries.account_id == account_id, entries.seq > seq),
        and_(entries.account_id == account_id, entries.seq == seq, entries.line > line),
    )


def _entry(row: Any) -> Json:
    values = dict(zip(ENTRY_FIELDS, row, strict=True))
    values["amount"] = Credits(int(values["amount"])).to_decimal()
    return as_json(values)
