"""Reading an account: balance, transactions, export, stats (both modes unless said)."""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from creditbook.cli.backend import Backend, Json, TransactionFilter, iter_transactions, open_backend
from creditbook.cli.errors import handled, usage
from creditbook.cli.options import (
    Account,
    BaseUrl,
    DatabaseUrl,
    JsonFlag,
    Profile,
    day,
    instant,
    target,
)
from creditbook.cli.output import (
    console,
    dumps,
    err_console,
    note,
    print_json,
    stream_json,
    table,
    text,
)
from creditbook.cli.target import account_of
from creditbook.domain.periods import local_date
from creditbook.export import LINE_END, TRANSACTION_COLUMNS, csv_row

TABLE_COLUMNS = ("created_at", "type", "amount", "pool", "description", "transaction_id")
MAX_PAGE = 100
DEFAULT_STATS_DAYS = 30
# Daily bars are drawn for ranges up to this many days; longer ranges chart their buckets.
MAX_CHART_DAYS = 92
CHART_WIDTH = 40
TOP_ROWS = 10
# The by-function row of the charges made without a function (the dashboard's "Other").
OTHER_ROW = "Other"


# -- balance ----------------------------------------------------------------------------------


@handled
def balance(
    account: Account = None,
    at: Annotated[
        str | None, typer.Option("--at", help="A past instant (ISO 8601): replayed balance.")
    ] = None,
    database_url: DatabaseUrl = None,
    base_url: BaseUrl = None,
    profile: Profile = None,
    json_output: JsonFlag = False,
) -> None:
    """Credits per pool: available, held, allowance, consumed, by source (both modes)."""
    chosen = target(database_url, base_url, profile)
    with open_backend(chosen, read_only=True) as backend:
        found = backend.balance(account_of(chosen, account, backend), instant(at, "--at"))
    if json_output:
        print_json(found)
        return
    title = (
        f"{found['account_id']} on {found['plan_id']} ({found['interval']}) at {text(found['at'])}"
        f" — period {text(found['period_start_at'])} → {text(found['period_end_at'])},"
        f" slots {found['used_slots']}/{found['total_slots']}"
    )
    columns = ("pool", "available", "held", "allowance", "consumed", "by source", "overdraft")
    rows = (
        (
            p["pool"],
            p["available"],
            p["held"],
            p["allowance"],
            p["consumed"],
            p["by_source"],
            p["overdraft_limit"],
        )
        for p in found["pools"].values()
    )
    numeric = ("available", "held", "allowance", "consumed", "overdraft")
    console.print(table(title, columns, rows, numeric=numeric))
    if found["has_unpaid_bill"]:
        console.print("[yellow]the account has an unpaid bill[/yellow]")


# -- transactions -----------------------------------------------------------------------------

TypeOption = Annotated[
    list[str] | None,
    typer.Option(
        "--type",
        help="Only this type (repeatable): DEDUCTION, BONUS, TOP_UP, REFUND, …",
        show_default=False,
    ),
]
SinceOption = Annotated[
    str | None, typer.Option("--since", help="From this instant (ISO 8601).", show_default=False)
]
UntilOption = Annotated[
    str | None, typer.Option("--until", help="Up to this instant (ISO 8601).", show_default=False)
]


def _filter(
    limit: int, cursor: str | None, types: list[str] | None, since: str | None, until: str | None
) -> TransactionFilter:
    return TransactionFilter(
        limit=limit,
        cursor=cursor,
        types=tuple(t.upper() for t in types or ()),
        since=instant(since, "--since"),
        until=instant(until, "--until"),
    )


@handled
def transactions(
    account: Account = None,
    limit: Annotated[int, typer.Option(min=1, max=MAX_PAGE, help="Page size.")] = 50,
    cursor: Annotated[
        str | None, typer.Option(help="Start after the page that printed it.", show_default=False)
    ] = None,
    all_pages: Annotated[
        bool, typer.Option("--all", help="Every page from --cursor (or the newest) on.")
    ] = False,
    types: TypeOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    database_url: DatabaseUrl = None,
    base_url: BaseUrl = None,
    profile: Profile = None,
    json_output: JsonFlag = False,
) -> None:
    """An account's history, newest first, a page at a time (both modes)."""
    chosen = target(database_url, base_url, profile)
    query = _filter(limit, cursor, types, since, until)
    with open_backend(chosen, read_only=True) as backend:
        account_id = account_of(chosen, account, backend)
        if all_pages:
            items = iter_transactions(backend, account_id, query)
            if json_output:
                stream_json(items)
                return
            page: Json = {"data": list(items), "has_more": False, "next_cursor": None}
        else:
            page = backend.transactions(account_id, query)
    if json_output:
        print_json(page)
        return
    rows = ([t[c] for c in TABLE_COLUMNS] for t in page["data"])
    title = f"{account_id}: {len(page['data'])} transactions, newest first"
    console.print(table(title, TABLE_COLUMNS, rows, numeric=("amount",)))
    if page["has_more"]:
        console.print(f"more: --cursor {page['next_cursor']}", highlight=False, soft_wrap=True)


# -- export -----------------------------------------------------------------------------------


class ExportKind(StrEnum):
    transactions = "transactions"
    entries = "entries"


class ExportFormat(StrEnum):
    csv = "csv"
    jsonl = "jsonl"


class Writer:
    """Rows out as CSV (a header, then one line per row, through `creditbook.export`:
    the dashboard's cells, formulas defused) or JSON Lines."""

    def __init__(self, out: TextIO, form: ExportFormat, fields: tuple[str, ...]) -> None:
        self.out = out
        self.form = form
        self.fields = fields
        self.csv = csv.writer(out, lineterminator=LINE_END) if form is ExportFormat.csv else None
        if self.csv is not None:
            self.csv.writerow(fields)

    def write(self, row: Json) -> None:
        if self.csv is not None:
            self.csv.writerow(csv_row(row, self.fields))
        else:
            self.out.write(dumps({name: row.get(name) for name in self.fields}, indent=None) + "\n")


@contextmanager
def _opened(output: Path | None) -> Iterator[TextIO]:
    if output is None or str(output) == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    with output.open("w", encoding="utf-8", newline="") as handle:
        yield handle


def _rows(
    backend: Backend, kind: ExportKind, account: str | None, query: TransactionFilter
) -> tuple[tuple[str, ...], int | None, Iterator[Json]]:
    """The columns, the row count when known cheaply, and the rows, streamed."""
    from creditbook.cli.local import ENTRY_FIELDS, LocalBackend

    if kind is ExportKind.entries:
        if not isinstance(backend, LocalBackend):
            raise usage(
                "`creditbook export entries` works on a database only (local mode): the API "
                "has no endpoint for raw entries; give --database-url"
            )
        return ENTRY_FIELDS, backend.entry_count(account), backend.entries(account)
    account = account or backend.own_account()
    if account is None:
        raise usage("give the account whose transactions to export")
    total = backend.transaction_count(account, query)
    return TRANSACTION_COLUMNS, total, iter_transactions(backend, account, query)


def _progress() -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        # The rows go to the real stdout: never let the live display capture them.
        redirect_stdout=False,
        redirect_stderr=False,
    )


@handled
def export(
    kind: Annotated[
        ExportKind, typer.Argument(help="transactions (both modes) or entries (local).")
    ],
    account: Account = None,
    form: Annotated[
        ExportFormat | None,
        typer.Option(
            "--format",
            help="csv or jsonl (default: from the file name, else csv).",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="The file to write (default or -: stdout).", show_default=False
        ),
    ] = None,
    types: TypeOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    database_url: DatabaseUrl = None,
    base_url: BaseUrl = None,
    profile: Profile = None,
) -> None:
    """Stream an account's transactions (both modes) or the ledger's entries (local mode
    only; one account or all) as CSV or JSON Lines, with a progress bar on stderr. Rows are
    read a page at a time: memory stays flat however long the history."""
    if form is None:
        suffix = output.suffix.lower() if output is not None else ""
        form = ExportFormat.jsonl if suffix in (".jsonl", ".ndjson") else ExportFormat.csv
    chosen = target(database_url, base_url, profile)
    query = _filter(MAX_PAGE, None, types, since, until)
    chosen_account = account or chosen.account
    with open_backend(chosen, read_only=True) as backend:
        fields, total, rows = _rows(backend, kind, chosen_account, query)
        count = 0
        with _opened(output) as out, _progress() as progress:
            task = progress.add_task(f"exporting {kind.value}", total=total)
            writer = Writer(out, form, fields)
            for row in rows:
                writer.write(row)
                count += 1
                progress.advance(task)
    note(f"exported {count} {kind.value} as {form.value} to {output or 'stdout'}")


# -- stats ------------------------------------------------------------------------------------


def _series(stats: Json, start: date, end: date) -> list[tuple[str, Decimal]]:
    """Daily spend with empty days filled in, or the buckets of a long range."""
    if (end - start).days + 1 > MAX_CHART_DAYS:
        return [(b["start"], Decimal(b["credits"])) for b in stats["buckets"]]
    spent = {d["date"]: Decimal(d["credits"]) for d in stats["daily"]}
    days = ((start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1))
    return [(d, spent.get(d, Decimal(0))) for d in days]


def chart(series: list[tuple[str, Decimal]], width: int = CHART_WIDTH) -> Text:
    """A horizontal bar per label, scaled to the largest value; eighths for precision."""
    peak = max((value for _, value in series), default=Decimal(0))
    result = Text()
    for label, value in series:
        eighths = 0 if peak <= 0 else int(value / peak * width * 8)
        bar = "█" * (eighths // 8) + ("", "▏", "▎", "▍", "▌", "▋", "▊", "▉")[eighths % 8]
        if value > 0 and not bar:
            bar = "▏"
        result.append(f"{label} ")
        result.append(bar.ljust(width), style="cyan")
        result.append(f" {text(value)}\n")
    return result


@handled
def stats(
    account: Account = None,
    start: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="First day, YYYY-MM-DD (default: 29 days before --to).",
            show_default=False,
        ),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option(
            "--to",
            help="Last day, inclusive (default: today in the account's time zone).",
            show_default=False,
        ),
    ] = None,
    group_by: Annotated[
        str, typer.Option("--group-by", help="Buckets: day, week or month.")
    ] = "day",
    database_url: DatabaseUrl = None,
    base_url: BaseUrl = None,
    profile: Profile = None,
    json_output: JsonFlag = False,
) -> None:
    """Spend between two days against the previous range: a daily bar chart and totals by
    function, module and user (both modes)."""
    if group_by not in ("day", "week", "month"):
        raise usage(f"--group-by must be day, week or month, not {group_by!r}")
    last, first = day(end, "--to"), day(start, "--from")
    if first is not None and last is not None and first > last:
        raise usage("--from is after --to")  # before any connection
    chosen = target(database_url, base_url, profile)
    with open_backend(chosen, read_only=True) as backend:
        account_id = account_of(chosen, account, backend)
        first, last = _stats_days(backend, account_id, first, last)
        found = backend.stats(account_id, first, last, group_by)
    if json_output:
        print_json(found)
        return
    _print_stats(found, first, last)


def _stats_days(
    backend: Backend, account_id: str, first: date | None, last: date | None
) -> tuple[date, date]:
    """The first and last day of a stats range, the defaults filled in."""
    if last is None:
        # Stats days are the account's local days: so is "today".
        timezone = backend.get_account(account_id)["timezone"]
        last = local_date(datetime.now(UTC), timezone)
    first = first or last - timedelta(days=DEFAULT_STATS_DAYS - 1)
    if first > last:
        raise usage("--from is after --to")
    return first, last


def _breakdown_rows(found: Json, key: str) -> list[tuple[Any, ...]]:
    """The top rows of a breakdown. By function, the charges made without a function (raw
    credits) are a last row "Other", as on the dashboard, so that the rows add up to the
    total (when every function is shown)."""
    items = found[key]
    rows: list[tuple[Any, ...]] = [
        (i["key"] or "—", i["credits"], i["units"]) for i in items[:TOP_ROWS]
    ]
    if key == "by_function":
        attributed = sum((Decimal(str(i["credits"])) for i in items), Decimal(0))
        other = Decimal(str(found["total"])) - attributed
        if other:
            rows.append((OTHER_ROW, other, ""))
    return rows


def _print_stats(found: Json, first: date, last: date) -> None:
    """The summary line, the chart, the top rows of each breakdown, then the forecasts."""
    change = found["change_percent"]
    summary = (
        f"{found['account_id']}, {found['start']} → {found['end']}: {text(found['total'])} "
        f"credits (previous {text(found['previous_total'])}"
        + (f", {'+' if change > 0 else ''}{text(change)}%)" if change is not None else ")")
    )
    console.print(summary, highlight=False)
    console.print(chart(_series(found, first, last)), end="")
    for title, key in (
        ("by function", "by_function"),
        ("by module", "by_module"),
        ("by user", "by_user"),
    ):
        rows = _breakdown_rows(found, key)
        if rows:
            console.print(
                table(title, ("key", "credits", "units"), rows, numeric=("credits", "units"))
            )
    forecast = [f for f in found["forecast"] if f["runs_out_on"] is not None]
    for f in forecast:
        console.print(
            f"at the {f['window_days']}-day burn ({text(f['daily_burn'])}/day) the credits run out"
            f" on {f['runs_out_on']}{' (before the reset)' if f['before_reset'] else ''}",
            highlight=False,
        )
