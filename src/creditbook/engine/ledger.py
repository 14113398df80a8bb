"""The Ledger: creditbook's engine as an importable library.

    from creditbook import Ledger
    ledger = Ledger.open("sqlite:///credits.db")

Every operation is one database transaction, takes an optional idempotency key scoped to
the account, and raises a `CreditbookError` subclass for expected failures (nothing is
written then).
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, replace
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from pydantic import TypeAdapter
from sqlalchemy import Connection, Engine, Integer, bindparam, literal_column, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from creditbook.domain.amounts import Credits
from creditbook.domain.errors import (
    IdempotencyConflictError,
    InsufficientCreditsError,
    NoFreeSlotsError,
    NotFoundError,
    StateError,
    ValidationError,
)
from creditbook.domain.grants import (
    DEFAULT_PRIORITY,
    GRANT_TRANSACTION_TYPE,
    MAX_PRIORITY,
    MIN_PRIORITY,
    GrantSource,
    TransactionType,
)
from creditbook.domain.periods import (
    PeriodCalendar,
    PeriodError,
    check_instant,
    require_aware,
    zone,
)
from creditbook.domain.plans import Plan, check_identifier
from creditbook.domain.rates import Estimate, RateCard, estimate, price_results
from creditbook.domain.requests import Scope
from creditbook.engine import keys, reports, sessions
from creditbook.engine.clock import Clock, SystemClock
from creditbook.engine.codec import card_from_body, card_to_body, plan_from_body, plan_to_body
from creditbook.engine.keys import ApiKey, IssuedKey
from creditbook.engine.requests import (
    MAX_BATCH_ITEMS,
    MAX_DESCRIPTION_CHARS,
    MAX_IDEMPOTENCY_KEY_CHARS,
    ChargeRequest,
)
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
from creditbook.engine.tx import (
    AccountTx,
    Attribution,
    Line,
    draws_total,
    flush_all,
    new_id,
)
from creditbook.store import schema
from creditbook.store.database import READ_ONLY, make_engine, migrate
from creditbook.store.queries import upsert_set, upsert_versioned

T = TypeVar("T")
MAX_RETRIES = 8
DEFAULT_HOLD_TIMEOUT_S = 3600
MAX_HOLD_TIMEOUT_S = 7 * 24 * 3600
MAX_QUANTITY = 10**9
MAX_SLOTS_PER_RUN = 1000
MAX_METADATA_BYTES = 4096
MAX_SESSION_LIFETIME_S = 7 * 24 * 3600
OPERATOR_SCOPE = ""  # idempotency scope of operations that precede an account
RUN_ACTIVE = ("running", "paused")


# The account lock also returns the plan's version, so a cached plan costs no query. The
# subquery is spelled out: SQLite renders RETURNING columns unqualified, and an unqualified
# `plan_id` inside the subquery would bind to plans.plan_id.
_LOCK = (
    update(schema.accounts)
    .where(schema.accounts.c.account_id == bindparam("p_account"))
    .values(last_seq=schema.accounts.c.last_seq + 1)
    .returning(
        *schema.accounts.c,
        literal_column(
            "(SELECT plans.version FROM plans WHERE plans.plan_id = accounts.plan_id)", Integer
        ).label("plan_version"),
    )
)


_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}


def _adapter(kind: type[T]) -> TypeAdapter[T]:
    """One TypeAdapter per result type: building one costs about a millisecond."""
    adapter = _ADAPTERS.get(kind)
    if adapter is None:
        adapter = _ADAPTERS[kind] = TypeAdapter(kind)
    return adapter


def _hash_request(operation: str, request: Mapping[str, Any]) -> str:
    canonical = json.dumps({"operation": operation, **request}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _retryable(error: DBAPIError) -> bool:
    """Lock timeouts, deadlocks and serialisation failures are worth another try."""
    if isinstance(error, IntegrityError):
        return True  # two first uses of one idempotency key: the retry replays
    code = getattr(error.orig, "sqlstate", None)
    if code in ("40001", "40P01", "55P03"):
        return True
    return isinstance(error, OperationalError) and "locked" in str(error.orig).lower()


def _check_text(name: str, value: str, limit: int = MAX_DESCRIPTION_CHARS) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise ValidationError(f"{name} must be a string of at most {limit} characters", field=name)
    return value


def _check_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(metadata, dict):
        raise ValidationError("metadata must be an object", field="metadata")
    try:
        size = len(json.dumps(metadata))
    except (TypeError, ValueError):
        raise ValidationError("metadata must be plain JSON", field="metadata") from None
    if size > MAX_METADATA_BYTES:
        raise ValidationError(
            f"metadata is limited to {MAX_METADATA_BYTES} bytes", field="metadata"
        )
    return dict(metadata)


def _check_attribute(name: str, value: str) -> str:
    return check_identifier(name, value) if value else value


class Ledger:
    """The credits ledger over one database."""

    def __init__(self, engine: Engine, clock: Clock | None = None) -> None:
        self.engine = engine
        self.clock: Clock = clock or SystemClock()
        self._plans: dict[tuple[str, int], Plan] = {}
        self._cards: dict[tuple[str, int], RateCard] = {}

    @classmethod
    def open(cls, url: str, *, clock: Clock | None = None, upgrade: bool = True) -> Ledger:
        """Connect to `url` and bring its schema up to date."""
        engine = make_engine(url)
        if upgrade:
            migrate(engine)
        return cls(engine, clock)

    def close(self) -> None:
        self.engine.dispose()

    def now(self) -> datetime:
        return require_aware(self.clock.now())

    # -- transactions ---------------------------------------------------------------------

    def _run(self, body: Callable[[Connection], T], *, read_only: bool = False) -> T:
        for attempt in range(MAX_RETRIES):
            try:
                connection = self.engine.connect()
                if read_only:
                    connection = connection.execution_options(**{READ_ONLY: True})
                with connection, connection.begin():
                    return body(connection)
            except DBAPIError as error:
                if attempt + 1 == MAX_RETRIES or not _retryable(error):
                    raise
                time.sleep(0.001 * 2**attempt)
        raise AssertionError("unreachable")

    def _lock(self, connection: Connection, account_id: str, now: datetime) -> AccountTx:
        """Lock the account row and reserve one transfer number, in one statement."""
        row = connection.execute(_LOCK, {"p_account": account_id}).first()
        if row is None:
            raise NotFoundError("account", account_id)
        plan = self._plans.get((row.plan_id, row.plan_version))
        if plan is None:
            plan = self._plan(connection, row.plan_id)
        return AccountTx(connection, row, plan, now)

    def _write(
        self,
        account_id: str,
        operation: str,
        request: Mapping[str, Any],
        key: str | None,
        result_type: type[T],
        body: Callable[[AccountTx], T],
        remember: Callable[[T], T] | None = None,
    ) -> T:
        """Run `body` on the locked, caught-up account, once per idempotency key.

        `remember` shapes what is stored for replays (key secrets are never stored).
        """
        if key is not None:
            _check_text("idempotency_key", key, MAX_IDEMPOTENCY_KEY_CHARS)
        # Hash only when there is a key to remember the request under.
        request_hash = "" if key is None else _hash_request(operation, request)

        def transaction(connection: Connection) -> T:
            tx = self._lock(connection, account_id, self.now())
            if key is not None:
                replay = self._replay(connection, account_id, key, request_hash, result_type)
                if replay is not None:
                    return replay
            tx.catch_up()
            result = body(tx)
            if key is not None:
                stored = result if remember is None else remember(result)
                self._remember(connection, account_id, key, operation, request_hash, stored)
            tx.finish()
            return result

        return self._run(transaction)

    def _replay(
        self, connection: Connection, scope: str, key: str, request_hash: str, kind: type[T]
    ) -> T | None:
        stored = self._stored_response(connection, scope, key, request_hash)
        if stored is None:
            return None
        result = _adapter(kind).validate_python(stored)
        return replace(result, replayed=True)  # type: ignore[type-var]

    def _stored_response(
        self,
        connection: Connection,
        scope: str,
        key: str,
        request_hash: str,
        shown_key: str | None = None,
    ) -> Any | None:
        """The response stored under an idempotency key (None: the key is new), or an
        IdempotencyConflictError (naming `shown_key`, the caller's own key, when the stored
        key differs from it) when the key came with another request."""
        table = schema.idempotency.c
        row = connection.execute(
            select(table.request_hash, table.response).where(
                table.account_id == scope, table.key == key
            )
        ).first()
        if row is None:
            return None
        if row.request_hash != request_hash:
            raise IdempotencyConflictError(shown_key or key)
        return row.response

    def _remember(
        self,
        connection: Connection,
        scope: str,
        key: str,
        operation: str,
        request_hash: str,
        result: Any,
    ) -> None:
        connection.execute(
            schema.idempotency.insert(),
            {
                "account_id": scope,
                "key": key,
                "operation": operation,
                "request_hash": request_hash,
                "response": _adapter(type(result)).dump_python(result, mode="json"),
                "created_at": self.now(),
            },
        )

    # -- plans and rate cards ---------------------------------------------------------------

    def put_plan(self, plan: Plan) -> Plan:
        """Create or replace a plan. Accounts on it use the new version from their next write."""
        self._put_reference(schema.plans, "plan_id", plan.plan_id, plan_to_body(plan))
        return plan

    def put_rate_card(self, card: RateCard) -> RateCard:
        """Create or replace a rate card. Running runs keep the version they started with."""
        self._put_reference(
            schema.rate_cards, "rate_card_id", card.rate_card_id, card_to_body(card)
        )
        return card

    def _put_reference(self, table: Any, id_name: str, identifier: str, body: Any) -> None:
        def transaction(connection: Connection) -> None:
            upsert_versioned(
                connection, table, {id_name: identifier}, {"body": body, "updated_at": self.now()}
            )

        self._run(transaction)

    def _plan(self, connection: Connection, plan_id: str) -> Plan:
        plans = schema.plans.c
        row = connection.execute(select(plans.version).where(plans.plan_id == plan_id)).first()
        if row is None:
            raise NotFoundError("plan", plan_id)
        cache_key = (plan_id, row.version)
        plan = self._plans.get(cache_key)
        if plan is None:
            body = connection.execute(
                select(plans.body).where(plans.plan_id == plan_id)
            ).scalar_one()
            plan = self._plans[cache_key] = plan_from_body(body)
        return plan

    def _card(self, connection: Connection, rate_card_id: str) -> RateCard:
        cards = schema.rate_cards.c
        row = connection.execute(
            select(cards.version, cards.body).where(cards.rate_card_id == rate_card_id)
        ).first()
        if row is None:
            raise NotFoundError("rate card", rate_card_id)
        cache_key = (rate_card_id, row.version)
        card = self._cards.get(cache_key)
        if card is None:
            card = self._cards[cache_key] = card_from_body(row.body)
        return card

    def get_plan(self, plan_id: str) -> Plan:
        return self._run(lambda connection: self._plan(connection, plan_id), read_only=True)

    def get_rate_card(self, rate_card_id: str) -> RateCard:
        return self._run(lambda connection: self._card(connection, rate_card_id), read_only=True)

    def list_plans(self) -> list[Plan]:
        rows = self._run(
            lambda c: c.execute(select(schema.plans.c.body).order_by("plan_id")).scalars().all(),
            read_only=True,
        )
        return [plan_from_body(body) for body in rows]

    def list_rate_cards(self) -> list[RateCard]:
        rows = self._run(
            lambda c: (
                c.execute(select(schema.rate_cards.c.body).order_by("rate_card_id")).scalars().all()
            ),
            read_only=True,
        )
        return [card_from_body(body) for body in rows]

    # -- accounts -------------------------------------------------------------------------

    def open_account(
        self,
        plan_id: str,
        *,
        account_id: str | None = None,
        name: str = "",
        timezone: str = "UTC",
        billing_anchor_at: datetime | None = None,
        metadata: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Account:
        """Open an account on a plan and grant its first period's allowance."""
        requested_id = account_id
        account_id = account_id or new_id("acct_")
        check_identifier("account_id", account_id)
        _check_text("name", name)
        try:
            zone(timezone)
        except PeriodError as error:
            raise ValidationError(str(error), field="timezone") from None
        metadata = _check_metadata(metadata or {})
        request = {
            "plan_id": plan_id,
            "account_id": requested_id,
            "name": name,
            "timezone": timezone,
            "billing_anchor_at": billing_anchor_at,
            "metadata": metadata,
        }
        request_hash = _hash_request("open_account", request)

        def transaction(connection: Connection) -> Account:
            now = self.now()
            if idempotency_key is not None:
                replay = self._replay(
                    connection, OPERATOR_SCOPE, idempotency_key, request_hash, Account
                )
                if replay is not None:
                    return replay
            plan = self._plan(connection, plan_id)
            anchor = require_aware(billing_anchor_at or now)
            calendar = PeriodCalendar(plan.interval, anchor, timezone)
            index = calendar.index_at(now)
            if index < 0:
                raise ValidationError("billing anchor is in the future", field="billing_anchor_at")
            exists = connection.execute(
                select(schema.accounts.c.account_id).where(
                    schema.accounts.c.account_id == account_id
                )
            ).first()
            if exists is not None:
                # On PostgreSQL each statement reads a fresh snapshot: a concurrent first use
                # of this key may have committed the account after the replay check above.
                # Its key row committed with it, so look again before refusing.
                if idempotency_key is not None:
                    replay = self._replay(
                        connection, OPERATOR_SCOPE, idempotency_key, request_hash, Account
                    )
                    if replay is not None:
                        return replay
                raise StateError(f"account {account_id} already exists")
            connection.execute(
                schema.accounts.insert(),
                {
                    "account_id": account_id,
                    "name": name,
                    "plan_id": plan_id,
                    "timezone": timezone,
                    "anchor_at": anchor,
                    "period_index": index,
                    "next_event_at": calendar.start_of(index + 1),
                    "last_seq": 0,
                    "has_unpaid_bill": False,
                    "metadata": metadata,
                    "created_at": now,
                },
            )
            tx = self._lock(connection, account_id, now)
            tx.ensure_overdraft_grants()
            tx.grant_allowance(index)
            tx.finish()
            account = Account(account_id, name, plan_id, timezone, anchor, now, False, metadata)
            if idempotency_key is not None:
                self._remember(
                    connection,
                    OPERATOR_SCOPE,
                    idempotency_key,
                    "open_account",
                    request_hash,
                    account,
                )
            return account

        return self._run(transaction)

    def get_account(self, account_id: str) -> Account:
        return self._run(lambda c: reports.account(c, account_id), read_only=True)

    def list_accounts(self, *, limit: int = 100, after: str | None = None) -> list[Account]:
        return self._run(lambda c: reports.accounts(c, limit, after), read_only=True)

    def change_plan(
        self, account_id: str, plan_id: str, *, idempotency_key: str | None = None
    ) -> Account:
        """Move an account to another plan now.

        The current period ends: its unused allowance expires (rollover applies under the
        old plan's policy), a new period starts now under the new plan with its full
        allowance. Bonus, rollover and purchased credits are kept.
        """

        def body(tx: AccountTx) -> Account:
            new_plan = self._plan(tx.connection, plan_id)
            now = tx.now
            unused = tx._unused_allowance(tx.period_index)
            grants = schema.grants.c
            allowance_ids = (
                tx.connection.execute(
                    select(grants.grant_id).where(
                        grants.account_id == account_id,
                        grants.source == GrantSource.ALLOWANCE.value,
                        grants.closed_at.is_(None),
                    )
                )
                .scalars()
                .all()
            )
            tx.connection.execute(
                update(schema.grants)
                .where(grants.account_id == account_id, grants.grant_id.in_(allowance_ids))
                .values(expires_at=now)
            )
            tx._expire_grants(now)
            tx.plan = new_plan
            tx.anchor_at = now
            tx.period_index = 0
            tx._roll_over(unused, 0, now)
            tx.ensure_overdraft_grants()
            tx.grant_allowance(0)
            tx.next_event_at = tx._next_event(tx.calendar())
            tx.mark_dirty()
            row = tx.row
            return Account(
                account_id,
                row.name,
                plan_id,
                row.timezone,
                now,
                row.created_at,
                row.has_unpaid_bill,
                row.metadata,
            )

        return self._write(
            account_id, "change_plan", {"plan_id": plan_id}, idempotency_key, Account, body
        )

    def update_account(
        self,
        account_id: str,
        *,
        name: str | None = None,
        metadata: dict[str, Any] | None = None,
        has_unpaid_bill: bool | None = None,
    ) -> Account:
        """Change an account's name, metadata or unpaid-bill flag (plan: `change_plan`)."""
        values: dict[str, Any] = {}
        if name is not None:
            values["name"] = _check_text("name", name, schema.NAME)
        if metadata is not None:
            values["metadata"] = _check_metadata(metadata)
        if has_unpaid_bill is not None:
            values["has_unpaid_bill"] = bool(has_unpaid_bill)

        def transaction(connection: Connection) -> Account:
            if values:
                result = connection.execute(
                    update(schema.accounts)
                    .where(schema.accounts.c.account_id == account_id)
                    .values(**values)
                )
                if result.rowcount != 1:
                    raise NotFoundError("account", account_id)
            return reports.account(connection, account_id)

        return self._run(transaction)

    def set_unpaid_bill(self, account_id: str, unpaid: bool) -> None:
        """Record whether the account has an outstanding invoice (shown by balances)."""
        self.update_account(account_id, has_unpaid_bill=unpaid)

    # -- grants ---------------------------------------------------------------------------

    def grant(
        self,
        account_id: str,
        amount: Credits,
        *,
        source: GrantSource | str = GrantSource.BONUS,
        pool: str | None = None,
        priority: int | None = None,
        effective_at: datetime | None = None,
        expires_at: datetime | None = None,
        description: str = "",
        idempotency_key: str | None = None,
    ) -> Grant:
        """Give credits: a bonus, a purchased top-up or an operator adjustment.

        A negative adjustment takes credits away in spend order (refused when the account
        does not hold them).
        """
        source = GrantSource(source)
        if source not in GRANT_TRANSACTION_TYPE:
            raise ValidationError("source must be bonus, top_up or adjustment", field="source")
        if not amount.is_positive() and not (
            source is GrantSource.ADJUSTMENT and amount.is_negative()
        ):
            raise ValidationError("amount must be positive", field="amount")
        if priority is not None and not MIN_PRIORITY <= priority <= MAX_PRIORITY:
            raise ValidationError(
                f"priority must be within {MIN_PRIORITY}..{MAX_PRIORITY}", field="priority"
            )
        _check_text("description", description)
        for name, value in (("effective_at", effective_at), ("expires_at", expires_at)):
            if value is not None:
                check_instant(name, value)
        if effective_at and expires_at and expires_at <= effective_at:
            raise ValidationError("expires_at must be after effective_at", field="expires_at")
        request = {
            "amount": amount.millicredits,
            "source": source.value,
            "pool": pool,
            "priority": priority,
            "effective_at": effective_at,
            "expires_at": expires_at,
            "description": description,
        }

        def body(tx: AccountTx) -> Grant:
            target = pool or self._default_pool(tx)
            tx.check_pool(target)
            if expires_at is not None and expires_at <= tx.now:
                raise ValidationError("expires_at must be in the future", field="expires_at")
            kind = GRANT_TRANSACTION_TYPE[source]
            text = description or kind.value.replace("_", " ").capitalize()
            if amount.is_negative():
                return self._debit_adjustment(tx, target, -amount, text)
            grant_id = tx.create_grant(
                target,
                source,
                priority=priority,
                effective_at=effective_at,
                expires_at=expires_at,
                description=text,
            )
            posted = tx.fund_grant(kind, target, grant_id, amount, description=text)
            # What the grant holds: overdraft debt in the pool was settled first.
            remaining = tx.connection.execute(
                select(schema.grants.c.remaining).where(
                    schema.grants.c.account_id == tx.account_id,
                    schema.grants.c.grant_id == grant_id,
                )
            ).scalar_one()
            return Grant(
                grant_id,
                account_id,
                target,
                source,
                priority if priority is not None else DEFAULT_PRIORITY[source],
                amount,
                Credits(remaining),
                effective_at or tx.now,
                expires_at,
                posted.transfer_id,
            )

        return self._write(account_id, "grant", request, idempotency_key, Grant, body)

    def _debit_adjustment(self, tx: AccountTx, pool: str, amount: Credits, text: str) -> Grant:
        lines = tx.plan_draws(pool, amount, partial=False)
        lines.append(Line("spent", draws_total(lines)))
        posted = tx.post(TransactionType.ADJUSTMENT, pool, lines, description=text)
        return Grant(
            "",
            tx.account_id,
            pool,
            GrantSource.ADJUSTMENT,
            0,
            -amount,
            Credits(0),
            tx.now,
            None,
            posted.transfer_id,
        )

    @staticmethod
    def _default_pool(tx: AccountTx) -> str:
        pools = tx.plan.pools
        if len(pools) != 1:
            raise ValidationError(
                f"plan {tx.plan.plan_id!r} has pools {', '.join(pools)}: name one",
                field="pool",
            )
        return pools[0]

    # -- charges --------------------------------------------------------------------------

    def charge(self, request: ChargeRequest | None = None, /, **fields: Any) -> Charge:
        """Charge an account: `charge(ChargeRequest(...))` or `charge(account_id=..., ...)`."""
        if request is None:
            request = ChargeRequest(**fields)
        self._check_charge(request)

        def body(tx: AccountTx) -> Charge:
            tx.deferred = True  # the writes go out together (one statement on PostgreSQL)
            charge = self._charge_locked(tx, request)
            flush_all([tx])
            return charge

        return self._write(
            request.account_id,
            "charge",
            {} if request.idempotency_key is None else _charge_fields(request),
            request.idempotency_key,
            Charge,
            body,
        )

    def _check_charge(self, request: ChargeRequest) -> None:
        if (request.amount is None) == (request.function is None):
            raise ValidationError("give either amount or rate_card_id with function")
        if request.amount is not None and not request.amount.is_positive():
            raise ValidationError("amount must be positive", field="amount")
        if request.function is not None:
            if request.rate_card_id is None:
                raise ValidationError("function needs rate_card_id", field="rate_card_id")
            if not 0 < request.quantity <= MAX_QUANTITY:
                raise ValidationError(
                    f"quantity must be within 1..{MAX_QUANTITY}", field="quantity"
                )
        elif not 0 <= request.quantity <= MAX_QUANTITY:
            raise ValidationError(f"quantity must be within 0..{MAX_QUANTITY}", field="quantity")
        for name in ("module", "service", "user_id", "resource_id", "run_id"):
            _check_attribute(name, getattr(request, name))
        _check_text("description", request.description)
        if request.resource_name is not None:
            _check_text("resource_name", request.resource_name, schema.NAME)
        if request.idempotency_key is not None:
            _check_text("idempotency_key", request.idempotency_key, MAX_IDEMPOTENCY_KEY_CHARS)

    def _charge_locked(self, tx: AccountTx, request: ChargeRequest) -> Charge:
        module, service = request.module, request.service
        if request.function is not None:
            assert request.rate_card_id is not None
            card = self._card(tx.connection, request.rate_card_id)
            requested = card.rate_of(request.function) * request.quantity
            pool = request.pool or card.pool_of(request.function)
            module, service = module or card.module, service or card.service
            function = request.function
        else:
            assert request.amount is not None
            requested, function = request.amount, ""
            pool = request.pool or self._default_pool(tx)
        tx.check_pool(pool)
        if not requested.is_positive():
            raise ValidationError("the charge prices to zero credits", field="quantity")
        lines = tx.plan_draws(pool, requested, partial=request.partial)
        charged = draws_total(lines)
        if charged == 0:
            raise InsufficientCreditsError(pool, requested.millicredits, 0)
        lines.append(Line("spent", charged))
        attribution = Attribution(
            function, module, service, request.user_id, request.resource_id, request.run_id
        )
        description = request.description or _describe(function, request.quantity, charged)
        posted = tx.post(
            TransactionType.DEDUCTION,
            pool,
            lines,
            description=description,
            attribution=attribution,
            quantity=request.quantity,
        )
        tx.rollup(posted.created_at, pool, attribution, charged, request.quantity, 1)
        if request.resource_name is not None and request.resource_id:
            upsert_set(
                tx.connection,
                schema.resources,
                {"account_id": tx.account_id, "resource_id": request.resource_id},
                {"name": request.resource_name},
            )
        return Charge(
            posted.transfer_id,
            tx.account_id,
            pool,
            requested,
            Credits(charged),
            function,
            request.quantity,
            module,
            service,
            request.user_id,
            request.resource_id,
            request.run_id,
            description,
            posted.created_at,
        )

    def charge_batch(
        self,
        requests: Sequence[ChargeRequest],
        *,
        idempotency_key: str | None = None,
        scope: str = OPERATOR_SCOPE,
    ) -> list[BatchItemResult]:
        """Many charges in one commit. Each item succeeds or fails alone; a failed item
        writes nothing. Items take their own idempotency keys; `idempotency_key` covers the
        whole batch (scoped to `scope`, the caller's account or the operator): a replay
        returns the first results, each marked `replayed`, and a different batch under the
        same key is refused whole."""
        if not 0 < len(requests) <= MAX_BATCH_ITEMS:
            raise ValidationError(f"a batch holds 1..{MAX_BATCH_ITEMS} charges", field="items")
        if idempotency_key is not None:
            _check_text("idempotency_key", idempotency_key, MAX_IDEMPOTENCY_KEY_CHARS)
        batch_key = None if idempotency_key is None else f"batch:{idempotency_key}"
        batch_hash = _hash_request(
            "charge_batch",
            {"items": [{**_charge_fields(r), "key": r.idempotency_key} for r in requests]},
        )
        stored = TypeAdapter(list[BatchItemResult])

        def transaction(connection: Connection) -> list[BatchItemResult]:
            now = self.now()
            locked: dict[str, AccountTx] = {}
            # Lock accounts in one order so concurrent batches cannot deadlock.
            for account_id in sorted({request.account_id for request in requests}):
                try:
                    locked[account_id] = self._lock(connection, account_id, now)
                    locked[account_id].catch_up()
                except NotFoundError:
                    pass
            if batch_key is not None:
                replay = self._replay_batch(connection, scope, batch_key, batch_hash)
                if replay is not None:
                    return replay
            for tx in locked.values():
                tx.deferred = True  # set-based writes for the whole batch
            results = [
                self._batch_item(connection, locked, index, request)
                for index, request in enumerate(requests)
            ]
            flush_all(list(locked.values()))
            if batch_key is not None:
                connection.execute(
                    schema.idempotency.insert(),
                    {
                        "account_id": scope,
                        "key": batch_key,
                        "operation": "charge_batch",
                        "request_hash": batch_hash,
                        "response": stored.dump_python(results, mode="json"),
                        "created_at": now,
                    },
                )
            for tx in locked.values():
                tx.finish()
            return results

        return self._run(transaction)

    def _replay_batch(
        self, connection: Connection, scope: str, key: str, request_hash: str
    ) -> list[BatchItemResult] | None:
        stored = self._stored_response(
            connection, scope, key, request_hash, key.removeprefix("batch:")
        )
        if stored is None:
            return None
        items = TypeAdapter(list[BatchItemResult]).validate_python(stored)
        return [
            replace(
                item,
                replayed=True,
                charge=None if item.charge is None else replace(item.charge, replayed=True),
            )
            for item in items
        ]

    def _batch_item(
        self,
        connection: Connection,
        locked: dict[str, AccountTx],
        index: int,
        request: ChargeRequest,
    ) -> BatchItemResult:
        from creditbook.domain.errors import CreditbookError

        try:
            self._check_charge(request)
            tx = locked.get(request.account_id)
            if tx is None:
                raise NotFoundError("account", request.account_id)
            key = request.idempotency_key
            request_hash = "" if key is None else _hash_request("charge", _charge_fields(request))
            if key is not None:
                replay = self._replay(connection, tx.account_id, key, request_hash, Charge)
                if replay is not None:
                    return BatchItemResult(index, charge=replay)
            charge = self._charge_locked(tx, request)
            if key is not None:
                self._remember(connection, tx.account_id, key, "charge", request_hash, charge)
            return BatchItemResult(index, charge=charge)
        except CreditbookError as error:
            return BatchItemResult(index, error_code=error.code, error_message=error.message)

    def refund(
        self,
        account_id: str,
        charge_id: str,
        amount: Credits | None = None,
        *,
        description: str = "",
        idempotency_key: str | None = None,
    ) -> Refund:
        """Reverse (part of) a charge, back into the grants it drew from, last drawn first.

        Credits whose grant has expired since the charge expire again at once.
        """
        if amount is not None and not amount.is_positive():
            raise ValidationError("amount must be positive", field="amount")
        _check_text("description", description)
        request = {
            "charge_id": charge_id,
            "amount": None if amount is None else amount.millicredits,
            "description": description,
        }

        def body(tx: AccountTx) -> Refund:
            return self._refund_locked(tx, charge_id, amount, description)

        return self._write(account_id, "refund", request, idempotency_key, Refund, body)

    def _refund_locked(
        self, tx: AccountTx, charge_id: str, amount: Credits | None, description: str
    ) -> Refund:
        transfers, entries = schema.transfers.c, schema.entries.c
        charge = tx.connection.execute(
            select(schema.transfers).where(
                transfers.account_id == tx.account_id,
                transfers.transfer_id == charge_id,
                transfers.type == TransactionType.DEDUCTION.value,
            )
        ).first()
        if charge is None:
            raise NotFoundError("charge", charge_id)
        refundable = -charge.amount - charge.refunded
        wanted = refundable if amount is None else amount.millicredits
        if wanted > refundable or wanted <= 0:
            raise ValidationError(
                f"at most {Credits(refundable)} credits of this charge can be refunded",
                field="amount",
            )
        drawn = tx.connection.execute(
            select(entries.grant_id, entries.amount)
            .where(
                entries.account_id == tx.account_id,
                entries.seq == charge.seq,
                entries.book.in_(("grant", "hold")),
            )
            .order_by(entries.line.desc())
        ).all()
        # Take back last drawn first, past what earlier refunds already took back.
        already = charge.refunded
        closed = tx._closed_grants([row.grant_id for row in drawn])
        lines: list[Line] = [Line("spent", -wanted)]
        missing, expired = wanted, 0
        for row in drawn:
            part = -row.amount
            skip = min(already, part)
            already -= skip
            take = min(missing, part - skip)
            if take <= 0:
                continue
            missing -= take
            if row.grant_id in closed:
                expired += take
            else:
                lines.append(Line("grant", take, grant_id=row.grant_id))
        assert missing == 0
        if expired:
            lines.append(Line("expired", expired))
        attribution = Attribution(
            charge.function,
            charge.module,
            charge.service,
            charge.user_id,
            charge.resource_id,
            charge.run_id,
        )
        # The refund that completes a charge takes its units back out of the stats.
        full = charge.refunded + wanted == -charge.amount
        posted_quantity = -charge.quantity if full else 0
        posted = tx.post(
            TransactionType.REFUND,
            charge.pool,
            lines,
            description=description or f"Refund of {charge_id}",
            attribution=attribution,
            linked_seq=charge.seq,
            quantity=posted_quantity,
        )
        tx.rollup(posted.created_at, charge.pool, attribution, -wanted, posted_quantity, 0)
        tx.connection.execute(
            update(schema.transfers)
            .where(transfers.account_id == tx.account_id, transfers.seq == charge.seq)
            .values(refunded=transfers.refunded + wanted)
        )
        return Refund(
            posted.transfer_id,
            charge_id,
            tx.account_id,
            Credits(wanted),
            Credits(posted.amount),
            posted.created_at,
        )

    # -- holds ----------------------------------------------------------------------------

    def hold(
        self,
        account_id: str,
        amount: Credits,
        *,
        pool: str | None = None,
        timeout_s: int = DEFAULT_HOLD_TIMEOUT_S,
        idempotency_key: str | None = None,
    ) -> Hold:
        """Reserve credits. Unused reserved credits return when released or timed out."""
        _check_hold(amount, timeout_s)
        request = {"amount": amount.millicredits, "pool": pool, "timeout_s": timeout_s}

        def body(tx: AccountTx) -> Hold:
            return self._hold_locked(tx, amount, pool, timeout_s, run_id="")

        return self._write(account_id, "hold", request, idempotency_key, Hold, body)

    def _hold_locked(
        self, tx: AccountTx, amount: Credits, pool: str | None, timeout_s: int, run_id: str
    ) -> Hold:
        target = pool or self._default_pool(tx)
        tx.check_pool(target)
        draws = tx.plan_draws(target, amount, partial=False)
        hold_id = new_id("hld_")
        expires_at = tx.now + timedelta(seconds=timeout_s)
        tx.connection.execute(
            schema.holds.insert(),
            {
                "account_id": tx.account_id,
                "hold_id": hold_id,
                "pool": target,
                "amount": amount.millicredits,
                "remaining": 0,
                "status": "active",
                "run_id": run_id,
                "created_at": tx.now,
                "expires_at": expires_at,
                "closed_at": None,
            },
        )
        lines = list(draws)
        lines += [
            Line("hold", -line.amount, grant_id=line.grant_id, hold_id=hold_id) for line in draws
        ]
        tx.post(
            TransactionType.HOLD,
            target,
            lines,
            description=f"Hold {hold_id}",
            attribution=Attribution(run_id=run_id, hold_id=hold_id),
        )
        tx.note_event(expires_at)
        return Hold(
            hold_id, tx.account_id, target, amount, amount, "active", run_id, tx.now, expires_at
        )

    def capture(
        self,
        account_id: str,
        hold_id: str,
        amount: Credits,
        *,
        function: str = "",
        user_id: str = "",
        resource_id: str = "",
        description: str = "",
        release_rest: bool = False,
        idempotency_key: str | None = None,
    ) -> Charge:
        """Spend part of a hold (at most what it holds); optionally release the rest."""
        if not amount.is_positive():
            raise ValidationError("amount must be positive", field="amount")
        for name, value in (
            ("function", function),
            ("user_id", user_id),
            ("resource_id", resource_id),
        ):
            _check_attribute(name, value)
        _check_text("description", description)
        request = {
            "hold_id": hold_id,
            "amount": amount.millicredits,
            "function": function,
            "user_id": user_id,
            "resource_id": resource_id,
            "description": description,
            "release_rest": release_rest,
        }

        def body(tx: AccountTx) -> Charge:
            hold = self._active_hold(tx, hold_id)
            if hold.run_id:
                # The run bills its hold through results, so its breakdown stays whole.
                raise StateError(
                    f"hold {hold_id} belongs to run {hold.run_id}: report "
                    "results to the run instead"
                )
            if amount.millicredits > hold.remaining:
                raise InsufficientCreditsError(hold.pool, amount.millicredits, hold.remaining)
            lines = tx.plan_draws(hold.pool, amount, partial=False, hold_id=hold_id)
            lines.append(Line("spent", amount.millicredits))
            attribution = Attribution(
                function=function,
                user_id=user_id,
                resource_id=resource_id,
                run_id=hold.run_id,
                hold_id=hold_id,
            )
            text = description or f"Captured from hold {hold_id}"
            posted = tx.post(
                TransactionType.DEDUCTION,
                hold.pool,
                lines,
                description=text,
                attribution=attribution,
                quantity=0,
            )
            tx.rollup(posted.created_at, hold.pool, attribution, amount.millicredits, 0, 1)
            if release_rest:
                tx.release_hold(hold_id, "captured", tx.now)
            return Charge(
                posted.transfer_id,
                tx.account_id,
                hold.pool,
                amount,
                amount,
                function,
                0,
                "",
                "",
                user_id,
                resource_id,
                hold.run_id,
                text,
                posted.created_at,
            )

        return self._write(account_id, "capture", request, idempotency_key, Charge, body)

    def release(self, account_id: str, hold_id: str, *, idempotency_key: str | None = None) -> Hold:
        """Give back what a hold still holds."""

        def body(tx: AccountTx) -> Hold:
            self._active_hold(tx, hold_id)
            tx.release_hold(hold_id, "released", tx.now)
            return reports.hold(tx.connection, tx.account_id, hold_id)

        return self._write(account_id, "release", {"hold_id": hold_id}, idempotency_key, Hold, body)

    def get_hold(self, account_id: str, hold_id: str) -> Hold:
        self.touch(account_id)
        return self._run(lambda c: reports.hold(c, account_id, hold_id), read_only=True)

    @staticmethod
    def _active_hold(tx: AccountTx, hold_id: str) -> Any:
        holds = schema.holds.c
        hold = tx.connection.execute(
            select(schema.holds).where(holds.account_id == tx.account_id, holds.hold_id == hold_id)
        ).first()
        if hold is None:
            raise NotFoundError("hold", hold_id)
        if hold.status != "active":
            raise StateError(f"hold {hold_id} is {hold.status}")
        return hold

    # -- estimates and runs ---------------------------------------------------------------

    def estimate(
        self,
        account_id: str,
        rate_card_id: str,
        *,
        rows: int,
        functions: Mapping[str, int] | None = None,
        success_rates_percent: Mapping[str, int] | None = None,
        active_filters: Sequence[str] = (),
    ) -> tuple[Estimate, dict[str, bool]]:
        """Quote a job and say, per pool, whether the account can afford it now."""
        self.touch(account_id)

        def transaction(connection: Connection) -> tuple[Estimate, dict[str, bool]]:
            card = self._card(connection, rate_card_id)
            quote = estimate(
                card,
                rows=rows,
                functions=functions,
                success_rates_percent=success_rates_percent,
                active_filters=tuple(active_filters),
            )
            balance = reports.balance(connection, account_id, self.now(), self._plan)
            affordable = {
                pool: (
                    balance.pools[pool].available + balance.pools[pool].overdraft_limit >= needed
                )
                if pool in balance.pools
                else not needed.is_positive()
                for pool, needed in quote.total_by_pool.items()
            }
            return quote, affordable

        return self._run(transaction, read_only=True)

    def start_run(
        self,
        account_id: str,
        rate_card_id: str,
        *,
        slots: int = 1,
        hold: Credits | None = None,
        hold_timeout_s: int = DEFAULT_HOLD_TIMEOUT_S,
        active_filters: Sequence[str] = (),
        user_id: str = "",
        resource_id: str = "",
        resource_name: str | None = None,
        idempotency_key: str | None = None,
    ) -> Run:
        """Start a run: take concurrency slots and optionally hold credits for it."""
        if not 1 <= slots <= MAX_SLOTS_PER_RUN:
            raise ValidationError(f"slots must be within 1..{MAX_SLOTS_PER_RUN}", field="slots")
        if hold is not None:
            _check_hold(hold, hold_timeout_s)
        _check_attribute("user_id", user_id)
        _check_attribute("resource_id", resource_id)
        filters = tuple(active_filters)
        if len(set(filters)) != len(filters):
            raise ValidationError("active_filters has duplicates", field="active_filters")
        request = {
            "rate_card_id": rate_card_id,
            "slots": slots,
            "hold": None if hold is None else hold.millicredits,
            "hold_timeout_s": hold_timeout_s,
            "active_filters": filters,
            "user_id": user_id,
            "resource_id": resource_id,
            "resource_name": resource_name,
        }

        def body(tx: AccountTx) -> Run:
            card = self._card(tx.connection, rate_card_id)
            for name in filters:
                card.filter(name)
            used = reports.used_slots(tx.connection, tx.account_id)
            if used + slots > tx.plan.slots:
                raise NoFreeSlotsError(slots, used, tx.plan.slots)
            run_id = new_id("", 16)
            hold_id = ""
            if hold is not None:
                hold_id = self._hold_locked(tx, hold, card.pool, hold_timeout_s, run_id).hold_id
            tx.connection.execute(
                schema.runs.insert(),
                {
                    "account_id": tx.account_id,
                    "run_id": run_id,
                    "rate_card_id": rate_card_id,
                    "rate_card": card_to_body(card),
                    "status": "running",
                    "slots": slots,
                    "hold_id": hold_id,
                    "active_filters": list(filters),
                    "user_id": user_id,
                    "resource_id": resource_id,
                    "rows_kept": 0,
                    "rows_discarded": {},
                    "charged": 0,
                    "started_at": tx.now,
                    "finished_at": None,
                },
            )
            if resource_name is not None and resource_id:
                upsert_set(
                    tx.connection,
                    schema.resources,
                    {"account_id": tx.account_id, "resource_id": resource_id},
                    {"name": resource_name},
                )
            return reports.run(tx.connection, tx.account_id, run_id)

        return self._write(account_id, "start_run", request, idempotency_key, Run, body)

    def report_results(
        self,
        account_id: str,
        run_id: str,
        *,
        rows_kept: int,
        rows_discarded: Mapping[str, int] | None = None,
        functions: Mapping[str, tuple[int, int]] | None = None,
        idempotency_key: str | None = None,
    ) -> Run:
        """Bill a batch of a run's results: kept rows at the base rate and per active paid
        filter, each function's successes at its rate. Rows discarded by filters are
        recorded and never billed. A batch the account cannot pay is refused whole and the
        run is paused; report it again once credits are added."""
        discarded = dict(rows_discarded or {})
        attempts = {name: (int(a), int(s)) for name, (a, s) in (functions or {}).items()}
        if not 0 <= rows_kept <= MAX_QUANTITY:
            raise ValidationError(f"rows_kept must be within 0..{MAX_QUANTITY}", field="rows_kept")
        if any(not 0 <= count <= MAX_QUANTITY for count in discarded.values()):
            raise ValidationError(
                "rows_discarded counts must not be negative", field="rows_discarded"
            )
        request = {
            "run_id": run_id,
            "rows_kept": rows_kept,
            "rows_discarded": discarded,
            "functions": {name: list(pair) for name, pair in attempts.items()},
        }

        def body(tx: AccountTx) -> Run:
            return self._results_locked(tx, run_id, rows_kept, discarded, attempts)

        try:
            return self._write(account_id, "report_results", request, idempotency_key, Run, body)
        except InsufficientCreditsError:
            self._pause_run(account_id, run_id)
            raise

    def _results_locked(
        self,
        tx: AccountTx,
        run_id: str,
        rows_kept: int,
        discarded: dict[str, int],
        attempts: dict[str, tuple[int, int]],
    ) -> Run:
        run = reports.run_row(tx.connection, tx.account_id, run_id)
        if run.status not in RUN_ACTIVE:
            raise StateError(f"run {run_id} is {run.status}")
        card = card_from_body(run.rate_card)
        for name in discarded:
            card.filter(name)
        lines = price_results(
            card, rows_kept=rows_kept, functions=attempts, active_filters=tuple(run.active_filters)
        )
        hold_id = (
            run.hold_id
            if run.hold_id and reports.hold_is_active(tx.connection, tx.account_id, run.hold_id)
            else ""
        )
        needed: dict[str, int] = {}
        for line in lines:
            needed[line.pool] = needed.get(line.pool, 0) + line.amount.millicredits
        for pool, amount in needed.items():
            tx.check_pool(pool)
            # Affordability of the whole batch first: it is billed whole or not at all.
            tx.plan_draws(
                pool, Credits(amount), partial=False, hold_id=hold_id if pool == card.pool else ""
            )
        for line in lines:
            self._bill_line(tx, run, card, line, hold_id if line.pool == card.pool else "")
        merged = dict(run.rows_discarded)
        for name, count in discarded.items():
            merged[name] = merged.get(name, 0) + count
        runs = schema.runs.c
        tx.connection.execute(
            update(schema.runs)
            .where(runs.account_id == tx.account_id, runs.run_id == run_id)
            .values(
                status="running",
                rows_kept=runs.rows_kept + rows_kept,
                rows_discarded=merged,
                charged=runs.charged + sum(line.amount.millicredits for line in lines),
            )
        )
        return reports.run(tx.connection, tx.account_id, run_id)

    def _bill_line(self, tx: AccountTx, run: Any, card: RateCard, line: Any, hold_id: str) -> None:
        from creditbook.store.queries import upsert_add

        upsert_add(
            tx.connection,
            schema.run_lines,
            {
                "account_id": tx.account_id,
                "run_id": run.run_id,
                "kind": line.kind,
                "name": line.name,
            },
            {
                "attempts": line.attempts,
                "quantity": line.quantity,
                "amount": line.amount.millicredits,
            },
        )
        if not line.amount.is_positive():
            return
        function = line.name if line.kind == "function" else f"filter:{line.name}"
        draws = tx.plan_draws(line.pool, line.amount, partial=False, hold_id=hold_id)
        draws.append(Line("spent", line.amount.millicredits))
        attribution = Attribution(
            function, card.module, card.service, run.user_id, run.resource_id, run.run_id, hold_id
        )
        posted = tx.post(
            TransactionType.DEDUCTION,
            line.pool,
            draws,
            attribution=attribution,
            quantity=line.quantity,
            description=f"Run {run.run_id}: {_describe(function, line.quantity, 0)}",
        )
        tx.rollup(
            posted.created_at, line.pool, attribution, line.amount.millicredits, line.quantity, 1
        )

    def _pause_run(self, account_id: str, run_id: str) -> None:
        def transaction(connection: Connection) -> None:
            runs = schema.runs.c
            connection.execute(
                update(schema.runs)
                .where(
                    runs.account_id == account_id, runs.run_id == run_id, runs.status == "running"
                )
                .values(status="paused")
            )

        self._run(transaction)

    def finish_run(
        self, account_id: str, run_id: str, *, idempotency_key: str | None = None
    ) -> Run:
        """Settle a run: release its unused hold and free its slots."""

        def body(tx: AccountTx) -> Run:
            run = reports.run_row(tx.connection, tx.account_id, run_id)
            if run.status not in RUN_ACTIVE:
                raise StateError(f"run {run_id} is {run.status}")
            if run.hold_id and reports.hold_is_active(tx.connection, tx.account_id, run.hold_id):
                tx.release_hold(run.hold_id, "released", tx.now)
            runs = schema.runs.c
            tx.connection.execute(
                update(schema.runs)
                .where(runs.account_id == tx.account_id, runs.run_id == run_id)
                .values(status="finished", finished_at=tx.now)
            )
            return reports.run(tx.connection, tx.account_id, run_id)

        return self._write(account_id, "finish_run", {"run_id": run_id}, idempotency_key, Run, body)

    def get_run(self, account_id: str, run_id: str) -> Run:
        return self._run(lambda c: reports.run(c, account_id, run_id), read_only=True)

    def runs(self, account_id: str, *, limit: int = 50, cursor: str | None = None) -> RunPage:
        """Runs newest first, `limit` (at most 100) a page; give the previous page's
        `next_cursor` as `cursor` for the next (stable while runs start)."""
        return self._run(lambda c: reports.runs(c, account_id, limit, cursor), read_only=True)

    def list_runs(self, account_id: str, *, limit: int = 50) -> list[Run]:
        """The latest `limit` runs: the first page of `runs`."""
        return self.runs(account_id, limit=limit).data

    def run_breakdown(self, account_id: str, run_id: str) -> RunBreakdown:
        return self._run(lambda c: reports.run_breakdown(c, account_id, run_id), read_only=True)

    # -- reports --------------------------------------------------------------------------

    def touch(self, account_id: str) -> None:
        """Apply what is due on an account (resets, rollovers, expiries) if anything is."""
        now = self.now()
        accounts = schema.accounts.c
        due = self._run(
            lambda c: c.execute(
                select(accounts.next_event_at).where(accounts.account_id == account_id)
            ).scalar(),
            read_only=True,
        )
        if due is None:
            raise NotFoundError("account", account_id)
        if due <= now:
            self._write(account_id, "touch", {}, None, type(None), lambda tx: None)

    def balance(
        self, account_id: str, *, at: datetime | None = None, draws: bool = False
    ) -> Balance:
        """Credits per pool now, or as they were at a past instant. `draws` adds what was
        drawn in the period per source (`PoolBalance.drawn_by_source`; one more read, of
        the period's entries on bonus, rollover, top-up and adjustment grants)."""
        self.touch(account_id)
        when = self.now() if at is None else check_instant("at", at)
        return self._run(
            lambda c: reports.balance(
                c, account_id, when, self._plan, replay=at is not None, draws=draws
            ),
            read_only=True,
        )

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
        query = reports.TransactionQuery.build(limit, cursor, offset, types, since, until)
        return self._run(lambda c: reports.transactions(c, account_id, query), read_only=True)

    def stats(self, account_id: str, start: date, end: date, *, group_by: str = "day") -> Stats:
        """Spend between two local dates (inclusive) from rollups, with the previous range,
        buckets by day, ISO week or month, runs started in the range, and when the account
        runs out at its trailing 7- and 30-day burn."""
        self.touch(account_id)
        now = self.now()

        def transaction(connection: Connection) -> Stats:
            result = reports.stats(connection, account_id, start, end, group_by)
            balance = reports.balance(connection, account_id, now, self._plan)
            return replace(
                result,
                forecast=reports.forecast(connection, account_id, balance, now),
                plan=reports.stats_plan(self._plan(connection, balance.plan_id), balance),
            )

        return self._run(transaction, read_only=True)

    # -- API keys and lookups ---------------------------------------------------------------

    def create_key(
        self,
        account_id: str | None,
        *,
        scope: Scope | str = Scope.READ,
        user_id: str = "",
        name: str = "",
        idempotency_key: str | None = None,
    ) -> IssuedKey:
        """Issue an API key: an operator key (account_id None) or an account key.

        The secret is returned once and stored only as a hash.
        """
        scope = Scope(scope)
        if (scope is Scope.OPERATOR) != (account_id is None):
            raise ValidationError(
                "operator keys have no account; account keys need one", field="scope"
            )
        _check_attribute("user_id", user_id)
        _check_text("name", name, schema.NAME)
        request = {"scope": scope.value, "user_id": user_id, "name": name}
        if account_id is None:
            return self._run(lambda c: keys.insert(c, None, scope, user_id, name, self.now()))

        def body(tx: AccountTx) -> IssuedKey:
            return keys.insert(tx.connection, tx.account_id, scope, user_id, name, tx.now)

        issued = self._write(
            account_id,
            "create_key",
            request,
            idempotency_key,
            IssuedKey,
            body,
            remember=lambda result: replace(result, secret=None),
        )
        return issued

    def revoke_key(self, key_id: str) -> ApiKey:
        """Revoke a key now. Idempotent: a revoked key is answered as it is, unchanged."""
        return self._run(lambda c: keys.revoke(c, key_id, self.now()))

    def get_key(self, key_id: str) -> ApiKey:
        return self._run(lambda c: keys.get(c, key_id), read_only=True)

    def list_keys(self, account_id: str | None) -> list[ApiKey]:
        return self._run(lambda c: keys.of_account(c, account_id), read_only=True)

    def authenticate(self, token: str) -> ApiKey:
        """The key behind a token; AuthenticationError (unknown) or KeyRevokedError."""
        return self._run(lambda c: keys.authenticate(c, token), read_only=True)

    def end_session(self, key_id: str, session_id: str, *, lifetime_s: int) -> None:
        """Sign a dashboard session of `key_id` out for good: `is_session_ended` answers
        True for it from now on. `lifetime_s` is the session's longest life; the record is
        kept that long, after which the session's cookie has expired anyway."""
        if not 1 <= lifetime_s <= MAX_SESSION_LIFETIME_S:
            raise ValidationError(
                f"a session lives within 1..{MAX_SESSION_LIFETIME_S} s", field="lifetime_s"
            )
        sessions.check_session_id(session_id)
        now = self.now()
        expires_at = now + timedelta(seconds=lifetime_s)

        def transaction(connection: Connection) -> None:
            key = keys.get(connection, key_id)
            sessions.end(connection, key.account_id, session_id, key_id, now, expires_at)

        self._run(transaction)

    def is_session_ended(self, key: ApiKey, session_id: str) -> bool:
        """Whether this session of `key` has signed out (see `end_session`)."""
        return self._run(lambda c: sessions.is_ended(c, key.account_id, session_id), read_only=True)

    def account_of_charge(self, charge_id: str) -> str:
        transfers = schema.transfers.c
        account_id = self._run(
            lambda c: c.execute(
                select(transfers.account_id).where(
                    transfers.transfer_id == charge_id,
                    transfers.type == TransactionType.DEDUCTION.value,
                )
            ).scalar(),
            read_only=True,
        )
        if account_id is None:
            raise NotFoundError("charge", charge_id)
        return str(account_id)

    def account_of_run(self, run_id: str) -> str:
        runs = schema.runs.c
        account_id = self._run(
            lambda c: c.execute(select(runs.account_id).where(runs.run_id == run_id)).scalar(),
            read_only=True,
        )
        if account_id is None:
            raise NotFoundError("run", run_id)
        return str(account_id)

    # -- sweeper and verification ---------------------------------------------------------

    def tick(self, *, limit: int = 1000) -> int:
        """Catch up accounts with something due; returns how many were touched."""
        now = self.now()
        accounts = schema.accounts.c
        due = self._run(
            lambda c: (
                c.execute(
                    select(accounts.account_id)
                    .where(accounts.next_event_at <= now)
                    .order_by(accounts.next_event_at)
                    .limit(limit)
                )
                .scalars()
                .all()
            ),
            read_only=True,
        )
        for account_id in due:
            self._write(account_id, "touch", {}, None, type(None), lambda tx: None)
        return len(due)

    def verify(self, account_id: str | None = None) -> VerifyReport:
        """Replay entries and compare every stored balance; list every difference."""
        return self._run(lambda c: reports.verify(c, account_id), read_only=True)

    def count_entries(self, account_id: str | None = None) -> int:
        """How many ledger lines one account (or the whole ledger) has."""
        return self._run(lambda c: reports.entry_count(c, account_id), read_only=True)

    def iter_entries(self, account_id: str | None = None, *, batch: int = 1000) -> Iterator[Entry]:
        """Every ledger line of one account (or all), in (account, seq, line) order, read
        `batch` at a time, each batch in its own short read: memory stays at one batch
        however long the ledger, and writers are never held up."""
        after: reports.EntryKey | None = None
        while True:
            read = functools.partial(
                reports.entry_batch, account_id=account_id, after=after, batch=batch
            )
            found = self._run(read, read_only=True)
            yield from found
            if len(found) < batch:
                return
            last = found[-1]
            after = (last.account_id, last.seq, last.line)


def _check_hold(amount: Credits, timeout_s: int) -> None:
    if not amount.is_positive():
        raise ValidationError("hold amount must be positive", field="amount")
    if not 1 <= timeout_s <= MAX_HOLD_TIMEOUT_S:
        raise ValidationError(
            f"hold timeout must be within 1..{MAX_HOLD_TIMEOUT_S} s", field="timeout_s"
        )


def _charge_fields(request: ChargeRequest) -> dict[str, Any]:
    fields = asdict(request)
    fields.pop("idempotency_key")
    fields["amount"] = None if request.amount is None else request.amount.millicredits
    return fields


def _describe(function: str, quantity: int, charged: int) -> str:
    if function:
        return f"{function} x {quantity}" if quantity else function
    return f"Charge of {Credits(charged)} credits"


__all__ = ["ChargeRequest", "Ledger"]
