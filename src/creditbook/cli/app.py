"""The `creditbook` command: its commands and sub-commands, assembled.

Every command is written once over `creditbook.cli.backend.Backend` and runs on a database
(local mode) or against a server (remote mode); see `creditbook.cli.target` for how the
target is chosen and `creditbook.cli.errors` for the exit codes.
"""

from __future__ import annotations

import typer

from creditbook.cli import accounts, admin, events, payments, reports

HELP = """creditbook: the credits ledger of an API business.

Local mode works on a database (--database-url, CREDITBOOK_DATABASE_URL); remote mode calls
a server (--base-url or CREDITBOOK_BASE_URL, key in CREDITBOOK_API_KEY), or a --profile of
the config file. Exit codes: 0 ok, 1 failure, 2 usage or validation, 3 not found,
4 insufficient credits, 5 authentication or permission, 6 conflict, 7 cannot connect,
8 rate limited."""

app = typer.Typer(
    help=HELP, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode="markdown"
)
accounts_app = typer.Typer(
    help="List, open and show accounts.", no_args_is_help=True, rich_markup_mode="markdown"
)
keys_app = typer.Typer(
    help="Issue and revoke API keys.", no_args_is_help=True, rich_markup_mode="markdown"
)
runs_app = typer.Typer(
    help="List and show runs.", no_args_is_help=True, rich_markup_mode="markdown"
)

app.command()(admin.init)
app.command()(admin.apply)
accounts_app.command("list")(accounts.accounts_list)
accounts_app.command("create")(accounts.accounts_create)
accounts_app.command("show")(accounts.accounts_show)
app.add_typer(accounts_app, name="accounts")
keys_app.command("create")(admin.keys_create)
keys_app.command("revoke")(admin.keys_revoke)
app.add_typer(keys_app, name="keys")
# A negative amount (`grant acme -5`) is an argument, not an unknown option.
NEGATIVE_AMOUNTS = {"ignore_unknown_options": True}
app.command(context_settings=NEGATIVE_AMOUNTS)(accounts.grant)
app.command(context_settings=NEGATIVE_AMOUNTS)(accounts.charge)
runs_app.command("list")(accounts.runs_list)
runs_app.command("show")(accounts.runs_show)
app.add_typer(runs_app, name="runs")
events_app = typer.Typer(
    help="The event log: balance alerts, grants, expiries, renewals, runs.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
events_app.command("list")(events.events_list)
app.add_typer(events_app, name="events")
alerts_app = typer.Typer(
    help="An account's balance alerts.", no_args_is_help=True, rich_markup_mode="markdown"
)
alerts_app.command("show")(events.alerts_show)
alerts_app.command("set")(events.alerts_set)
app.add_typer(alerts_app, name="alerts")
packs_app = typer.Typer(
    help="Credit packs: credits sold through Stripe Checkout (declared with `apply`).",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
packs_app.command("list")(payments.packs_list)
app.add_typer(packs_app, name="packs")
app.command()(payments.buy)
auto_recharge_app = typer.Typer(
    help="Buy a pack on the saved card when an account runs low.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
auto_recharge_app.command("show")(payments.auto_recharge_show)
auto_recharge_app.command("set")(payments.auto_recharge_set)
auto_recharge_app.command("off")(payments.auto_recharge_off)
app.add_typer(auto_recharge_app, name="auto-recharge")
payments_app = typer.Typer(
    help="An account's purchases of credits.", no_args_is_help=True, rich_markup_mode="markdown"
)
payments_app.command("list")(payments.payments_list)
app.add_typer(payments_app, name="payments")
app.command()(reports.balance)
app.command()(reports.transactions)
app.command()(reports.export)
app.command()(reports.stats)
app.command()(admin.verify)
app.command()(admin.tick)
app.command()(admin.migrate)
app.command()(admin.demo)
app.command()(admin.serve)
webhooks_app = typer.Typer(
    help="Deliver webhooks (run), or watch events locally (listen).",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
webhooks_app.command("run")(admin.webhooks_run)
webhooks_app.command("listen")(events.webhooks_listen)
app.add_typer(webhooks_app, name="webhooks")
