# Generated from _resources.py by `python scripts/generate_async.py`: do not edit;
# edit _resources.py and run the script.
"""The async client's resources: those of `_resources.py`, awaited (see there)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from creditbook.client import _calls as calls
from creditbook.client._base import (
    DEFAULT_PAGE_LIMIT,
    AmountInput,
    DayInput,
    InstantInput,
    fields,
    issued_key,
)
from creditbook.client.pagination import AsyncPager, Page
from creditbook.wire import (
    AccountOut,
    AlertsOut,
    BalanceOut,
    BatchItem,
    BatchOut,
    ChargeOut,
    EstimateOut,
    EventOut,
    GrantOut,
    KeyOut,
    PlanOut,
    RateCardOut,
    RefundOut,
    RunCreditsOut,
    RunOut,
    StatsOut,
    TransactionOut,
    VerifyOut,
)

if TYPE_CHECKING:
    from creditbook.client._client import AsyncClient


class Resource:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client


class Plans(Resource):
    """`PUT /v1/plans/{plan_id}`, `GET /v1/plans` (operator key)."""

    async def put(
        self,
        plan_id: str,
        *,
        name: str | None = None,
        interval: Literal["monthly", "daily"] | None = None,
        allowances: Mapping[str, AmountInput] | None = None,
        rollover: Mapping[str, Any] | None = None,
        slots: int | None = None,
        prices: Mapping[str, AmountInput] | None = None,
        display_currency: str | None = None,
        overdraft: AmountInput | None = None,
        price_id: str | None = None,
        rate_limit_per_s: int | None = None,
        rate_limit_burst: int | None = None,
        alerts: Sequence[Mapping[str, Any]] | None = None,
    ) -> PlanOut:
        """Create or replace a plan; fields not given take the API's defaults."""
        return await self._client._send(calls.put_plan(plan_id, fields(locals(), "plan_id")))

    def list(self) -> AsyncPager[PlanOut]:
        """Every plan (one page)."""
        client = self._client

        async def fetch(_cursor: str | None) -> Page[PlanOut]:
            return Page.of(await client._send(calls.list_plans()))

        return AsyncPager(fetch)


class RateCards(Resource):
    """`PUT /v1/rate_cards/{rate_card_id}`, `GET /v1/rate_cards` (operator key)."""

    async def put(
        self,
        rate_card_id: str,
        *,
        credits_per_row: AmountInput,
        base_label: str | None = None,
        base_colors: Mapping[str, str] | None = None,
        pool: str | None = None,
        functions: Mapping[str, Mapping[str, Any]] | None = None,
        filters: Mapping[str, Mapping[str, Any]] | None = None,
        module: str | None = None,
        service: str | None = None,
    ) -> RateCardOut:
        """Create or replace a rate card (running runs keep the version they started with)."""
        body = fields(locals(), "rate_card_id")
        return await self._client._send(calls.put_rate_card(rate_card_id, body))

    def list(self) -> AsyncPager[RateCardOut]:
        """Every rate card's current version (one page)."""
        client = self._client

        async def fetch(_cursor: str | None) -> Page[RateCardOut]:
            return Page.of(await client._send(calls.list_rate_cards()))

        return AsyncPager(fetch)


class Accounts(Resource):
    """Accounts: open, list, read, update."""

    async def create(
        self,
        *,
        plan_id: str,
        account_id: str | None = None,
        name: str | None = None,
        timezone: str | None = None,
        billing_anchor_at: InstantInput | None = None,
        metadata: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> AccountOut:
        """Open an account on a plan; its first period's allowance is granted at once."""
        body = fields(locals(), "idempotency_key")
        return await self._client._send(calls.create_account(body, idempotency_key))

    async def get(self, account_id: str | None = None) -> AccountOut:
        """An account (the client's default account when none is named)."""
        account = await self._client._account(account_id)
        return await self._client._send(calls.get_account(account))

    async def update(
        self,
        account_id: str,
        *,
        name: str | None = None,
        plan_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        has_unpaid_bill: bool | None = None,
    ) -> AccountOut:
        """Rename, change metadata or the unpaid-bill flag, or move to another plan now."""
        body = fields(locals(), "account_id")
        return await self._client._send(calls.update_account(account_id, body))

    def list(self, *, limit: int = DEFAULT_PAGE_LIMIT) -> AsyncPager[AccountOut]:
        """Every account by id, `limit` per page (at most 100)."""
        calls.check_limit(limit)
        client = self._client

        async def fetch(cursor: str | None) -> Page[AccountOut]:
            return Page.of(await client._send(calls.list_accounts(limit, cursor)))

        return AsyncPager(fetch)


class Keys(Resource):
    """API keys (operator key): issue and revoke."""

    async def create(
        self,
        account_id: str,
        *,
        scope: Literal["read", "write"] = "read",
        user_id: str | None = None,
        name: str | None = None,
        idempotency_key: str | None = None,
    ) -> KeyOut:
        """Issue an account key; `secret` is in this answer only.

        Raises KeySecretLostError when the answer with the secret was lost and the retry
        got the server's replay, which has none: revoke `error.key_id`, issue another.
        """
        body = fields(locals(), "account_id", "idempotency_key")
        call = calls.create_key(account_id, body, idempotency_key)
        response = await self._client._request(call)
        return issued_key(call.parse(response), response)

    async def current(self) -> KeyOut:
        """The key this client signs with (no secret): its account, scope and user."""
        return await self._client._send(calls.current_key())

    async def revoke(self, key_id: str) -> KeyOut:
        """Revoke a key now (revoking it again answers 409 `invalid_state`)."""
        return await self._client._send(calls.revoke_key(key_id))


class Grants(Resource):
    """Credits given to an account (operator key)."""

    async def create(
        self,
        account_id: str,
        *,
        amount: AmountInput,
        source: Literal["bonus", "top_up", "adjustment"] = "bonus",
        pool: str | None = None,
        priority: int | None = None,
        effective_at: InstantInput | None = None,
        expires_at: InstantInput | None = None,
        description: str | None = None,
        idempotency_key: str | None = None,
    ) -> GrantOut:
        """Give bonus, top-up or adjustment credits (a negative adjustment takes some)."""
        body = fields(locals(), "account_id", "idempotency_key")
        return await self._client._send(calls.create_grant(account_id, body, idempotency_key))


class Charges(Resource):
    """Spending credits: charges, batches, refunds, estimates."""

    async def create(
        self,
        account_id: str | None = None,
        *,
        amount: AmountInput | None = None,
        rate_card_id: str | None = None,
        function: str | None = None,
        quantity: int | None = None,
        pool: str | None = None,
        partial: bool | None = None,
        module: str | None = None,
        service: str | None = None,
        user_id: str | None = None,
        resource_id: str | None = None,
        resource_name: str | None = None,
        run_id: str | None = None,
        description: str | None = None,
        idempotency_key: str | None = None,
    ) -> ChargeOut:
        """Charge raw `amount`, or `rate_card_id` + `function` × `quantity`.

        Raises InsufficientCreditsError (nothing charged) unless `partial` takes what is
        available.
        """
        body = fields(locals(), "account_id", "idempotency_key")
        account = await self._client._account(account_id)
        return await self._client._send(calls.create_charge(account, body, idempotency_key))

    async def batch(
        self,
        items: Sequence[BatchItem | Mapping[str, Any]],
        *,
        idempotency_key: str | None = None,
    ) -> BatchOut:
        """Up to 1000 charges in one commit; each item succeeds or fails alone.

        Items are `BatchItem`s or dicts with `account_id` and the fields of `create`; items
        without their own `idempotency_key` get `<idempotency_key>:<index>` from the server.
        """
        return await self._client._send(calls.charge_batch(list(items), idempotency_key))

    async def refund(
        self,
        charge_id: str,
        *,
        amount: AmountInput | None = None,
        description: str | None = None,
        idempotency_key: str | None = None,
    ) -> RefundOut:
        """Reverse all of a charge, or `amount` of it (operator key)."""
        body = fields(locals(), "charge_id", "idempotency_key")
        return await self._client._send(calls.refund_charge(charge_id, body, idempotency_key))

    async def estimate(
        self,
        account_id: str | None = None,
        *,
        rate_card_id: str,
        rows: int,
        functions: Mapping[str, int] | None = None,
        success_rates_percent: Mapping[str, int] | None = None,
        active_filters: Sequence[str] | None = None,
        idempotency_key: str | None = None,
    ) -> EstimateOut:
        """Quote a job before it runs, and whether the account can afford it now."""
        body = fields(locals(), "account_id", "idempotency_key")
        account = await self._client._account(account_id)
        return await self._client._send(calls.create_estimate(account, body, idempotency_key))


class Runs(Resource):
    """Runs: start, report results, finish, read."""

    async def start(
        self,
        *,
        rate_card_id: str,
        account_id: str | None = None,
        slots: int | None = None,
        hold: AmountInput | None = None,
        hold_timeout_s: int | None = None,
        active_filters: Sequence[str] | None = None,
        user_id: str | None = None,
        resource_id: str | None = None,
        resource_name: str | None = None,
        idempotency_key: str | None = None,
    ) -> RunOut:
        """Start a run: take slots (ConflictError `no_free_slots`), optionally hold credits.

        `account_id` defaults to the client's; with neither, an account key starts a run
        on its own account (an operator key must name one).
        """
        body = fields(locals(), "idempotency_key")
        if account_id is None and self._client._config.account_id is not None:
            body["account_id"] = self._client._config.account_id
        return await self._client._send(calls.start_run(body, idempotency_key))

    async def report_results(
        self,
        run_id: str,
        *,
        rows_kept: int,
        rows_discarded: Mapping[str, int] | None = None,
        functions: Mapping[str, Mapping[str, int]] | None = None,
        idempotency_key: str | None = None,
    ) -> RunOut:
        """Bill results: kept rows, rows discarded per filter (never billed), and
        `{"function": {"attempts": n, "successes": m}}` (billed per success)."""
        body = fields(locals(), "run_id", "idempotency_key")
        return await self._client._send(calls.report_results(run_id, body, idempotency_key))

    async def finish(self, run_id: str, *, idempotency_key: str | None = None) -> RunOut:
        """Settle a run: release what its hold still holds and free its slots."""
        return await self._client._send(calls.finish_run(run_id, idempotency_key))

    async def get(self, run_id: str) -> RunOut:
        return await self._client._send(calls.get_run(run_id))

    async def credits(self, run_id: str) -> RunCreditsOut:
        """Where a run's credits went (the lobstr shape)."""
        return await self._client._send(calls.run_credits(run_id))

    def list(
        self, account_id: str | None = None, *, limit: int = DEFAULT_PAGE_LIMIT
    ) -> AsyncPager[RunOut]:
        """The account's runs, newest first, `limit` per page (at most 100): iterate for
        every run, or take `.page` for the latest."""
        self._client._resolve_account_now(account_id)
        calls.check_limit(limit)
        client = self._client

        async def fetch(cursor: str | None) -> Page[RunOut]:
            account = await client._account(account_id)
            return Page.of(await client._send(calls.list_runs(account, limit, cursor)))

        return AsyncPager(fetch)


class Events(Resource):
    """The event log: `GET /v1/events`, `GET /v1/events/{event_id}` (operator, or an
    account key for its own account's events)."""

    def list(
        self,
        *,
        account_id: str | None = None,
        types: Sequence[str] | None = None,
        limit: int = DEFAULT_PAGE_LIMIT,
    ) -> AsyncPager[EventOut]:
        """Events newest first, `limit` per page (at most 100), of one account or (operator)
        of all; `types` keeps only those types."""
        calls.check_limit(limit)
        client = self._client
        wanted = None if types is None else list(types)

        async def fetch(cursor: str | None) -> Page[EventOut]:
            return Page.of(await client._send(calls.list_events(account_id, wanted, limit, cursor)))

        return AsyncPager(fetch)

    async def get(self, event_id: str) -> EventOut:
        return await self._client._send(calls.get_event(event_id))


class Alerts(Resource):
    """An account's balance alerts: `PUT|GET /v1/accounts/{account_id}/alerts`."""

    async def put(
        self, account_id: str | None = None, *, rules: Sequence[Mapping[str, Any]] | None
    ) -> AlertsOut:
        """Set the account's own rules (`{"pool", "credits"}` or `{"pool", "percent"}`);
        None goes back to the plan's default alerts."""
        account = await self._client._account(account_id)
        body = {"rules": None if rules is None else [dict(rule) for rule in rules]}
        return await self._client._send(calls.put_alerts(account, body))

    async def get(self, account_id: str | None = None) -> AlertsOut:
        """The rules in force and each pool's state."""
        account = await self._client._account(account_id)
        return await self._client._send(calls.get_alerts(account))


class AccountCredits(Resource):
    """An account's credits: balance, history, stats (operator or the account's own key)."""

    async def balance(
        self, account_id: str | None = None, *, at: InstantInput | None = None
    ) -> BalanceOut:
        """Credits per pool now, or as they were at `at`."""
        account = await self._client._account(account_id)
        return await self._client._send(calls.balance(account, at))

    def transactions(
        self,
        account_id: str | None = None,
        *,
        type: str | Sequence[str] | None = None,
        since: InstantInput | None = None,
        until: InstantInput | None = None,
        limit: int = DEFAULT_PAGE_LIMIT,
    ) -> AsyncPager[TransactionOut]:
        """History newest first, filtered by `type` (one or several) and time; `limit` per
        page (at most 100)."""
        self._client._resolve_account_now(account_id)
        calls.check_limit(limit)
        types = [type] if isinstance(type, str) else None if type is None else [*type]
        client = self._client

        async def fetch(cursor: str | None) -> Page[TransactionOut]:
            account = await client._account(account_id)
            params: dict[str, Any] = {"limit": limit, "cursor": cursor, "type": types}
            params.update(since=since, until=until)
            return Page.of(await client._send(calls.transactions(account, params)))

        return AsyncPager(fetch)

    async def stats(
        self,
        period: Mapping[str, DayInput] | None = None,
        /,
        *,
        from_: DayInput | None = None,
        to: DayInput | None = None,
        account_id: str | None = None,
        group_by: Literal["day", "week", "month"] = "day",
    ) -> StatsOut:
        """Spend between two local dates, inclusive: `stats(from_=..., to=...)` or, as the
        catalogue page's client writes it, `stats({"from": ..., "to": ...})`. Without `to`
        the range ends today in the account's time zone (one more request, for the
        account); without `from_` it is the 30 days up to `to` — as `creditbook stats`."""
        start, end = calls.period(period, from_, to)
        account = await self._client._account(account_id)
        if end is None:
            found = await self._client._send(calls.get_account(account))
            end = calls.today_in(found.timezone)
        start = calls.first_day(start, end)
        return await self._client._send(calls.stats(account, start, end, group_by))


class LedgerResource(Resource):
    """The ledger as a whole (operator key)."""

    async def verify(self, *, account_id: str | None = None) -> VerifyOut:
        """Replay every entry (of one account, or all) and report any difference."""
        return await self._client._send(calls.verify_ledger(account_id))
