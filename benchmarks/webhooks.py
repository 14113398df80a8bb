"""Webhook delivery throughput and latency, on SQLite and PostgreSQL, to a loopback receiver.

    python benchmarks/webhooks.py [--events N] [--accounts N] [--latency-events N]
                                  [--latency-rate R] [--concurrency N] [--postgres-url URL]

Per database, with one endpoint listening to every event:

- throughput: `--events` events (10,000 by default) spread over `--accounts` accounts are
  written first, then a dispatcher (as `creditbook serve` runs it) delivers them all;
  events/s = events / time from the dispatcher's start to the receiver's last 2xx;
- latency: then `--latency-events` more events are written one at a time at
  `--latency-rate` per second (an open loop, accounts in turn), and each one's latency is
  the time from its commit to the receiver's 2xx; p50 and p99 are printed.

The receiver is a uvicorn app in a process of its own on 127.0.0.1 that answers 204 and
remembers when each `webhook-id` first arrived (times from the machine's monotonic clock,
shared by both processes). Every event must arrive; the run fails otherwise.

PostgreSQL comes from --postgres-url, else CREDITBOOK_BENCH_POSTGRES_URL, else
CREDITBOOK_TEST_POSTGRES_URL (a server URL; a scratch database is created on it and dropped
at the end). Without one, only SQLite runs.
"""

# ruff: noqa: E402
# benchmarks/http.py is named like the standard library's `http` package; run as a script
# this file's directory comes first on sys.path and would shadow it for httpx. Drop it.
from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry or os.curdir) != _HERE]

import argparse
import json
import secrets
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from creditbook import Ledger
from creditbook.store.queries.events import insert_events

# The scripts beside this one, last on the path: the standard library's `http` is loaded.
sys.path.append(_HERE)
from servers import POSTGRES_SKIPPED, POSTGRES_URL_HELP, postgres_database, postgres_server

RUN_TIMEOUT_S = 600.0
INSERT_BATCH = 1000


# -- the receiver (its own process) -----------------------------------------------------------


def receiver_app() -> Any:
    arrived: dict[str, float] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        if scope["method"] == "GET":
            body = json.dumps(arrived).encode()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": body})
            return
        headers = dict(scope["headers"])
        arrived.setdefault(headers[b"webhook-id"].decode(), time.monotonic())
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    return app


def run_receiver(port: int) -> None:
    import uvicorn

    uvicorn.run(receiver_app(), host="127.0.0.1", port=port, log_level="warning", lifespan="off")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def receiver() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, __file__, "--receiver", str(port)])
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(base + "/acks")
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def arrivals(base: str) -> dict[str, float]:
    found: dict[str, float] = httpx.get(base + "/acks", timeout=60).json()
    return found


# -- the measurements -------------------------------------------------------------------------


class Events:
    """Writes events of `accounts` accounts, numbered per account, as the outbox does."""

    def __init__(self, ledger: Ledger, accounts: int) -> None:
        self.ledger = ledger
        self.accounts = [f"bench{index:03d}" for index in range(accounts)]
        self.last = dict.fromkeys(self.accounts, 0)
        self.turn = 0

    def rows(self, count: int) -> list[dict[str, Any]]:
        rows = []
        for _ in range(count):
            account = self.accounts[self.turn % len(self.accounts)]
            self.turn += 1
            self.last[account] += 1
            seq = self.last[account]
            rows.append(
                {
                    "account_id": account,
                    "seq": seq,
                    "event_id": f"evt_{secrets.token_hex(12)}",
                    "type": "credits.granted",
                    "pool": "credits",
                    "data": {"amount": 1000 * seq, "source": "bonus"},
                    "transfer_id": "",
                    "run_id": "",
                    "created_at": datetime.now(UTC),
                }
            )
        return rows

    def write(self, count: int) -> tuple[list[str], float]:
        """`count` events in batches; their ids and the monotonic time of the last commit."""
        ids = []
        for start in range(0, count, INSERT_BATCH):
            rows = self.rows(min(INSERT_BATCH, count - start))
            with self.ledger.engine.begin() as connection:
                insert_events(connection, rows)
            ids += [row["event_id"] for row in rows]
        return ids, time.monotonic()


def wait_for(base: str, ids: list[str]) -> dict[str, float]:
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while True:
        found = arrivals(base)
        if all(event_id in found for event_id in ids):
            return found
        if time.monotonic() > deadline:
            missing = sum(event_id not in found for event_id in ids)
            raise SystemExit(f"{missing} events never arrived")
        time.sleep(0.1)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def measure(url: str, label: str, args: argparse.Namespace) -> dict[str, float]:
    ledger = Ledger.open(url, webhooks_allow_private=True)
    try:
        with receiver() as base:
            ledger.create_webhook_endpoint(base + "/hooks")
            events = Events(ledger, args.accounts)
            backlog, _ = events.write(args.events)
            dispatcher = ledger.webhook_dispatcher(
                concurrency=args.concurrency, timeout_s=10, poll_interval_s=0.05
            )
            started = time.monotonic()
            dispatcher.start()
            try:
                found = wait_for(base, backlog)
                elapsed = max(found[event_id] for event_id in backlog) - started
                latencies = []
                committed: dict[str, float] = {}
                for _ in range(args.latency_events):
                    (event_id,), at = events.write(1)
                    committed[event_id] = at
                    time.sleep(1 / args.latency_rate)
                found = wait_for(base, list(committed))
                latencies = [(found[e] - at) * 1000 for e, at in committed.items()]
            finally:
                dispatcher.stop()
    finally:
        ledger.close()
    figures = {
        "events_per_s": args.events / elapsed,
        "p50_ms": statistics.median(latencies),
        "p99_ms": percentile(latencies, 0.99),
    }
    print(
        f"{label}: {args.events} events over {args.accounts} accounts in {elapsed:.2f} s: "
        f"{figures['events_per_s']:,.0f} events/s; latency over {len(latencies)} events at "
        f"{args.latency_rate:g}/s: p50 {figures['p50_ms']:.1f} ms, "
        f"p99 {figures['p99_ms']:.1f} ms",
        flush=True,
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--accounts", type=int, default=16)
    parser.add_argument("--latency-events", type=int, default=500)
    parser.add_argument("--latency-rate", type=float, default=100.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--postgres-url", help=POSTGRES_URL_HELP)
    parser.add_argument("--receiver", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receiver:
        run_receiver(args.receiver)
        return
    with tempfile.TemporaryDirectory() as folder:
        measure(f"sqlite:///{Path(folder) / 'webhooks.db'}", "SQLite", args)
    server = postgres_server(args.postgres_url)
    if server is None:
        print(POSTGRES_SKIPPED)
        return
    with postgres_database(server) as url:
        measure(url, "PostgreSQL", args)


if __name__ == "__main__":
    main()
