"""Helpers for the concurrency tests: operations run together on threads, in this process
or in worker processes.

Worker processes are started with 'spawn', so everything they run is a top-level function
of this module. Each worker process keeps one Ledger (its own engine) for the database it
was last given and reuses it across rounds.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from creditbook import ChargeRequest, CreditbookError, Credits, Ledger, ManualClock
from creditbook.store.database import make_engine

# The fixed instant every test ledger runs at (the conftest's START): no period boundary
# is crossed while the tests run.
FIXED_NOW = datetime(2025, 1, 1, tzinfo=UTC)
BARRIER_TIMEOUT_S = 60.0
MAX_THREADS = 32  # writer threads per worker process (each with its own connection)

# An operation: (kind, arguments). Amounts travel as millicredits so they pickle plainly.
Op = tuple[str, dict[str, Any]]
# An outcome: ("ok", ...details), ("error", error class name) or ("crash", repr of error).
Outcome = tuple[Any, ...]


def perform(ledger: Ledger, op: Op) -> Outcome:
    """Run one operation and describe what happened, in plain picklable values."""
    kind, args = op
    try:
        if kind == "charge":
            fields = dict(args)
            fields["amount"] = Credits(fields["amount"])
            charge = ledger.charge(**fields)
            return ("ok", charge.charge_id, charge.replayed, charge.amount.millicredits)
        if kind == "open_account":
            account = ledger.open_account(**args)
            return ("ok", account.account_id, account.replayed)
        if kind == "batch":
            items = [
                ChargeRequest(**{**item, "amount": Credits(item["amount"])})
                for item in args["items"]
            ]
            results = ledger.charge_batch(items)
            return (
                "ok",
                tuple(
                    (result.charge.account_id, result.charge.amount.millicredits)
                    if result.charge is not None
                    else (items[result.index].account_id, result.error_code)
                    for result in results
                ),
            )
        raise AssertionError(f"unknown operation {kind!r}")
    except CreditbookError as error:
        return ("error", type(error).__name__)
    except Exception as error:  # reported to the test, which fails on it
        return ("crash", repr(error))


def run_at_once(
    ledger: Ledger, writers: Sequence[Sequence[Op]], release: Callable[[], object] = lambda: None
) -> list[list[Outcome]]:
    """One thread per writer, each running its operations in turn; all are let go together
    once `release()` returns. Outcomes per writer, in the same order."""
    go = threading.Event()
    aborted: list[str] = []
    outcomes: list[list[Outcome]] = [[] for _ in writers]

    def write(number: int) -> None:
        go.wait()
        for op in writers[number]:
            outcome = ("crash", aborted[0]) if aborted else perform(ledger, op)
            outcomes[number].append(outcome)

    threads = [threading.Thread(target=write, args=(number,)) for number in range(len(writers))]
    for thread in threads:
        thread.start()
    try:
        release()
    except Exception as error:
        aborted.append(f"not released: {error!r}")
    finally:
        go.set()
    for thread in threads:
        thread.join()
    return outcomes


# -- worker processes -------------------------------------------------------------------------

_barrier: Any = None  # a multiprocessing Barrier with one party per worker process
_ledger: Ledger | None = None
_ledger_url: str | None = None


def init_worker(barrier: Any) -> None:
    global _barrier
    _barrier = barrier


def _close_ledger() -> None:
    global _ledger, _ledger_url
    if _ledger is not None:
        _ledger.close()
    _ledger, _ledger_url = None, None


def _ledger_for(url: str) -> Ledger:
    global _ledger, _ledger_url
    if _ledger_url != url:
        _close_ledger()
        engine = make_engine(url, pool_size=MAX_THREADS, max_overflow=0)
        _ledger, _ledger_url = Ledger(engine, ManualClock(FIXED_NOW)), url
    assert _ledger is not None
    return _ledger


def process_round(url: str, writers: Sequence[Sequence[Op]]) -> list[list[Outcome]]:
    """In a worker process: run the writers on threads, starting when every worker is ready.

    Submit exactly one of these per worker process: each blocks at the barrier until all
    the workers hold one, so no worker can take two.
    """
    assert len(writers) <= MAX_THREADS, "one connection per writer"
    ledger = _ledger_for(url)
    return run_at_once(ledger, writers, lambda: _barrier.wait(BARRIER_TIMEOUT_S))


def close_worker(_: object = None) -> None:
    """In a worker process: dispose of its engine (one call per worker, as above)."""
    _barrier.wait(BARRIER_TIMEOUT_S)
    _close_ledger()
