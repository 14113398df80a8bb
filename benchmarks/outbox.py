"""What the events outbox costs a charge, on SQLite and PostgreSQL.

    python benchmarks/outbox.py [--seconds N | --charges N] [--rounds N] [--accounts N]
                                [--batch-size N] [--postgres-url URL] [--json]

Every charge ends by evaluating the balance alerts of the pool it drew on and, when a
threshold is crossed, writing events (`creditbook.engine.events.outbox.settle`). This
measures the engine's charge rate with that step as shipped against the same engine with the
step switched off (a no-op), on the same database, in alternating rounds, and prints the
ratio of the medians (goal: the outbox costs at most 10%). Every account has two alert rules
(one in credits, one in percent of the allowance) so the evaluation really runs; balances
are far above them, as on almost every charge in production (a crossing writes one more row).

Both one charge per commit and charges batched per commit are measured. PostgreSQL comes
from --postgres-url, else CREDITBOOK_BENCH_POSTGRES_URL, else CREDITBOOK_TEST_POSTGRES_URL.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table
from servers import POSTGRES_SKIPPED, POSTGRES_URL_HELP, postgres_database, postgres_server

from creditbook import Credits
from creditbook.domain.alerts import AlertRule
from creditbook.engine.events import outbox
from engine import Budget, EngineBench, Figure, measure, sqlite_database

OUTBOX_COST_GOAL = 0.10
SINGLE, BATCH = "1 charge per commit", "batched"
ON, OFF = "outbox on", "outbox off"
_SETTLE = outbox.settle


@contextmanager
def outbox_switched(on: bool) -> Iterator[None]:
    """The outbox as shipped, or its settle step replaced by a no-op, for one measurement."""
    outbox.settle = _SETTLE if on else _skip  # type: ignore[assignment]
    try:
        yield
    finally:
        outbox.settle = _SETTLE  # type: ignore[assignment]


def _skip(tx: Any) -> None:
    """No alert evaluation and no events."""


@dataclass
class OutboxResult:
    name: str
    figures: dict[tuple[str, str], Figure]
    events: int

    def ratio(self, shape: str) -> float:
        return self.figures[(shape, ON)].median / self.figures[(shape, OFF)].median


def bench(name: str, url: str, accounts: int, budget: Budget, progress: Console) -> OutboxResult:
    engine = EngineBench(url, accounts)
    try:
        rules = [
            AlertRule("credits", credits=Credits.of(100)),
            AlertRule("credits", percent=Decimal("5")),
        ]
        for account_id in engine.account_ids:
            engine.ledger.set_alerts(account_id, rules)
        cycle = itertools.cycle(engine.account_ids)
        steps: dict[str, Callable[[], int]] = {
            SINGLE: lambda: engine.charge(next(cycle), keyed=False),
            BATCH: lambda: engine.charge_batch([next(cycle) for _ in range(budget.batch_size)]),
        }
        progress.print(f"[bold]{name}[/]: warming up")
        for step in steps.values():
            for on in (True, False):
                with outbox_switched(on):
                    measure(step, seconds=budget.warmup_seconds, charges=None)
        figures = {(shape, side): Figure() for shape in steps for side in (ON, OFF)}
        for round_index in range(budget.rounds):
            sides = (ON, OFF) if round_index % 2 == 0 else (OFF, ON)
            for shape, step in steps.items():
                for side in sides:
                    with outbox_switched(side == ON):
                        rate, cpu = measure(step, seconds=budget.seconds, charges=budget.charges)
                    figures[(shape, side)].samples.append(rate)
                    figures[(shape, side)].cpu.append(cpu)
            progress.print(
                f"[bold]{name}[/]: round {round_index + 1}/{budget.rounds}: "
                + ", ".join(f"{s} {o} {f.samples[-1]:,.0f}/s" for (s, o), f in figures.items())
            )
        events = len(engine.ledger.events(limit=100).data)
        return OutboxResult(name, figures, events)
    finally:
        engine.close()


def print_table(console: Console, results: list[OutboxResult], budget: Budget) -> None:
    span = f"{budget.seconds:g} s" if budget.charges is None else f"{budget.charges:,} charges"
    table = Table(
        title=f"The events outbox's cost per charge ({span} per measurement, median of "
        f"{budget.rounds} alternating rounds; batches of {budget.batch_size})"
    )
    table.add_column("database")
    table.add_column("shape")
    for column in (f"{ON} /s", f"{OFF} /s", "on / off", "cost", "client CPU µs/charge on, off"):
        table.add_column(column, justify="right")
    table.add_column(f"cost ≤ {OUTBOX_COST_GOAL:.0%}")
    for result in results:
        for shape in (SINGLE, BATCH):
            on, off = result.figures[(shape, ON)], result.figures[(shape, OFF)]
            cost = 1 - result.ratio(shape)
            table.add_row(
                result.name,
                shape,
                f"{on.median:,.0f}",
                f"{off.median:,.0f}",
                f"{result.ratio(shape):.3f}",
                f"{cost:.1%}",
                f"{on.cpu_median:,.0f}, {off.cpu_median:,.0f}",
                "[green]yes[/]" if cost <= OUTBOX_COST_GOAL else "[red]NO[/]",
            )
    console.print(table)
    for result in results:
        console.print(
            f"{result.name}: {result.events} events recorded (no threshold was crossed)",
            markup=False,
        )


def as_json(results: list[OutboxResult]) -> dict[str, Any]:
    return {
        result.name: {
            shape: {
                "charges_per_second": {
                    side: result.figures[(shape, side)].median for side in (ON, OFF)
                },
                "on_over_off": result.ratio(shape),
                "cost": 1 - result.ratio(shape),
            }
            for shape in (SINGLE, BATCH)
        }
        for result in results
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--seconds", type=float, help="duration of each measurement (default 1.5)")
    size.add_argument("--charges", type=int, help="charges in each measurement instead")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    parser.add_argument("--warmup", type=float, default=0.5, help="warm-up seconds (default 0.5)")
    parser.add_argument("--batch-size", type=int, default=100, help="charges per batch (100)")
    parser.add_argument("--accounts", type=int, default=200, help="accounts in turn (200)")
    parser.add_argument("--postgres-url", help=POSTGRES_URL_HELP)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    if args.seconds is None and args.charges is None:
        args.seconds = 1.5
    for name in ("rounds", "batch_size", "accounts"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    budget = Budget(args.seconds, args.charges, args.rounds, args.warmup, args.batch_size)
    progress = Console(stderr=True)
    postgres_url = postgres_server(args.postgres_url)
    results = []
    with sqlite_database(None) as path:
        results.append(bench("SQLite", f"sqlite:///{path}", args.accounts, budget, progress))
    if postgres_url:
        with postgres_database(postgres_url) as url:
            results.append(bench("PostgreSQL", url, args.accounts, budget, progress))
    else:
        progress.print(f"[yellow]{POSTGRES_SKIPPED}[/]")
    if args.json:
        print(json.dumps(as_json(results), indent=2))
    else:
        print_table(Console(width=None if sys.stdout.isatty() else 140), results, budget)
    return 0


if __name__ == "__main__":
    sys.exit(main())
