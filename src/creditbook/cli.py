"""The `creditbook` command: a thin shell over the Ledger."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from creditbook.demo import DEMO_START, DemoReport, play
from creditbook.engine.clock import ManualClock
from creditbook.engine.ledger import Ledger
from creditbook.settings import Settings

app = typer.Typer(help="creditbook: the credits ledger of an API business.", no_args_is_help=True)
console = Console()

DATABASE_OPTION = typer.Option(
    None, "--database-url", help="SQLAlchemy URL (default: CREDITBOOK_DATABASE_URL)."
)


def _url(database_url: str | None) -> str:
    return database_url or Settings().database_url


@app.command()
def migrate(database_url: str | None = DATABASE_OPTION) -> None:
    """Create or upgrade the database schema."""
    Ledger.open(_url(database_url)).close()
    console.print("schema is up to date")


@app.command()
def demo(database_url: str | None = DATABASE_OPTION) -> None:
    """Play a month of a lobstr-style and a LocalLeads-style account and print the results."""
    clock = ManualClock(DEMO_START)
    ledger = Ledger.open(_url(database_url), clock=clock)
    try:
        report = play(ledger, clock)
    finally:
        ledger.close()
    _print_demo(report)
    if not report.verify.ok:
        raise typer.Exit(1)


def _print_demo(report: DemoReport) -> None:
    run = report.lobstr_run
    table = Table(
        title=f"Run {run.run_id}: {run.total_credits} credits, {run.total_results} results"
    )
    for column in ("function", "credits", "attempts"):
        table.add_column(column, justify="right" if column != "function" else "left")
    for item in run.breakdown:
        table.add_row(item.function, str(item.credits), str(item.attempts))
    console.print(table)
    for title, balance in (
        ("LocalLeads-style account", report.localleads_mid_month),
        ("lobstr-style account", report.lobstr_balance),
        ("LocalLeads-style account", report.localleads_balance),
    ):
        table = Table(
            title=f"{title} on {balance.at:%Y-%m-%d %H:%M} UTC "
            f"(period from {balance.period_start_at:%Y-%m-%d})"
        )
        for column in ("pool", "available", "consumed", "allowance", "by source"):
            table.add_column(column)
        for pool in balance.pools.values():
            sources = ", ".join(f"{k} {v}" for k, v in pool.by_source.items())
            table.add_row(
                pool.pool, str(pool.available), str(pool.consumed), str(pool.allowance), sources
            )
        console.print(table)
    table = Table(title="LocalLeads-style history, newest first")
    for column in ("type", "amount", "description", "created at"):
        table.add_column(column)
    for line in report.localleads_history:
        table.add_row(
            line.type.value, str(line.amount), line.description, f"{line.created_at:%Y-%m-%d %H:%M}"
        )
    console.print(table)
    verify = report.verify
    status = "ok" if verify.ok else f"{len(verify.differences)} differences"
    console.print(f"verify: {status} ({verify.transfers} transfers, {verify.entries} entries)")


@app.command()
def tick(database_url: str | None = DATABASE_OPTION) -> None:
    """Apply resets, rollovers and expiries that are due on every account."""
    ledger = Ledger.open(_url(database_url))
    try:
        touched = ledger.tick()
    finally:
        ledger.close()
    console.print(f"caught up {touched} accounts")


@app.command()
def verify(database_url: str | None = DATABASE_OPTION) -> None:
    """Replay the ledger and report every difference from the stored balances."""
    ledger = Ledger.open(_url(database_url))
    try:
        report = ledger.verify()
    finally:
        ledger.close()
    for difference in report.differences:
        console.print(f"[red]{difference}[/red]")
    console.print(
        f"{report.accounts} accounts, {report.transfers} transfers, "
        f"{report.entries} entries: {'ok' if report.ok else 'DIFFERENCES'}"
    )
    if not report.ok:
        raise typer.Exit(1)
