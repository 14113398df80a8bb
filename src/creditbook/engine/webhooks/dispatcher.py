"""The webhook dispatcher: turns events into deliveries and delivers them.

Every round it (a) fans out the events not yet dispatched, oldest first, into one delivery
per matching enabled endpoint (see `delivery.fan_out`) and one auto-recharge per crossing of
a recharge threshold, (b) asks Stripe for the due recharges' payments (when the ledger has a
Stripe key), then (c) starts the deliveries that are due. Deliveries queue per (endpoint,
account): only the lowest-sequence pending delivery of a queue is ever in flight, so an
endpoint receives an account's events in sequence order. Different queues go concurrently,
at most `concurrency` at once, each request within `timeout_s`. A worker that delivered one
event goes on with the next of the same queue.

Delivery is at least once: an attempt is recorded after the receiver answered, so a
dispatcher killed in between sends that event again (with the same `webhook-id`).

One dispatcher runs per database. On PostgreSQL it holds an advisory lock; the others wait
and take over when the holder stops. On SQLite it holds an exclusive lock on a file beside
the database (`<database>.webhooks.lock`), which the system lets go when the process ends,
however it ends. The dispatcher runs beside the ledger's writers and never takes an
account lock: a slow receiver never slows a charge.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from creditbook.domain.errors import CreditbookError, invariant
from creditbook.domain.webhooks import DEFAULT_CONCURRENCY, DEFAULT_TIMEOUT_S, MAX_CONCURRENCY
from creditbook.engine.clock import Clock
from creditbook.engine.context import Context
from creditbook.engine.group_commit import GroupCommitSettings, GroupWriter
from creditbook.engine.locking import ProcessLock
from creditbook.engine.webhooks import delivery
from creditbook.store.queries import sweeper_lock
from creditbook.store.queries import webhooks as queries

log = logging.getLogger("creditbook.webhooks")

DEFAULT_POLL_INTERVAL_S = 1.0
FAN_OUT_BATCH = 500
LOCK_SUFFIX = ".webhooks.lock"  # beside a SQLite database

Queue = tuple[str, str]  # (endpoint_id, account_id)


@dataclass(frozen=True, slots=True)
class DispatcherOptions:
    """How the dispatcher runs.

    Attributes:
        concurrency: the most deliveries in flight at once (one per queue).
        timeout_s: how long one request may take, connecting included.
        poll_interval_s: how often it looks for new events and due retries when idle.
        allow_private: http and private addresses allowed (see `urls.py`).
    """

    concurrency: int = DEFAULT_CONCURRENCY
    timeout_s: float = DEFAULT_TIMEOUT_S
    poll_interval_s: float = DEFAULT_POLL_INTERVAL_S
    allow_private: bool = False


class Dispatcher:
    """Delivers webhooks of one database: `start()` in a daemon thread (as a server runs
    it), `run()` in the calling thread until `stop()`, or `drain()` until nothing is due."""

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        options: DispatcherOptions,
        recharges: Callable[[], int] | None = None,
    ) -> None:
        """`recharges` asks Stripe for the payments of due auto-recharges, every round."""
        invariant(1 <= options.concurrency <= MAX_CONCURRENCY, "concurrency out of range")
        invariant(options.timeout_s > 0 and options.poll_interval_s > 0, "bad dispatcher timing")
        self.options = options
        self._recharges = recharges
        # Its own context: its writes never join the ledger's group commits, but the
        # attempts its workers record at once share one commit (one fsync, not one each).
        self._context = Context(engine, clock)
        self._context.writer = GroupWriter(
            self._context, GroupCommitSettings(True, options.concurrency, 0.0)
        )
        self._http = httpx.Client(
            follow_redirects=False,
            limits=httpx.Limits(max_connections=options.concurrency),
            trust_env=False,
        )
        self._pool = ThreadPoolExecutor(options.concurrency, "creditbook-webhook")
        self._in_flight: set[Queue] = set()
        self._guard = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._rng = random.Random()
        self._thread: threading.Thread | None = None
        self._lock = ProcessLock(
            engine, "webhook dispatcher", sweeper_lock.DISPATCHER_LOCK_KEY, LOCK_SUFFIX, log
        )
        self.delivered = 0
        self.failed_attempts = 0

    # -- running ------------------------------------------------------------------------------

    def start(self) -> None:
        """Run in a daemon thread until `stop()`."""
        self._thread = threading.Thread(target=self.run, name="creditbook-webhooks", daemon=True)
        self._thread.start()

    def run(self) -> None:
        """Deliver until `stop()`, while this process holds the dispatcher's lock."""
        log.info(
            "webhook dispatcher started (%s at once, %g s timeout, polling every %g s)",
            self.options.concurrency,
            self.options.timeout_s,
            self.options.poll_interval_s,
        )
        try:
            while not self._stop.is_set():
                self._wake.clear()
                try:
                    if self._holds_lock():
                        self.step()
                except (SQLAlchemyError, CreditbookError) as error:
                    log.warning("webhook round failed, retrying: %s", error)
                    self._release()
                self._wake.wait(self.options.poll_interval_s)
        finally:
            self._pool.shutdown(wait=True)
            self._release()

    def stop(self) -> None:
        """Stop: deliveries in flight finish (within their timeout), then the lock goes."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=self.options.timeout_s + 30)
        self._pool.shutdown(wait=True)
        self._http.close()
        self._release()
        log.info(
            "webhook dispatcher stopped (%s delivered, %s failed attempts)",
            self.delivered,
            self.failed_attempts,
        )

    def drain(self, timeout_s: float = 60.0) -> bool:
        """Round after round in this thread (without the lock), until no delivery is due or
        in flight; False when `timeout_s` passed first. For tests and benchmarks."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self._wake.clear()
            started = self.step()
            with self._guard:
                busy = bool(self._in_flight)
            if not busy and not started:
                return True
            self._wake.wait(0.05)
        return False

    def step(self) -> int:
        """One round: fan out every new event, start the due deliveries of queues not in
        flight (up to the free capacity). How many queues it started."""
        while delivery.fan_out(self._context, FAN_OUT_BATCH) == FAN_OUT_BATCH:
            if self._stop.is_set():
                return 0
        if self._recharges is not None:
            try:
                self._recharges()
            except Exception:  # a recharge that fails unexpectedly stays due: next round
                log.exception("auto-recharge round failed; its recharges stay due")
        with self._guard:
            free = self.options.concurrency - len(self._in_flight)
            busy = len(self._in_flight)
        if free <= 0 or self._stop.is_set():
            return 0
        now = self._context.now()
        heads = self._context.run(lambda c: queries.due_heads(c, now, free + busy), read_only=True)
        started = 0
        for head in heads:
            queue = (head.endpoint_id, head.account_id)
            with self._guard:
                if queue in self._in_flight or len(self._in_flight) >= self.options.concurrency:
                    continue
                self._in_flight.add(queue)
            self._pool.submit(self._work, queue, head)
            started += 1
        return started

    # -- one queue ----------------------------------------------------------------------------

    def _work(self, queue: Queue, head: Any) -> None:
        """Deliver a queue's due deliveries in order, until one fails or none is due."""
        try:
            while head is not None and not self._stop.is_set():
                head = self._deliver(head)
        except Exception:
            log.exception("webhook delivery of queue %s failed unexpectedly", queue)
        finally:
            with self._guard:
                self._in_flight.discard(queue)
            self._wake.set()

    def _deliver(self, head: Any) -> Any:
        request = delivery.prepare(self._context, head)
        if request is None:
            return None
        outcome = delivery.send(
            self._http,
            request,
            allow_private=self.options.allow_private,
            timeout_s=self.options.timeout_s,
        )
        recorded = delivery.record(self._context, request, outcome, self._rng)
        if outcome.succeeded:
            self.delivered += 1
            log.debug("delivered %s to %s", request.event_id, request.url)
        else:
            self.failed_attempts += 1
            log.warning(
                "delivery %s of %s to %s failed (%s): %s",
                head.delivery_id,
                request.event_id,
                request.url,
                f"HTTP {outcome.status_code}" if outcome.status_code else "no answer",
                recorded.status,
                extra={"delivery_id": head.delivery_id, "error": outcome.error},
            )
        if recorded.disabled:
            log.warning(
                "webhook endpoint %s disabled: its retry schedule for %s ran out",
                head.endpoint_id,
                request.event_id,
            )
        return recorded.next_due

    def _holds_lock(self) -> bool:
        return self._lock.held()

    def _release(self) -> None:
        self._lock.release()
