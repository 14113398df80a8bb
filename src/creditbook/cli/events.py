"""Events and balance alerts: `creditbook events list`, `creditbook alerts show|set`, and
`creditbook webhooks listen`, which prints events as they are recorded and forwards each,
signed like a webhook delivery, to a local URL (for developing a receiver)."""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated

import httpx
import simplejson
import typer
from standardwebhooks.webhooks import Webhook

from creditbook.cli.backend import Backend, Json, iter_events, open_backend
from creditbook.cli.errors import handled, usage
from creditbook.cli.options import Account, BaseUrl, DatabaseUrl, JsonFlag, Profile, target
from creditbook.cli.output import console, print_json, stream_json, table
from creditbook.cli.target import account_of
from creditbook.wire.alerts import AlertRuleBody, AlertsBody
from creditbook.wire.events import summary

EVENT_COLUMNS = ("created_at", "type", "pool", "what happened")
# Events committed a little out of creation order are still caught by `listen`.
LATE_COMMIT = timedelta(seconds=60)


def _row(event: Json, with_account: bool) -> list[object]:
    row: list[object] = [
        event["created_at"],
        event["type"],
        event["data"].get("pool", ""),
        summary(event["type"], event["data"]),
    ]
    return [event["account_id"] or "(operator)", *row] if with_account else row


@handled
def events_list(
    account: Annotated[
        str | None,
        typer.Argument(
            help="One account's events (default: CREDITBOOK_ACCOUNT_ID, the profile's or the "
            "key's account; else, with the operator's access, every account's).",
            show_default=False,
        ),
    ] = None,
    event_type: Annotated[
        list[str] | None, typer.Option("--type", help="Only this type (repeatable).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=100, help="Page size.")] = 20,
    cursor: Annotated[
        str | None, typer.Option(help="Start after the page that printed it.", show_default=False)
    ] = None,
    all_pages: Annotated[
        bool, typer.Option("--all", help="Every page from --cursor (or the newest) on.")
    ] = False,
    database_url: DatabaseUrl = None,
    base_url: BaseUrl = None,
    profile: Profile = None,
    json_output: JsonFlag = False,
) -> None:
    """Events newest first: balance alerts, grants, expiries, renewals, runs (both modes)."""
    chosen = target(database_url, base_url, profile)
    types = tuple(event_type or ())
    with open_backend(chosen, read_only=True) as backend:
        account_id = account or chosen.account or backend.own_account()
        if all_pages:
            items = iter_events(backend, account_id, types, cursor)
            if json_output:
                stream_json(items)
                return
            page: Json = {"data": list(items), "has_more": False, "next_cursor": None}
        else:
            page = backend.list_events(account_id, types, limit, cursor)
    if json_output:
        print_json(page)
        return
    events = page["data"]
    title = f"{account_id or 'every account'}: {len(events)} events, newest first"
    columns = EVENT_COLUMNS if account_id else ("account_id", *EVENT_COLUMNS)
    rows = (_row(event, with_account=not account_id) for event in events)
    console.print(table(title, columns, rows))
    if page["has_more"]:
        console.print(f"more: --cursor {page['next_cursor']}", highlight=False, soft_wrap=True)


def _print_alerts(alerts: Json) -> None:
    source = "its own" if alerts["source"] == "account" else "its plan's defaults"
    rules = [
        (
            rule["pool"],
            rule.get("credits") or "",
            f"{rule['percent']}%" if rule.get("percent") else "",
        )
        for rule in alerts["rules"]
    ]
    title = f"{alerts['account_id']}: {len(rules)} alert rules ({source})"
    console.print(table(title, ("pool", "credits", "percent of allowance"), rules))
    pools = [
        (
            pool["pool"],
            pool["available"],
            ", ".join(str(low) for low in pool["low"]) or "-",
            "yes" if pool["depleted"] else "no",
        )
        for pool in alerts["pools"]
    ]
    console.print(
        table("now", ("pool", "available", "below", "depleted"), pools, numeric=("available",))
    )


def _percent(value: object) -> str:
    return "" if value is None else f"{value}%"


@handled
def alerts_show(
    account: Account = None,
    database_url: DatabaseUrl = None,
    base_url: BaseUrl = None,
    profile: Profile = None,
    json_output: JsonFlag = False,
) -> None:
    """An account's alert rules in force and each pool's state (both modes)."""
    chosen = target(database_url, base_url, profile)
    with open_backend(chosen, read_only=True) as backend:
        alerts = backend.get_alerts(account_of(chosen, account, backend))
    print_json(alerts) if json_output else _print_alerts(alerts)


@handled
def alerts_set(
    account: Account = None,
    credits: Annotated[
        list[str] | None, typer.Option("--credits", help="A threshold in credits (repeatable).")
    ] = None,
    percent: Annotated[
        list[str] | None,
        typer.Option("--percent", help="A threshold in percent of the allowance (repeatable)."),
    ] = None,
    pool: Annotated[str, typer.Option(help="The pool the thresholds watch.")] = "credits",
    plan_defaults: Annotated[
        bool, typer.Option("--plan-defaults", help="Drop the account's own rules.")
    ] = False,
    database_url: DatabaseUrl = None,
    base_url: BaseUrl = None,
    profile: Profile = None,
    json_output: JsonFlag = False,
) -> None:
    """Set an account's alert thresholds (replacing its own), or go back to its plan's
    (both modes). A pool already below a new threshold gets its balance.low at once."""
    if plan_defaults and (credits or percent):
        raise usage("--plan-defaults takes no --credits or --percent")
    rules = [AlertRuleBody(pool=pool, credits=_number(v, "--credits")) for v in credits or ()]
    rules += [AlertRuleBody(pool=pool, percent=_number(v, "--percent")) for v in percent or ()]
    body = AlertsBody(rules=None if plan_defaults else rules)
    chosen = target(database_url, base_url, profile)
    with open_backend(chosen) as backend:
        alerts = backend.put_alerts(account_of(chosen, account, backend), body)
    print_json(alerts) if json_output else _print_alerts(alerts)


def _number(text: str, option: str) -> Decimal:
    try:
        return Decimal(text)
    except ArithmeticError:
        raise usage(f"{option} takes a number, got {text!r}") from None


# -- webhooks listen --------------------------------------------------------------------------


def new_secret() -> str:
    """A signing secret as Standard Webhooks writes them: `whsec_` and base64 bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def _new_events(backend: Backend, account_id: str | None, seen: dict[str, str]) -> list[Json]:
    """Events not printed yet, oldest first: pages are read back to LATE_COMMIT before the
    newest already seen, so an event committed after a newer one is not missed."""
    newest = max(seen.values(), default=None)
    horizon = None if newest is None else _instant(newest) - LATE_COMMIT
    found: list[Json] = []
    for event in iter_events(backend, account_id, (), None):
        if horizon is not None and _instant(event["created_at"]) < horizon:
            break
        if event["id"] not in seen:
            found.append(event)
    return found[::-1]


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _forward(http: httpx.Client, url: str, signer: Webhook, event: Json) -> str:
    body = simplejson.dumps(event, use_decimal=True, ensure_ascii=False, separators=(",", ":"))
    now = datetime.now(UTC)
    headers = {
        "content-type": "application/json",
        "webhook-id": event["id"],
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signer.sign(event["id"], now, body.encode()),
    }
    try:
        response = http.post(url, content=body.encode(), headers=headers)
    except httpx.HTTPError as error:
        return f"-> {url} failed: {error}"
    return f"-> {url} {response.status_code}"


def _watch(
    backend: Backend, account_id: str | None, interval: float, backlog: int
) -> Iterator[Json]:
    """The `backlog` latest events, then every new one as it is recorded."""
    first = _new_events(backend, account_id, {})
    seen = {event["id"]: event["created_at"] for event in first}
    yield from first[len(first) - backlog :] if backlog else ()
    while True:
        time.sleep(interval)
        for event in _new_events(backend, account_id, seen):
            seen[event["id"]] = event["created_at"]
            yield event


@handled
def webhooks_listen(
    forward_to: Annotated[
        str | None, typer.Option(help="POST each event here, signed like a webhook delivery.")
    ] = None,
    account: Annotated[str | None, typer.Option(help="Only this account's events.")] = None,
    secret: Annotated[
        str | None, typer.Option(help="Sign with this secret (default: a new one, printed).")
    ] = None,
    interval: Annotated[float, typer.Option(min=0.1, help="Seconds between polls.")] = 1.0,
    backlog: Annotated[
        int, typer.Option(min=0, help="Start with this many of the latest events.")
    ] = 0,
    max_events: Annotated[
        int | None, typer.Option(min=1, help="Stop after this many events.", show_default=False)
    ] = None,
    database_url: DatabaseUrl = None,
    base_url: BaseUrl = None,
    profile: Profile = None,
) -> None:
    """Print events as they are recorded, for local development; with --forward-to, POST
    each one to a local receiver signed per Standard Webhooks (both modes; Ctrl-C stops)."""
    chosen = target(database_url, base_url, profile)
    signing = secret or new_secret()
    signer = Webhook(signing)
    with open_backend(chosen, read_only=True) as backend, httpx.Client(timeout=10) as http:
        account_id = account or chosen.account or backend.own_account()
        scope = account_id or "every account"
        console.print(f"listening for events of {scope}", highlight=False)
        if forward_to:
            console.print(f"forwarding to {forward_to}, signing secret {signing}", highlight=False)
        try:
            for count, event in enumerate(_watch(backend, account_id, interval, backlog), 1):
                what = summary(event["type"], event["data"])
                line = f"{event['created_at']}  {event['account_id']}  {event['type']}  {what}"
                if forward_to:
                    line += f"  {_forward(http, forward_to, signer, event)}"
                console.print(line, highlight=False, markup=False, soft_wrap=True)
                if count == max_events:
                    return
        except KeyboardInterrupt:
            return
