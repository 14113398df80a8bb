"""The Ledger: creditbook's engine as an importable library.

    from creditbook import Ledger
    ledger = Ledger.open("sqlite:///credits.db")

Every operation is one database transaction, takes an optional idempotency key scoped to
the account, and raises a `CreditbookError` subclass for expected failures (nothing is
written then). The Ledger is a façade: each method hands one request value
(`creditbook.domain.requests`) to the operation module that does the work
(`creditbook.engine.operations`). A write takes either that request value alone, or the
request's fields as arguments, positional and keyword, in the request's order.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection, Engine

from creditbook.domain.alerts import AlertRule
from creditbook.domain.grants import TransactionType
from creditbook.domain.plans import Plan
from creditbook.domain.rates import Estimate, RateCard
from creditbook.domain.requests import (
    OPERATOR_SCOPE,
    CaptureRequest,
    ChangePlanRequest,
    ChargeBatchRequest,
    ChargeRequest,
    CreateKeyRequest,
    EstimateRequest,
    FinishRunRequest,
    GrantRequest,
    HoldRequest,
    OpenAccountRequest,
    RefundRequest,
    ReleaseRequest,
    RunResultsRequest,
    StartRunRequest,
    UpdateAccountRequest,
)
from creditbook.domain.webhooks import CreateEndpointRequest, UpdateEndpointRequest
from creditbook.engine import keys, reports, sessions
from creditbook.engine.clock import Clock, SystemClock
from creditbook.engine.context import Context
from creditbook.engine.events.records import Event
from creditbook.engine.group_commit import (
    DEFAULT_MAX_SIZE,
    DEFAULT_MAX_WAIT_S,
    GroupCommitSettings,
    GroupWriter,
)
from creditbook.engine.key_cache import DEFAULT_TTL_S, KeyCache
from creditbook.engine.keys import ApiKey, IssuedKey
from creditbook.engine.operations import (
    accounts,
    alerts,
    charges,
    grants,
    holds,
    pricing,
    reads,
    refunds,
    runs,
    sweep,
)
from creditbook.engine.operations import keys as key_operations
from creditbook.engine.operations.alerts import Alerts
from creditbook.engine.payments.service import Payments
from creditbook.engine.payments.stripe_api import StripeSettings
from creditbook.engine.reports import events as event_reports
from creditbook.engine.reports.events import EventPage
from creditbook.engine.results import (
    Account,
    Balance,
    BatchItemResult,
    Charge,
    Entry,
    Grant,
    Hold,
    Refund,
    Run,
    RunBreakdown,
    RunPage,
    Stats,
    TransactionPage,
    VerifyReport,
)
from creditbook.engine.webhooks import endpoints as webhook_endpoints
from creditbook.engine.webhooks.results import (
    DeliveryPage,
    EndpointPage,
    WebhookDelivery,
    WebhookEndpoint,
)
from creditbook.store.database import DEFAULT_POOL_SIZE, make_engine, migrate

if TYPE_CHECKING:  # the dispatcher (httpx) is imported when one is made
    from creditbook.engine.webhooks.dispatcher import Dispatcher

R = TypeVar("R")
DEFAULT_EXPIRING_NOTICE_DAYS = 7.0


class _Omitted(enum.Enum):
    FIELDS = "fields"


# The default of a write's first argument: the request's fields all come as keywords.
FIELDS = _Omitted.FIELDS


def _build(kind: type[R], request: object, args: tuple[Any, ...], fields: dict[str, Any]) -> R:
    """The request value given alone, or one of `kind` built from the call's arguments."""
    if isinstance(request, kind):
        if args or fields:
            raise TypeError(f"give a {kind.__name__} or its fields as arguments, not both")
        return request
    construct: Callable[..., R] = kind
    if request is FIELDS:
        return construct(*args, **fields)
    return construct(request, *args, **fields)


class Ledger:
    """The credits ledger over one database."""

    def __init__(
        self,
        engine: Engine,
        clock: Clock | None = None,
        *,
        group_commit: bool = True,
        group_max_size: int = DEFAULT_MAX_SIZE,
        group_max_wait_s: float = DEFAULT_MAX_WAIT_S,
        key_cache_s: float = DEFAULT_TTL_S,
        expiring_notice_days: float = DEFAULT_EXPIRING_NOTICE_DAYS,
        webhooks_allow_private: bool = False,
        stripe: StripeSettings | None = None,
    ) -> None:
        """`group_commit` gathers writes made at once by several threads into one
        transaction (at most `group_max_size` writes, its first waiting at most
        `group_max_wait_s` for more); see `creditbook.engine.group_commit`.
        `authenticate` remembers a key for `key_cache_s` seconds (0: never), so a
        revocation by another process takes effect here within that time. A grant with
        credits left gets its `credits.expiring` event `expiring_notice_days` before it
        expires. `webhooks_allow_private` lets webhook endpoints use http and private
        addresses (see `creditbook.engine.webhooks.urls`). `stripe` says how to reach Stripe
        for `payments` (credit packs, Checkout, auto-recharge)."""
        self._context = Context(engine, clock or SystemClock())
        self._context.expiring_notice = timedelta(days=expiring_notice_days)
        self.webhooks_allow_private = webhooks_allow_private
        self.payments = Payments(self._context, stripe)
        self._keys = KeyCache(key_cache_s)
        settings = GroupCommitSettings(group_commit, group_max_size, group_max_wait_s)
        if settings.enabled:
            self._context.writer = GroupWriter(self._context, settings)

    @classmethod
    def open(
        cls,
        url: str,
        *,
        clock: Clock | None = None,
        upgrade: bool = True,
        group_commit: bool = True,
        group_max_size: int = DEFAULT_MAX_SIZE,
        group_max_wait_s: float = DEFAULT_MAX_WAIT_S,
        key_cache_s: float = DEFAULT_TTL_S,
        expiring_notice_days: float = DEFAULT_EXPIRING_NOTICE_DAYS,
        webhooks_allow_private: bool = False,
        stripe: StripeSettings | None = None,
        pool_size: int = DEFAULT_POOL_SIZE,
    ) -> Ledger:
        """Connect to `url` and bring its schema up to date, keeping up to `pool_size`
        connections (the other options: `Ledger`)."""
        engine = make_engine(url, pool_size=pool_size)
        if upgrade:
            migrate(engine)
        return cls(
            engine,
            clock,
            group_commit=group_commit,
            group_max_size=group_max_size,
            group_max_wait_s=group_max_wait_s,
            key_cache_s=key_cache_s,
            expiring_notice_days=expiring_notice_days,
            webhooks_allow_private=webhooks_allow_private,
            stripe=stripe,
        )

    @staticmethod
    def migrate(url: str) -> tuple[str | None, str | None]:
        """Create or upgrade the schema at `url`: its revisions before and after (before is
        None when the database had no schema)."""
        engine = make_engine(url)
        try:
            return migrate(engine)
        finally:
            engine.dispose()

    @property
    def engine(self) -> Engine:
        return self._context.engine

    @property
    def clock(self) -> Clock:
        return self._context.clock

    def _read(self, body: Callable[[Connection], R]) -> R:
        return self._context.run(body, read_only=True)

    def close(self) -> None:
        if self._context.writer is not None:
            self._context.writer.close()
        self.engine.dispose()

    def now(self) -> datetime:
        return self._context.now()

    def ping(self) -> None:
        """Raise unless the database answers (the HTTP health check)."""
        sweep.ping(self._context)

    # -- plans and rate cards ---------------------------------------------------------------

    def put_plan(self, plan: Plan) -> Plan:
        """Create or replace a plan. Accounts on it use the new version from their next write."""
        return pricing.put_plan(self._context, plan)

    def put_rate_card(self, card: RateCard) -> RateCard:
        """Create or replace a rate card. Running runs keep the version they started with."""
        return pricing.put_rate_card(self._context, card)

    def get_plan(self, plan_id: str) -> Plan:
        return self._read(lambda c: self._context.plan(c, plan_id))

    def get_rate_card(self, rate_card_id: str) -> RateCard:
        return self._read(lambda c: self._context.card(c, rate_card_id))

    def list_plans(self) -> list[Plan]:
        return pricing.list_plans(self._context)

    def list_rate_cards(self) -> list[RateCard]:
        return pricing.list_rate_cards(self._context)

    # -- accounts -------------------------------------------------------------------------

    def open_account(
        self, request: OpenAccountRequest | str | _Omitted = FIELDS, /, *args: Any, **fields: Any
    ) -> Account:
        """Open an account on a plan with its first allowance (fields: `OpenAccountRequest`)."""
        built = _build(OpenAccountRequest, request, args, fields)
        return accounts.open_account(self._context, built)

    def get_account(self, account_id: str) -> Account:
        return self._read(lambda c: reports.account(c, account_id))

    def list_accounts(self, *, limit: int = 100, after: str | None = None) -> list[Account]:
        return self._read(lambda c: reports.accounts(c, limit, after))

    def change_plan(
        self, request: ChangePlanRequest | str | _Omitted = FIELDS, /, *args: Any, **fields: Any
    ) -> Account:
        """Move an account to another plan; a new period starts now (`ChangePlanRequest`)."""
        built = _build(ChangePlanRequest, request, args, fields)
        return accounts.change_plan(self._context, built)

    def update_account(
        self, request: UpdateAccountRequest | str | _Omitted = FIELDS, /, *args: Any, **fields: Any
    ) -> Account:
        """Change an account's name, metadata or unpaid-bill flag (`UpdateAccountRequest`)."""
        built = _build(UpdateAccountRequest, request, args, fields)
        return accounts.update_account(self._context, built)

    def set_unpaid_bill(self, account_id: str, unpaid: bool) -> None:
        """Record whether the account has an outstanding invoice (shown by balances)."""
        self.update_account(account_id, has_unpaid_bill=unpaid)

    # -- grants, charges, refunds ---------------------------------------------------------

    def grant(
        self, request: GrantRequest | str | _Omitted = FIELDS, /, *args: Any, **fields: Any
    ) -> Grant:
        """Give credits, or take them back by a negative adjustment (fields: `GrantRequest`)."""
        return grants.grant(self._context, _build(GrantRequest, request, args, fields))

    def charge(
        self, request: ChargeRequest | str | _Omitted = FIELDS, /, *args: Any, **fields: Any
    ) -> Charge:
        """Charge an account, drawing in spend order (fields: `ChargeRequest`)."""
        return charges.charge(self._context, _build(ChargeRequest, request, args, fields))

    async def charge_async(
        self, request: ChargeRequest | str | _Omitted = FIELDS, /, *args: Any, **fields: Any
    ) -> Charge:
        """`charge` for asyncio code: no thread waits for its group commit (the writer's
        own thread runs the group; without group commit, a worker thread runs it)."""
        return await charges.charge_async(
            self._context, _build(ChargeRequest, request, args, fields)
        )

    def charge_batch(
        self,
        requests: ChargeBatchRequest | Sequence[ChargeRequest],
        *,
        idempotency_key: str | None = None,
        scope: str = OPERATOR_SCOPE,
    ) -> list[BatchItemResult]:
        """Many charges in one commit, each succeeding or failing alone; `idempotency_key`
        covers the whole batch, scoped to `scope` (fields: `ChargeBatchRequest`)."""
        if isinstance(requests, ChargeBatchRequest):
            if idempotency_key is not None or scope != OPERATOR_SCOPE:
                raise TypeError("give a ChargeBatchRequest or its fields as arguments, not both")
            return charges.charge_batch(self._context, requests)
        batch = ChargeBatchRequest(requests, idempotency_key, scope)
        return charges.charge_batch(self._context, batch)

    def refund(
        self, request: RefundRequest | str | _Omitted = FIELDS, /, *args: Any, **fields: Any
    ) -> Refund:
        """Reverse a charge, whole or in part, into its grants (fields: `RefundRequest`)."""
        return refunds.refund(self._context, _build(RefundRequest, request, args, fields))

    # -- holds ----------------------------------------------------------------------------

    def hold(
        self, request: HoldRequest | str | _Omitted = FIELDS, /, *args: Any, **fields: Any
    ) -> Hold:
        """Reserve credits until captured, released or timed out (fields: `HoldRequest`)."""
        return holds.hold(self._context, _build(HoldRequest, request, args, fields))

    def capture(
        self, request: CaptureRequest | str | _Omitted = FIELDS, /, *args: Any, **fields: Any
    ) -> Charge:
        """Spend part of a hold; optionally release the rest (fields: `CaptureRequest`)."""
        return holds.capture(self._context, _build(CaptureRequest, request, args, fields))

    def release(
        self, request: ReleaseRequest | str | _Omitted = FIELDS, /, *args: Any, **fields: Any
    ) -> Hold:
        """Give back what a hold still holds (fields: `ReleaseRequest`)."""
        return holds.release(self._context, _build(ReleaseRequest, request, args, fields))

    def get_hold(self, account_id: str, hold_id: str) -> Hold:
        self.touch(account_id)
        return self._read(lambda c: reports.hold(c, account_id, hold_id))

    # -- estimates and runs ---------------------------------------------------------------

    def estimate(
        self, request: EstimateRequest | str | _Omitted = FIELDS, /, *args: Any, **fields: Any
    ) -> tuple[Estimate, dict[str, bool]]:
        """Quote a job and whether each pool can pay for it now (fields: `EstimateRequest`)."""
        return runs.estimate_run(self._context, _build(EstimateRequest, request, args, fields))

    def start_run(
        self, request: StartRunRequest | str | _Omitted = FIELDS, /, *args: Any, **fields: Any
    ) -> Run:
        """Start a run: take slots, optionally hold credits (fields: `StartRunRequest`)."""
        return runs.start_run(self._context, _build(StartRunRequest, request, args, fields))

    def report_results(
        self, request: RunResultsRequest | str | _Omitted = FIELDS, /, *args: Any, **fields: Any
    ) -> Run:
        """Bill a batch of a run's results; unpaid, the run pauses (`RunResultsRequest`)."""
        built = _build(RunResultsRequest, request, args, fields)
        return runs.report_results(self._context, built)

    def finish_run(
        self, request: FinishRunRequest | str | _Omitted = FIELDS, /, *args: Any, **fields: Any
    ) -> Run:
        """Settle a run: release its hold and free its slots (fields: `FinishRunRequest`)."""
        return runs.finish_run(self._context, _build(FinishRunRequest, request, args, fields))

    def get_run(self, account_id: str, run_id: str) -> Run:
        return self._read(lambda c: reports.run(c, account_id, run_id))

    def runs(self, account_id: str, *, limit: int = 50, cursor: str | None = None) -> RunPage:
        """Runs newest first, `limit` (at most 100) a page; give the previous page's
        `next_cursor` as `cursor` for the next (stable while runs start)."""
        return self._read(lambda c: reports.runs(c, account_id, limit, cursor))

    def list_runs(self, account_id: str, *, limit: int = 50) -> list[Run]:
        """The latest `limit` runs: the first page of `runs`."""
        return self.runs(account_id, limit=limit).data

    def run_breakdown(self, account_id: str, run_id: str) -> RunBreakdown:
        return self._read(lambda c: reports.run_breakdown(c, account_id, run_id))

    # -- reports --------------------------------------------------------------------------

    # -- events and alerts ------------------------------------------------------------------

    def set_alerts(self, account_id: str, rules: Sequence[AlertRule] | None) -> Alerts:
        """Set the account's own balance alerts (None: its plan's defaults); a pool already
        below a new threshold gets its `balance.low` at once."""
        return alerts.set_alerts(self._context, account_id, None if rules is None else tuple(rules))

    def get_alerts(self, account_id: str) -> Alerts:
        """The alert rules in force on the account and each pool's state."""
        self.touch(account_id)
        return alerts.get_alerts(self._context, account_id)

    def events(
        self,
        *,
        account_id: str | None = None,
        types: Sequence[str] = (),
        limit: int = 50,
        cursor: str | None = None,
    ) -> EventPage:
        """The event log, newest first, paged by cursor (one account's, or all)."""
        return self._read(
            lambda c: event_reports.events(
                c, account_id=account_id, types=types, limit=limit, cursor=cursor
            )
        )

    def get_event(self, event_id: str) -> Event:
        return self._read(lambda c: event_reports.event(c, event_id))

    def touch(self, account_id: str) -> None:
        """Apply what is due on an account (resets, rollovers, expiries) if anything is."""
        sweep.touch(self._context, account_id)

    def balance(
        self, account_id: str, *, at: datetime | None = None, draws: bool = False
    ) -> Balance:
        """Credits per pool now, or as they were at a past instant. `draws` adds what was
        drawn in the period per source (`PoolBalance.drawn_by_source`; one more read, of
        the period's entries on bonus, rollover, top-up and adjustment grants)."""
        self.touch(account_id)
        return reads.balance(self._context, account_id, at, draws)

    def transactions(
        self,
        account_id: str,
        *,
        limit: int = 50,
        cursor: str | None = None,
        offset: int | None = None,
        types: Sequence[TransactionType | str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> TransactionPage:
        """History, newest first. Page with `cursor` (stable) or `offset`."""
        self.touch(account_id)
        return reads.transactions(
            self._context, account_id, limit, cursor, offset, types, since, until
        )

    def stats(self, account_id: str, start: date, end: date, *, group_by: str = "day") -> Stats:
        """Spend between two local dates (inclusive) from rollups, with the previous range,
        buckets by day, ISO week or month, runs started in the range, and when the account
        runs out at its trailing 7- and 30-day burn."""
        self.touch(account_id)
        return reads.stats(self._context, account_id, start, end, group_by)

    # -- API keys and lookups ---------------------------------------------------------------

    def create_key(
        self,
        request: CreateKeyRequest | str | _Omitted | None = FIELDS,
        /,
        *args: Any,
        **fields: Any,
    ) -> IssuedKey:
        """Issue an API key: an operator key (account_id None) or an account key. The
        secret is returned once and stored only as a hash (fields: `CreateKeyRequest`)."""
        built = _build(CreateKeyRequest, request, args, fields)
        return key_operations.create_key(self._context, built)

    def revoke_key(self, key_id: str) -> ApiKey:
        """Revoke a key now. Idempotent: a revoked key is answered as it is, unchanged."""
        revoked = key_operations.revoke_key(self._context, key_id)
        self._keys.forget(key_id)
        return revoked

    def get_key(self, key_id: str) -> ApiKey:
        return self._read(lambda c: keys.get(c, key_id))

    def list_keys(self, account_id: str | None) -> list[ApiKey]:
        return self._read(lambda c: keys.of_account(c, account_id))

    def authenticate(self, token: str) -> ApiKey:
        """The key behind a token; AuthenticationError (unknown) or KeyRevokedError. Answered
        from memory for `key_cache_s` (one caller looks it up again shortly before that)."""
        return self._keys.take(token) or self._keys.look_up(token, self._read_key(token))

    def remembered_key(self, token: str) -> tuple[ApiKey | None, bool]:
        """What `authenticate` answers from memory now (None: it would read), and whether
        this caller must look the key up again in the background (`refresh_key`)."""
        return self._keys.answer(token)

    def refresh_key(self, token: str) -> None:
        """Look a remembered key up again: remembered afresh, or forgotten if revoked."""
        self._keys.refresh(token, self._read_key(token))

    def _read_key(self, token: str) -> Callable[[], ApiKey]:
        return lambda: self._read(lambda c: keys.authenticate(c, token))

    def end_session(self, key_id: str, session_id: str, *, lifetime_s: int) -> None:
        """Sign a dashboard session of `key_id` out for good: `is_session_ended` answers
        True for it from now on. `lifetime_s` is the session's longest life; the record is
        kept that long, after which the session's cookie has expired anyway."""
        key_operations.end_session(self._context, key_id, session_id, lifetime_s)

    def is_session_ended(self, key: ApiKey, session_id: str) -> bool:
        """Whether this session of `key` has signed out (see `end_session`)."""
        return self._read(lambda c: sessions.is_ended(c, key.account_id, session_id))

    def account_of_charge(self, charge_id: str) -> str:
        return charges.account_of_charge(self._context, charge_id)

    def account_of_run(self, run_id: str) -> str:
        return runs.account_of_run(self._context, run_id)

    # -- webhooks -------------------------------------------------------------------------

    def create_webhook_endpoint(
        self, request: CreateEndpointRequest | str | _Omitted = FIELDS, /, *args: Any, **fields: Any
    ) -> WebhookEndpoint:
        """Register an endpoint for events; its secret is in the answer (fields:
        `CreateEndpointRequest`)."""
        built = _build(CreateEndpointRequest, request, args, fields)
        allow = self.webhooks_allow_private
        return webhook_endpoints.create_endpoint(self._context, built, allow_private=allow)

    def get_webhook_endpoint(self, endpoint_id: str) -> WebhookEndpoint:
        return webhook_endpoints.get_endpoint(self._context, endpoint_id)

    def webhook_endpoints(self, *, limit: int = 50, cursor: str | None = None) -> EndpointPage:
        """Endpoints oldest first, `limit` (at most 100) a page."""
        return webhook_endpoints.list_endpoints(self._context, limit, cursor)

    def update_webhook_endpoint(
        self, request: UpdateEndpointRequest | str | _Omitted = FIELDS, /, *args: Any, **fields: Any
    ) -> WebhookEndpoint:
        """Change an endpoint, or re-enable it (fields: `UpdateEndpointRequest`)."""
        built = _build(UpdateEndpointRequest, request, args, fields)
        allow = self.webhooks_allow_private
        return webhook_endpoints.update_endpoint(self._context, built, allow_private=allow)

    def delete_webhook_endpoint(self, endpoint_id: str) -> WebhookEndpoint:
        """Delete an endpoint and its deliveries; answers it as it was."""
        return webhook_endpoints.delete_endpoint(self._context, endpoint_id)

    def rotate_webhook_secret(
        self, endpoint_id: str, *, idempotency_key: str | None = None
    ) -> WebhookEndpoint:
        """A new secret; the old one keeps signing beside it for 24 hours."""
        return webhook_endpoints.rotate_secret(self._context, endpoint_id, idempotency_key)

    def webhook_deliveries(
        self, endpoint_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> DeliveryPage:
        """An endpoint's deliveries, newest first, with their attempts."""
        return webhook_endpoints.deliveries(self._context, endpoint_id, limit, cursor)

    def retry_webhook_delivery(
        self, delivery_id: str, *, idempotency_key: str | None = None
    ) -> WebhookDelivery:
        """Queue a pending or failed delivery for an attempt now."""
        return webhook_endpoints.retry_delivery(self._context, delivery_id, idempotency_key)

    def webhook_dispatcher(self, **options: Any) -> Dispatcher:
        """A dispatcher on this ledger's database and clock (options: `DispatcherOptions`;
        `allow_private` defaults to the ledger's)."""
        from creditbook.engine.webhooks.dispatcher import Dispatcher, DispatcherOptions

        options.setdefault("allow_private", self.webhooks_allow_private)
        recharges = self.payments.process_recharges if self.payments.gateway.can_charge else None
        return Dispatcher(self.engine, self.clock, DispatcherOptions(**options), recharges)

    # -- sweeper and verification ---------------------------------------------------------

    def tick(self, *, limit: int = 1000) -> int:
        """Catch up accounts with something due; returns how many were touched."""
        return sweep.tick(self._context, limit)

    def verify(self, account_id: str | None = None) -> VerifyReport:
        """Replay entries and compare every stored balance; list every difference."""
        return self._read(lambda c: reports.verify(c, account_id))

    def count_entries(self, account_id: str | None = None) -> int:
        """How many ledger lines one account (or the whole ledger) has."""
        return self._read(lambda c: reports.entry_count(c, account_id))

    def iter_entries(self, account_id: str | None = None, *, batch: int = 1000) -> Iterator[Entry]:
        """Every ledger line of one account (or all), in (account, seq, line) order, read
        `batch` at a time, each batch in its own short read: memory stays at one batch
        however long the ledger, and writers are never held up."""
        return reads.iter_entries(self._context, account_id, batch)


__all__ = ["ChargeRequest", "Ledger"]
