"""Deferred writes: charges and batches collect their transfers, entries, grant changes and
rollups on each locked account, and `flush_all` writes them together — on PostgreSQL in one
statement, on SQLite one executemany per table. Rollups outside deferred mode are written
at once."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from creditbook.domain.errors import invariant
from creditbook.domain.periods import local_date
from creditbook.engine.account.lines import Attribution, Line
from creditbook.store.queries import deferred, ledger_state
from creditbook.store.queries.ledger_state import ROLLUP_KEYS

if TYPE_CHECKING:
    from creditbook.engine.account.state import AccountTx


def defer_post(
    tx: AccountTx,
    pool: str,
    lines: list[Line],
    transfer: dict[str, Any],
    entries: list[dict[str, Any]],
) -> None:
    """Keep a posted transfer for flush_all, and keep the cached open grants current."""
    tx.pending_transfers.append(transfer)
    tx.pending_entries.extend(entries)
    cached = tx.grant_cache.get(pool)
    for line in lines:
        if line.book != "grant":
            continue
        tx.grant_deltas[line.grant_id] = tx.grant_deltas.get(line.grant_id, 0) + line.amount
        view = None if cached is None else cached.get(line.grant_id)
        if cached is None or view is None:
            tx.grant_cache = {}  # a grant the cache does not know: read again
            cached = None
            continue
        cached[line.grant_id] = view.with_remaining(view.remaining.millicredits + line.amount)


def rollup(
    tx: AccountTx,
    at: datetime,
    pool: str,
    attribution: Attribution,
    amount: int,
    quantity: int,
    charges: int,
) -> None:
    """Add to the account's rollup of the local day of `at` (kept for flush_all when
    deferred)."""
    day: date = local_date(at, tx.timezone)
    if tx.deferred:
        key = (
            day,
            pool,
            attribution.function,
            attribution.module,
            attribution.service,
            attribution.user_id,
            attribution.resource_id,
        )
        sums = tx.rollups.setdefault(key, [0, 0, 0])
        sums[0] += amount
        sums[1] += quantity
        sums[2] += charges
        return
    ledger_state.add_rollup(
        tx.connection,
        {
            "account_id": tx.account_id,
            "day": day,
            "pool": pool,
            "function": attribution.function,
            "module": attribution.module,
            "service": attribution.service,
            "user_id": attribution.user_id,
            "resource_id": attribution.resource_id,
        },
        {"amount": amount, "quantity": quantity, "charges": charges},
    )


def flush_all(txs: list[AccountTx]) -> None:
    """Write what deferred transactions collected and leave deferred mode: on PostgreSQL in
    one statement, on SQLite one executemany per table."""
    if not txs:
        return
    writes = _collected(txs)
    if not writes.transfers:
        return
    updated = deferred.flush(txs[0].connection, writes)
    invariant(updated in (-1, len(writes.deltas)), "an entry names a missing grant")


def flush_guarded(tx: AccountTx, version: str) -> bool:
    """Write what one deferred transaction on an account read by `hot.peek` collected, with
    the account's last transfer number, in one statement, only if the account row is still
    the `version` read (see `deferred.flush_guarded`); leave deferred mode. False: the
    account changed since, and nothing was written."""
    writes = _collected([tx])
    if not writes.transfers:
        return True
    guard = deferred.Guard(tx.account_id, version, tx.last_seq())
    updated = deferred.flush_guarded(tx.connection, writes, guard)
    if updated is None:
        return False
    invariant(updated == len(writes.deltas), "an entry names a missing grant")
    return True


def _collected(txs: list[AccountTx]) -> deferred.Writes:
    """What the transactions collected, as one flush writes it; they leave deferred mode."""
    transfers = [row for tx in txs for row in tx.pending_transfers]
    entries = [row for tx in txs for row in tx.pending_entries]
    deltas = [
        (tx.account_id, grant_id, amount)
        for tx in txs
        for grant_id, amount in tx.grant_deltas.items()
        if amount
    ]
    rollups = [
        {
            "account_id": tx.account_id,
            **dict(zip(ROLLUP_KEYS, key, strict=True)),
            "amount": sums[0],
            "quantity": sums[1],
            "charges": sums[2],
        }
        for tx in txs
        for key, sums in tx.rollups.items()
    ]
    keys = [row for tx in txs for row in tx.pending_keys.values()]
    for tx in txs:
        _leave_deferred(tx)
    return deferred.Writes(transfers, entries, rollups, deltas, keys)


def _leave_deferred(tx: AccountTx) -> None:
    tx.pending_transfers = []
    tx.pending_entries = []
    tx.grant_deltas = {}
    tx.rollups = {}
    tx.pending_keys = {}
    # What each pool drawn on holds now, for the alerts evaluated at the end (the cache was
    # kept current with every draw): saves reading the grants again.
    tx.known_available = {
        pool: sum(view.remaining.millicredits for view in views.values())
        for pool, views in tx.grant_cache.items()
    }
    tx.grant_cache = {}
    tx.prefetched = None  # the flush changed the grants
    tx.deferred = False
