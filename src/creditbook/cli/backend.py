"""The seam between commands and where they run: one interface, two backends.

A command is written once against `Backend`. `LocalBackend` calls the `Ledger` on a
database; `RemoteBackend` calls a server through the SDK. Both take the API's request models
(`creditbook.wire`) — so input is validated the same way in both modes — and both
return the API's JSON shapes as plain dicts (exact Decimals, RFC 3339 strings), so output
is the same too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from creditbook.cli.errors import CliError
from creditbook.cli.target import Target
from creditbook.domain.errors import InvariantError
from creditbook.wire.accounts import AccountCreate
from creditbook.wire.alerts import AlertsBody
from creditbook.wire.charges import ChargeCreate
from creditbook.wire.grants import GrantCreate
from creditbook.wire.keys import KeyCreate
from creditbook.wire.payments import AutoRechargeBody, CheckoutBody, CreditPackBody
from creditbook.wire.plans import PlanBody
from creditbook.wire.rate_cards import RateCardBody

Json = dict[str, Any]
# The API's page size cap: every paged walk asks for full pages.
PAGE_SIZE = 100


@dataclass(frozen=True, slots=True)
class TransactionFilter:
    """One page request of an account's history.

    Attributes:
        limit: page size, 1..100.
        cursor: the `next_cursor` of the previous page.
        types: transaction types to list (empty: the customer-visible ones).
        since, until: inclusive bounds on the creation time.
    """

    limit: int = 50
    cursor: str | None = None
    types: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None


class Backend(Protocol):
    mode: str

    def own_account(self) -> str | None:
        """The account of the key in use (remote, account key); None otherwise."""
        ...

    def list_plans(self) -> list[Json]: ...
    def put_plan(self, plan_id: str, body: PlanBody) -> Json: ...
    def list_rate_cards(self) -> list[Json]: ...
    def put_rate_card(self, rate_card_id: str, body: RateCardBody) -> Json: ...
    def list_accounts(self) -> Iterator[Json]: ...
    def create_account(self, body: AccountCreate, idempotency_key: str | None) -> Json: ...
    def get_account(self, account_id: str) -> Json: ...
    def create_key(self, account_id: str | None, body: KeyCreate) -> Json: ...
    def revoke_key(self, key_id: str) -> Json: ...
    def grant(self, account_id: str, body: GrantCreate, idempotency_key: str | None) -> Json: ...
    def charge(self, account_id: str, body: ChargeCreate, idempotency_key: str | None) -> Json: ...
    def list_runs(self, account_id: str, limit: int, cursor: str | None) -> Json: ...
    def get_run(self, run_id: str) -> Json: ...
    def run_credits(self, run_id: str) -> Json: ...
    def balance(self, account_id: str, at: datetime | None) -> Json: ...
    def transactions(self, account_id: str, query: TransactionFilter) -> Json: ...
    def transaction_count(self, account_id: str, query: TransactionFilter) -> int | None: ...
    def stats(self, account_id: str, start: date, end: date, group_by: str) -> Json: ...
    def verify(self, account_id: str | None) -> Json: ...
    def list_events(
        self, account_id: str | None, types: tuple[str, ...], limit: int, cursor: str | None
    ) -> Json: ...
    def get_alerts(self, account_id: str) -> Json: ...
    def put_alerts(self, account_id: str, body: AlertsBody) -> Json: ...
    def list_packs(self) -> list[Json]: ...
    def put_pack(self, pack_id: str, body: CreditPackBody) -> Json: ...
    def checkout(
        self, account_id: str, body: CheckoutBody, idempotency_key: str | None
    ) -> Json: ...
    def get_auto_recharge(self, account_id: str) -> Json: ...
    def set_auto_recharge(self, account_id: str, body: AutoRechargeBody | None) -> Json:
        """Set an account's auto-recharge; None removes it."""
        ...

    def list_payments(self, account_id: str, limit: int, cursor: str | None) -> Json: ...


def walk_pages(fetch: Callable[[str | None], Json], cursor: str | None) -> Iterator[Json]:
    """Every item of a paged list from `cursor` on, one page in memory at a time."""
    while True:
        page = fetch(cursor)
        yield from page["data"]
        if not page["has_more"] or not page["next_cursor"]:
            return
        cursor = page["next_cursor"]


def iter_transactions(
    backend: Backend, account_id: str, query: TransactionFilter
) -> Iterator[Json]:
    """Every transaction from `query.cursor` on, newest first."""
    page_query = replace(query, limit=PAGE_SIZE)

    def fetch(cursor: str | None) -> Json:
        return backend.transactions(account_id, replace(page_query, cursor=cursor))

    return walk_pages(fetch, query.cursor)


def iter_runs(backend: Backend, account_id: str, cursor: str | None) -> Iterator[Json]:
    """Every run from `cursor` on, newest first."""
    return walk_pages(lambda after: backend.list_runs(account_id, PAGE_SIZE, after), cursor)


def iter_events(
    backend: Backend, account_id: str | None, types: tuple[str, ...], cursor: str | None
) -> Iterator[Json]:
    """Every event from `cursor` on, newest first."""
    return walk_pages(
        lambda after: backend.list_events(account_id, types, PAGE_SIZE, after), cursor
    )


def iter_payments(backend: Backend, account_id: str, cursor: str | None) -> Iterator[Json]:
    """Every purchase from `cursor` on, newest first."""
    return walk_pages(lambda after: backend.list_payments(account_id, PAGE_SIZE, after), cursor)


def missing_database(database_url: str) -> Path | None:
    """The file of a SQLite URL when that file does not exist (None otherwise)."""
    try:
        url = make_url(database_url)
    except ArgumentError:
        return None  # reported when the ledger opens it
    name = url.database
    if not url.drivername.startswith("sqlite") or not name or name == ":memory:":
        return None
    if name.startswith("file:"):
        return None
    path = Path(name)
    return None if path.exists() else path.resolve()


@contextmanager
def open_backend(
    target: Target, *, read_only: bool = False, stripe: bool = False
) -> Iterator[Backend]:
    """The backend of a target, closed (connections released) when the command ends.

    A read-only command (`read_only`) refuses a SQLite database that does not exist rather
    than creating an empty one: write commands, `migrate`, `init` and `serve` create it.
    A command that calls Stripe (`stripe`) reads the `CREDITBOOK_STRIPE_*` settings in local
    mode, as the server does; the other commands never read them.
    """
    if target.is_remote:
        from creditbook.cli.remote import RemoteBackend

        remote = RemoteBackend.connect(target)
        try:
            yield remote
        finally:
            remote.close()
        return
    from creditbook.cli.local import LocalBackend

    if target.database_url is None:
        raise InvariantError("a local target without a database URL")
    missing = missing_database(target.database_url) if read_only else None
    if missing is not None:
        raise CliError(
            "usage",
            f"no database at {target.database_url} ({missing}, from {target.source}): "
            "create it with `creditbook init` or `creditbook migrate`, or choose another "
            "with --database-url",
        )
    local = LocalBackend.open(target.database_url, stripe=stripe)
    try:
        yield local
    finally:
        local.close()
