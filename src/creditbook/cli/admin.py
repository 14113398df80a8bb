"""Setting up and looking after a ledger: init, apply, migrate, tick, verify, demo, serve,
keys."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy.engine import make_url

from creditbook.cli import pricing, serving
from creditbook.cli.backend import open_backend
from creditbook.cli.errors import CliError, describe_os_error, handled, usage
from creditbook.cli.options import BaseUrl, DatabaseUrl, JsonFlag, Profile, local_url, target
from creditbook.cli.output import console, print_json, table, text
from creditbook.cli.target import config_path, load_config
from creditbook.demo import DEMO_START, DemoReport, play, recent_start
from creditbook.domain.errors import CreditbookError
from creditbook.domain.requests import Scope
from creditbook.engine.clock import ManualClock
from creditbook.engine.ledger import Ledger
from creditbook.wire.keys import KeyCreate

DEMO_ACCOUNTS = ("demo_scraper", "demo_leads")
Webhooks = Annotated[
    bool,
    typer.Option(
        "--webhooks/--no-webhooks",
        help="Deliver webhooks in this process (one dispatcher per database).",
    ),
]
WebhooksPollInterval = Annotated[
    float,
    typer.Option(min=0.05, help="Seconds between the webhook dispatcher's looks for events."),
]
DEFAULT_PRICING_FILE = "pricing.toml"
DEFAULT_INIT_PROFILE = "local"


# -- init -------------------------------------------------------------------------------------


def absolute_url(url: str) -> str:
    """A SQLite URL with an absolute path, so a profile works from any directory."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url.startswith(prefix + "/") or ":memory:" in url:
        return url
    return prefix + str(Path(url[len(prefix) :]).resolve())


def write_profile(name: str, database_url: str) -> bool:
    """Add `[profiles.NAME]` to the config file (made default if none is); False when a
    profile of that name exists already (it is left as it is)."""
    path = config_path()
    config = load_config(path)
    if name in config.get("profiles", {}):
        return False
    section = f"\n[profiles.{json.dumps(name)}]\ndatabase_url = {json.dumps(database_url)}\n"
    existing = path.read_text() if path.exists() else "# creditbook CLI profiles\n"
    if "default_profile" not in config:
        # Top-level keys must come before the first table.
        existing = f"default_profile = {json.dumps(name)}\n{existing}"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(existing.rstrip("\n") + "\n" + section)
    except OSError as error:
        # The path may come from CREDITBOOK_CONFIG, not the command line: say which file.
        message = f"cannot write the config file {path}: {describe_os_error(error)}"
        raise CliError("file_error", message) from None
    return True


@handled
def init(
    pricing_file: Annotated[
        Path, typer.Option("--pricing", help="Where to write the starter pricing file.")
    ] = Path(DEFAULT_PRICING_FILE),
    profile_name: Annotated[
        str, typer.Option("--profile", help="The name of the profile to write.")
    ] = DEFAULT_INIT_PROFILE,
    force: Annotated[bool, typer.Option(help="Overwrite an existing pricing file.")] = False,
    operator_key: Annotated[
        bool, typer.Option("--operator-key", help="Also issue an operator key (shown once).")
    ] = False,
    database_url: DatabaseUrl = None,
    base_url: BaseUrl = None,
    json_output: JsonFlag = False,
) -> None:
    """Local mode only. Create (or upgrade) the database, write a starter pricing file and a
    config-file profile that points at the database."""
    url = absolute_url(local_url("init", database_url, base_url, None))
    ledger = Ledger.open(url)
    try:
        # The key comes last: a file that cannot be written must stop `init` before a key
        # exists whose secret nobody saw.
        pricing_written = force or not pricing_file.exists()
        if pricing_written:
            pricing_file.write_text(pricing.STARTER)
        profile_written = write_profile(profile_name, url)
        issued = (
            ledger.create_key(None, scope=Scope.OPERATOR, name="init") if operator_key else None
        )
    finally:
        ledger.close()
    result: dict[str, Any] = {
        "database_url": url,
        "pricing_file": str(pricing_file),
        "pricing_written": pricing_written,
        "config_file": str(config_path()),
        "profile": profile_name,
        "profile_written": profile_written,
        "operator_key": None if issued is None else issued.secret,
    }
    if json_output:
        print_json(result)
        return
    _print_init(result)


def _print_init(result: dict[str, Any]) -> None:
    pricing_file = result["pricing_file"]
    console.print(f"database ready: {result['database_url']}", soft_wrap=True, highlight=False)
    kept = "kept (exists; --force overwrites)"
    console.print(
        f"pricing file {'written' if result['pricing_written'] else kept}: {pricing_file}",
        soft_wrap=True,
        highlight=False,
    )
    console.print(
        f"profile {result['profile']!r} "
        f"{'written to' if result['profile_written'] else 'exists already in'} "
        f"{result['config_file']}",
        soft_wrap=True,
        highlight=False,
    )
    if result["operator_key"] is not None:
        console.print(
            f"operator key (shown once): {result['operator_key']}", soft_wrap=True, highlight=False
        )
    console.print(f"next: creditbook apply {pricing_file}", soft_wrap=True, highlight=False)


# -- apply ------------------------------------------------------------------------------------


def _change_row(change: pricing.Change) -> tuple[str, str, str, str]:
    if change.status == "changed":
        detail = "; ".join(
            f"{f.field}: {text(f.before) or '∅'} → {text(f.after) or '∅'}" for f in change.fields
        )
    else:
        detail = ""
    return change.kind, change.id, change.status, detail


@handled
def apply(
    file: Annotated[Path, typer.Argument(help="A pricing file: .toml, .yaml or .yml.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the diff against what is live; change nothing.")
    ] = False,
    database_url: DatabaseUrl = None,
    base_url: BaseUrl = None,
    profile: Profile = None,
    json_output: JsonFlag = False,
) -> None:
    """Declare plans and rate cards in a file and make the ledger match it (both modes).

    Only added and changed entries are written, so applying twice changes nothing the
    second time. Plans and rate cards that are live but not in the file are left alone.
    """
    declared = pricing.load(file)
    with open_backend(target(database_url, base_url, profile)) as backend:
        changes = pricing.diff(backend, declared)
        if not dry_run:
            pricing.apply(backend, declared, changes)
    summary = {status: 0 for status in ("added", "changed", "unchanged")}
    for change in changes:
        summary[change.status] += 1
    if json_output:
        print_json({"dry_run": dry_run, "changes": changes, "summary": summary})
        return
    title = f"{file}: {'what applying would change (dry run)' if dry_run else 'applied'}"
    console.print(table(title, ("kind", "id", "status", "changes"), map(_change_row, changes)))
    verb = "would change" if dry_run else "changed"
    count = summary["added"] + summary["changed"]
    console.print(
        f"{summary['added']} added, {summary['changed']} changed, "
        f"{summary['unchanged']} unchanged: {verb} {count}"
        + (" (dry run: nothing written)" if dry_run else ""),
        highlight=False,
    )


# -- database upkeep --------------------------------------------------------------------------


@handled
def migrate(
    database_url: DatabaseUrl = None, base_url: BaseUrl = None, profile: Profile = None
) -> None:
    """Local mode only. Create or upgrade the database schema."""
    url = local_url("migrate", database_url, base_url, profile)
    before, after = Ledger.migrate(url)
    shown = make_url(url).render_as_string(hide_password=True)
    if before is None:
        message = f"created the schema in {shown} (revision {after})"
    elif before != after:
        message = f"migrated the schema of {shown} from revision {before} to {after}"
    else:
        message = f"the schema of {shown} is up to date (revision {after})"
    console.print(message, soft_wrap=True, highlight=False)


@handled
def tick(
    database_url: DatabaseUrl = None, base_url: BaseUrl = None, profile: Profile = None
) -> None:
    """Local mode only. Apply resets, rollovers and expiries that are due on every account."""
    ledger = Ledger.open(local_url("tick", database_url, base_url, profile))
    try:
        touched = ledger.tick()
    finally:
        ledger.close()
    console.print(f"caught up {touched} accounts")


@handled
def verify(
    account: Annotated[
        str | None, typer.Option("--account", help="Verify one account only.")
    ] = None,
    database_url: DatabaseUrl = None,
    base_url: BaseUrl = None,
    profile: Profile = None,
    json_output: JsonFlag = False,
) -> None:
    """Replay the ledger and report every difference from the stored balances (both modes;
    remote: operator key). Exits 1 when there is any difference."""
    with open_backend(target(database_url, base_url, profile), read_only=True) as backend:
        report = backend.verify(account)
    if json_output:
        print_json(report)
    else:
        for difference in report["differences"]:
            console.print(f"[red]{difference}[/red]")
        console.print(
            f"{report['accounts']} accounts, {report['transfers']} transfers, "
            f"{report['entries']} entries: {'ok' if report['ok'] else 'DIFFERENCES'}"
        )
    if not report["ok"]:
        raise typer.Exit(1)


# -- demo and serve ---------------------------------------------------------------------------


@handled
def demo(
    database_url: DatabaseUrl = None, base_url: BaseUrl = None, profile: Profile = None
) -> None:
    """Local mode only. Play a month of a lobstr-style and a LocalLeads-style account and
    print the results: on a fresh temporary SQLite file (deleted afterwards) unless
    --database-url (or a database --profile) names the database to play on."""
    if database_url is None and profile is None:
        local_url("demo", None, base_url, None)  # refuses --base-url
        with tempfile.TemporaryDirectory(prefix="creditbook-demo-") as folder:
            console.print(
                "playing on a fresh temporary database (deleted afterwards; "
                "--database-url keeps the demo in a database of yours)",
                soft_wrap=True,
                highlight=False,
            )
            _play_demo(f"sqlite:///{Path(folder) / 'demo.db'}")
        return
    _play_demo(local_url("demo", database_url, base_url, profile))


def _play_demo(url: str) -> None:
    clock = ManualClock(DEMO_START)
    ledger = Ledger.open(url, clock=clock)
    try:
        report = play(ledger, clock)
    finally:
        ledger.close()
    _print_demo(report)
    if not report.verify.ok:
        raise typer.Exit(1)


def _print_demo(report: DemoReport) -> None:
    run = report.lobstr_run
    breakdown = Table(
        title=f"Run {run.run_id}: {run.total_credits} credits, {run.total_results} results"
    )
    for column in ("function", "credits", "attempts"):
        breakdown.add_column(column, justify="right" if column != "function" else "left")
    for item in run.breakdown:
        breakdown.add_row(item.function, str(item.credits), str(item.attempts))
    console.print(breakdown)
    for title, balance in (
        ("LocalLeads-style account", report.localleads_mid_month),
        ("lobstr-style account", report.lobstr_balance),
        ("LocalLeads-style account", report.localleads_balance),
    ):
        pools = Table(
            title=f"{title} on {balance.at:%Y-%m-%d %H:%M} UTC "
            f"(period from {balance.period_start_at:%Y-%m-%d})"
        )
        for column in ("pool", "available", "consumed", "allowance", "by source"):
            pools.add_column(column)
        for pool in balance.pools.values():
            sources = ", ".join(f"{k} {v}" for k, v in pool.by_source.items())
            pools.add_row(
                pool.pool, str(pool.available), str(pool.consumed), str(pool.allowance), sources
            )
        console.print(pools)
    history = Table(title="LocalLeads-style history, newest first")
    for column in ("type", "amount", "description", "created at"):
        history.add_column(column)
    for line in report.localleads_history:
        history.add_row(
            line.type.value, str(line.amount), line.description, f"{line.created_at:%Y-%m-%d %H:%M}"
        )
    console.print(history)
    verified = report.verify
    status = "ok" if verified.ok else f"{len(verified.differences)} differences"
    console.print(f"verify: {status} ({verified.transfers} transfers, {verified.entries} entries)")


@handled
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
    demo_data: Annotated[
        bool,
        typer.Option("--demo", help="Load the demo month and print keys to try the API with."),
    ] = False,
    log_level: Annotated[
        str, typer.Option(help="debug, info, warning or error.", case_sensitive=False)
    ] = "info",
    log_format: Annotated[
        str, typer.Option(help="json (one object a line) or console.", case_sensitive=False)
    ] = "json",
    sweeper: Annotated[
        bool,
        typer.Option(
            "--sweeper/--no-sweeper",
            help="Apply due resets, rollovers and expiries (one process per database).",
        ),
    ] = True,
    sweep_interval: Annotated[
        float, typer.Option(min=0.1, help="Seconds between the sweeper's rounds.")
    ] = 60.0,
    webhooks: Webhooks = True,
    webhooks_poll_interval: WebhooksPollInterval = 1.0,
    database_url: DatabaseUrl = None,
    base_url: BaseUrl = None,
    profile: Profile = None,
) -> None:
    """Local mode only. Run the HTTP API (uvicorn). Workers share nothing but the database
    (and Redis)."""
    import os
    import secrets

    url = local_url("serve", database_url, base_url, profile)
    log_level, log_format = serving.logging_options(log_level, log_format)
    os.environ["CREDITBOOK_DATABASE_URL"] = url
    # Every worker signs dashboard sessions with the same secret (one made up per start
    # unless configured).
    os.environ.setdefault("CREDITBOOK_SESSION_SECRET", secrets.token_urlsafe(32))
    ledger = Ledger.open(url)  # migrate once, before any worker starts
    try:
        if demo_data:
            _load_demo(ledger, url, host, port)
    finally:
        ledger.close()
    serving.run(
        url,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        log_format=log_format,
        sweep_interval_s=sweep_interval if sweeper else None,
        webhooks_poll_interval_s=webhooks_poll_interval if webhooks else None,
    )


@handled
def webhooks_run(
    log_level: Annotated[
        str, typer.Option(help="debug, info, warning or error.", case_sensitive=False)
    ] = "info",
    log_format: Annotated[
        str, typer.Option(help="json (one object a line) or console.", case_sensitive=False)
    ] = "json",
    poll_interval: WebhooksPollInterval = 1.0,
    database_url: DatabaseUrl = None,
    base_url: BaseUrl = None,
    profile: Profile = None,
) -> None:
    """Local mode only. Run the webhook dispatcher alone, until interrupted (for servers
    started with `--no-webhooks`). One dispatcher delivers per database; others wait."""
    url = local_url("webhooks run", database_url, base_url, profile)
    log_level, log_format = serving.logging_options(log_level, log_format)
    Ledger.open(url).close()  # migrate first
    serving.run_dispatcher(
        url, log_level=log_level, log_format=log_format, poll_interval_s=poll_interval
    )


def _load_demo(ledger: Ledger, url: str, host: str, port: int) -> None:
    scraper, leads = DEMO_ACCOUNTS
    try:
        ledger.get_account(scraper)
    except CreditbookError:
        # The server runs on `ledger`'s clock (the wall clock): the month ends by now, so
        # the dashboard shows recent spend and a forecast.
        start = recent_start(ledger.clock.now())
        clock = ManualClock(start)
        demo_ledger = Ledger.open(url, clock=clock)
        try:
            play(demo_ledger, clock, account_ids=DEMO_ACCOUNTS, start=start)
        finally:
            demo_ledger.close()
    operator = ledger.create_key(None, scope=Scope.OPERATOR, name="demo operator")
    writer = ledger.create_key(scraper, scope=Scope.WRITE, name="demo writer")
    leads_reader = ledger.create_key(leads, scope=Scope.READ, name="demo reader")
    base = f"http://{host}:{port}"
    # Lines a shell takes as they are: paste them into another terminal; comments stand on
    # their own lines, so that any selection of whole lines runs.
    lines = [
        "# creditbook demo data is loaded. Keys (shown once) to paste into another terminal:",
        f"export CREDITBOOK_BASE_URL={base}",
        f"# account {scraper}: a write key (balance, history, stats, charges; the SDK needs",
        "# no account id with it)",
        f"export CREDITBOOK_API_KEY={writer.secret}",
        f"# account {leads}: a read key",
        f"export LEADS_API_KEY={leads_reader.secret}",
        "# operator key: every account, plans, rate cards, keys",
        f"export CREDITBOOK_OPERATOR_KEY={operator.secret}",
        "# then try:",
        f'curl -H "Authorization: Bearer $CREDITBOOK_API_KEY" {base}/v1/accounts/{scraper}/balance',
        f"# dashboard: {base}/dashboard/ (sign in with one of these keys)",
    ]
    for line in lines:
        console.print(line, soft_wrap=True, highlight=False, markup=False)


# -- keys -------------------------------------------------------------------------------------


@handled
def keys_create(
    operator: Annotated[
        bool, typer.Option("--operator", help="An operator key (any account; local mode only).")
    ] = False,
    account: Annotated[
        str | None, typer.Option("--account", help="The account of the key.")
    ] = None,
    scope: Annotated[str, typer.Option(help="read or write (account keys).")] = "read",
    user_id: Annotated[
        str, typer.Option("--user-id", help="Attribute its charges to this user.")
    ] = "",
    name: Annotated[str, typer.Option(help="A name to recognise the key by.")] = "",
    database_url: DatabaseUrl = None,
    base_url: BaseUrl = None,
    profile: Profile = None,
    json_output: JsonFlag = False,
) -> None:
    """Issue a key and print it once (only its hash is stored). Account keys in both modes
    (remote: operator key); operator keys in local mode only."""
    if operator == (account is not None):
        raise usage("give exactly one of --operator and --account")
    if scope not in ("read", "write"):
        raise usage(f"--scope must be read or write, not {scope!r}")
    body = KeyCreate.model_validate({"scope": scope, "user_id": user_id, "name": name})
    with open_backend(target(database_url, base_url, profile)) as backend:
        issued = backend.create_key(None if operator else account, body)
    if issued["secret"] is None:  # the SDK raises KeySecretLostError first; never print None
        raise CliError(
            "key_secret_lost",
            f"key {issued['key_id']} was issued but its secret was lost: "
            f"revoke it (creditbook keys revoke {issued['key_id']}) and issue another",
        )
    if json_output:
        print_json(issued)
        return
    console.print(f"key_id: {issued['key_id']}", highlight=False)
    print(issued["secret"])


@handled
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (key_id).")],
    database_url: DatabaseUrl = None,
    base_url: BaseUrl = None,
    profile: Profile = None,
    json_output: JsonFlag = False,
) -> None:
    """Revoke a key: it answers 403 from now on (both modes; remote: operator key)."""
    with open_backend(target(database_url, base_url, profile)) as backend:
        key = backend.revoke_key(key_id)
    if json_output:
        print_json(key)
        return
    console.print(f"revoked {key['key_id']}", highlight=False)
