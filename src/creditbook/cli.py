"""The `creditbook` command: a thin shell over the Ledger."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from creditbook.demo import DEMO_START, DemoReport, play
from creditbook.domain.errors import CreditbookError
from creditbook.engine.clock import ManualClock
from creditbook.engine.keys import Scope
from creditbook.engine.ledger import Ledger
from creditbook.settings import Settings

DEMO_ACCOUNTS = ("demo_scraper", "demo_leads")

app = typer.Typer(help="creditbook: the credits ledger of an API business.", no_args_is_help=True)
keys_app = typer.Typer(help="Issue and revoke API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
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


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    workers: int = typer.Option(1, min=1, max=64, help="Worker processes."),
    demo_data: bool = typer.Option(
        False, "--demo", help="Load the demo month and print keys to try the API with."
    ),
    database_url: str | None = DATABASE_OPTION,
) -> None:
    """Run the HTTP API (uvicorn). Workers share nothing but the database (and Redis)."""
    import os

    import uvicorn

    url = _url(database_url)
    os.environ["CREDITBOOK_DATABASE_URL"] = url
    ledger = Ledger.open(url)  # migrate once, before any worker starts
    try:
        if demo_data:
            _load_demo(ledger, url, host, port)
    finally:
        ledger.close()
    uvicorn.run(
        "creditbook.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
    )


def _load_demo(ledger: Ledger, url: str, host: str, port: int) -> None:
    scraper, leads = DEMO_ACCOUNTS
    try:
        ledger.get_account(scraper)
    except CreditbookError:
        clock = ManualClock(DEMO_START)
        demo_ledger = Ledger.open(url, clock=clock)
        try:
            play(demo_ledger, clock, account_ids=DEMO_ACCOUNTS)
        finally:
            demo_ledger.close()
    operator = ledger.create_key(None, scope=Scope.OPERATOR, name="demo operator")
    reader = ledger.create_key(scraper, scope=Scope.READ, name="demo reader")
    leads_reader = ledger.create_key(leads, scope=Scope.READ, name="demo reader")
    base = f"http://{host}:{port}"
    console.print("[bold]creditbook demo data is loaded.[/bold] Keys (shown once):")
    console.print(f"  CREDITBOOK_OPERATOR_KEY={operator.secret}", soft_wrap=True)
    console.print(
        f"  CREDITBOOK_API_KEY={reader.secret}   (account {scraper}, read)", soft_wrap=True
    )
    console.print(
        f"  LEADS_API_KEY={leads_reader.secret}   (account {leads}, read)", soft_wrap=True
    )
    console.print("Try:")
    console.print(
        f'  curl -H "Authorization: Bearer {reader.secret}" {base}/v1/accounts/{scraper}/balance',
        soft_wrap=True,
    )


@keys_app.command("create")
def keys_create(
    operator: bool = typer.Option(False, "--operator", help="An operator key (any account)."),
    account: str | None = typer.Option(None, "--account", help="The account of the key."),
    scope: str = typer.Option("read", help="read or write (account keys)."),
    user_id: str = typer.Option("", "--user-id", help="Attribute its charges to this user."),
    name: str = typer.Option("", help="A name to recognise the key by."),
    database_url: str | None = DATABASE_OPTION,
) -> None:
    """Issue a key and print it once (only its hash is stored)."""
    if operator == (account is not None):
        console.print("[red]give exactly one of --operator and --account[/red]")
        raise typer.Exit(2)
    ledger = Ledger.open(_url(database_url))
    try:
        issued = ledger.create_key(
            None if operator else account,
            scope=Scope.OPERATOR if operator else scope,
            user_id=user_id,
            name=name,
        )
    except CreditbookError as error:
        console.print(f"[red]{error.code}: {error.message}[/red]")
        raise typer.Exit(1) from None
    finally:
        ledger.close()
    console.print(f"key_id: {issued.key.key_id}")
    print(issued.secret)


@keys_app.command("revoke")
def keys_revoke(key_id: str, database_url: str | None = DATABASE_OPTION) -> None:
    """Revoke a key: it answers 403 from now on."""
    ledger = Ledger.open(_url(database_url))
    try:
        key = ledger.revoke_key(key_id)
    except CreditbookError as error:
        console.print(f"[red]{error.code}: {error.message}[/red]")
        raise typer.Exit(1) from None
    finally:
        ledger.close()
    console.print(f"revoked {key.key_id}")
