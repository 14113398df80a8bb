"""The alerts and events page: an account's alert rules and pool states, and its event log
as sentences a customer reads ("Credits fell below 200 (190 left)").

Every figure comes from the ledger (`get_alerts`, `events`); this module only words them.
Stored event data keeps amounts in millicredits (see creditbook.engine.events.records), so
each amount is read back as Credits and shown with the dashboard's credit formatting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from creditbook.dashboard import formatting
from creditbook.domain.alerts import AlertRule
from creditbook.domain.amounts import Credits
from creditbook.domain.errors import ValidationError
from creditbook.engine.events.records import EVENT_TYPES, Event
from creditbook.engine.ledger import Ledger
from creditbook.engine.operations.alerts import PoolAlerts
from creditbook.engine.results import Account
from creditbook.wire.events import money

EVENTS_PAGE_SIZE = 25

# Readable labels of the event types an account has, in the order the docs list them.
# `webhook_endpoint.disabled` is the operator's own (account ''), never an account's.
EVENT_LABELS = {
    "balance.low": "Low balance",
    "balance.depleted": "Ran out",
    "balance.recovered": "Recovered",
    "credits.granted": "Credits granted",
    "credits.expiring": "Expiring soon",
    "credits.expired": "Credits expired",
    "period.renewed": "Period renewed",
    "run.paused": "Run paused",
    "run.finished": "Run finished",
    "payment.succeeded": "Credits bought",
    "payment.refunded": "Payment refunded",
    "payment.disputed": "Payment disputed",
    "auto_recharge.failed": "Auto-recharge failed",
}
ACCOUNT_EVENT_TYPES = tuple(kind for kind in EVENT_TYPES if kind in EVENT_LABELS)

# How a grant's source reads before "credits": "8 bonus credits".
SOURCE_WORDS = {
    "allowance": "allowance",
    "bonus": "bonus",
    "rollover": "rolled-over",
    "top_up": "top-up",
    "adjustment": "adjustment",
}


# -- the event log --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventRow:
    """One line of the events table: `description` is the sentence built from the data."""

    event_id: str
    type: str
    label: str
    pool: str
    created_at: datetime
    description: str
    run_id: str


@dataclass(frozen=True, slots=True)
class EventLog:
    """A page of the log, newest first. `older`: the query string of the next page ('' on
    the last); `first_page`: no cursor was given."""

    type: str | None
    rows: list[EventRow]
    first_page: bool
    older: str

    def newest(self) -> str:
        """The query string of the first page with the same filter."""
        return urlencode({"type": self.type}) if self.type else ""


def event_log(ledger: Ledger, account: Account, type: str | None, cursor: str | None) -> EventLog:
    """One page of the account's events (a type, or every type); ValidationError for an
    unknown type or a malformed cursor."""
    if type and type not in ACCOUNT_EVENT_TYPES:
        raise ValidationError(f"unknown event type {type!r}")
    page = ledger.events(
        account_id=account.account_id,
        types=[type] if type else [],
        limit=EVENTS_PAGE_SIZE,
        cursor=cursor or None,
    )
    rows = [event_row(event, account.timezone) for event in page.data]
    older = ""
    if page.has_more and page.next_cursor:
        older = urlencode({k: v for k, v in (("type", type), ("cursor", page.next_cursor)) if v})
    return EventLog(type or None, rows, not cursor, older)


def event_row(event: Event, timezone: str) -> EventRow:
    data = event.data
    describe = DESCRIPTIONS.get(event.type)
    return EventRow(
        event_id=event.event_id,
        type=event.type,
        label=EVENT_LABELS.get(event.type, event.type),
        pool=str(data.get("pool", "")),
        created_at=event.created_at,
        description=describe(data, timezone) if describe else event.type,
        run_id=str(data.get("run_id", "")),
    )


def amount(data: dict[str, Any], name: str) -> str:
    """An amount of the stored data (millicredits) as the dashboard shows credits (exactly,
    even beyond the amount range: see `Credits.unbounded`)."""
    return formatting.credits(Credits.unbounded(int(data.get(name) or 0)))


def credits_of(data: dict[str, Any], name: str, kind: str = "") -> str:
    """`20 credits`, `1 bonus credit`: an amount with its noun."""
    value = Credits.unbounded(int(data.get(name) or 0))
    noun = "credit" if value == Credits.of(1) else "credits"
    return " ".join(part for part in (formatting.credits(value), kind, noun) if part)


def share(percent: object) -> str:
    """A rule's percent exactly as set (two places at most): `10 %`, `12.25 %`."""
    return f"{formatting.number(Decimal(str(percent)))} %"


def instant(data: dict[str, Any], name: str, timezone: str) -> str:
    """An RFC 3339 time of the data in the account's time zone."""
    value = data.get(name)
    if not value:
        return "—"
    return formatting.when(datetime.fromisoformat(str(value).replace("Z", "+00:00")), timezone)


def _low(data: dict[str, Any], timezone: str) -> str:
    text = f"Credits fell below {amount(data, 'threshold')} ({amount(data, 'available')} left)"
    return text + _which_alert(data)


def _which_alert(data: dict[str, Any]) -> str:
    """`, the 10 % alert` when the threshold is a percent of the allowance."""
    percent = data.get("threshold_percent")
    return "" if percent is None else f", the {share(percent)} alert"


def _depleted(data: dict[str, Any], timezone: str) -> str:
    if data.get("reason") == "charge_refused":
        return (
            f"Pool ran out: a charge of {amount(data, 'requested')} was refused "
            f"({amount(data, 'available')} left)"
        )
    return f"Pool ran out ({amount(data, 'available')} left)"


def _recovered(data: dict[str, Any], timezone: str) -> str:
    if data.get("recovered_from") == "depleted":
        return f"Credits available again ({amount(data, 'available')} left)"
    text = f"Credits back at {amount(data, 'threshold')} or more ({amount(data, 'available')} left)"
    return text + _which_alert(data)


def _granted(data: dict[str, Any], timezone: str) -> str:
    source = str(data.get("source", ""))
    text = f"{credits_of(data, 'amount')} granted ({SOURCE_WORDS.get(source, source)})"
    if data.get("expires_at"):
        text += f", expiring {instant(data, 'expires_at', timezone)}"
    return text


def _expiring(data: dict[str, Any], timezone: str) -> str:
    kind = SOURCE_WORDS.get(str(data.get("source", "")), "")
    verb = "expires" if int(data.get("remaining") or 0) == Credits.of(1).millicredits else "expire"
    return (
        f"{credits_of(data, 'remaining', kind)} {verb} on {instant(data, 'expires_at', timezone)}"
    )


def _expired(data: dict[str, Any], timezone: str) -> str:
    kind = SOURCE_WORDS.get(str(data.get("source", "")), "")
    return f"{credits_of(data, 'amount', kind)} expired"


def _renewed(data: dict[str, Any], timezone: str) -> str:
    text = f"Period renewed: {credits_of(data, 'allowance')}"
    if int(data.get("rollover") or 0) > 0:
        text += f", {amount(data, 'rollover')} rolled over"
    if int(data.get("expired") or 0) > 0:
        text += f"; {amount(data, 'expired')} unused from the last period lapsed"
    return text


def _paused(data: dict[str, Any], timezone: str) -> str:
    return f"Run paused: a charge of {amount(data, 'requested')} was refused (not enough credits)"


def _finished(data: dict[str, Any], timezone: str) -> str:
    text = f"Run finished: {credits_of(data, 'charged')} charged"
    if int(data.get("released") or 0) > 0:
        text += f", {amount(data, 'released')} held credits released"
    return text


def paid(data: dict[str, Any], name: str) -> str:
    """Money of the data (an integer in the currency's minor unit): `9.00 USD`."""
    return money(int(data.get(name) or 0), str(data.get("currency") or ""))


def _bought(data: dict[str, Any], timezone: str) -> str:
    packs = f"{data.get('pack_id', '')} × {data.get('quantity', 1)}"
    who = "Auto-recharge bought" if data.get("kind") == "auto_recharge" else "Bought"
    return f"{who} {credits_of(data, 'credits')} ({packs}) for {paid(data, 'amount_paid')}"


def _refunded(data: dict[str, Any], timezone: str) -> str:
    text = f"Payment refunded, {paid(data, 'amount_refunded')} in all"
    parts = []
    if int(data.get("credits_taken_back") or 0) > 0:
        parts.append(f"{credits_of(data, 'credits_taken_back')} taken back")
    if int(data.get("credits_not_recovered") or 0) > 0:
        parts.append(f"{amount(data, 'credits_not_recovered')} already spent")
    return f"{text}: {', '.join(parts)}" if parts else text


def _disputed(data: dict[str, Any], timezone: str) -> str:
    reason = str(data.get("reason") or "").replace("_", " ")
    text = f"Payment disputed: {paid(data, 'disputed_amount')}"
    return f"{text} ({reason})" if reason else text


def _recharge_failed(data: dict[str, Any], timezone: str) -> str:
    reason = str(data.get("reason") or "").rstrip(".")
    pack = data.get("pack_id", "")
    if data.get("status") == "skipped":
        return f"Auto-recharge of {pack} skipped: {reason}"
    return f"Auto-recharge of {pack} failed: {reason}. Paused until a new card is saved"


DESCRIPTIONS: dict[str, Callable[[dict[str, Any], str], str]] = {
    "balance.low": _low,
    "balance.depleted": _depleted,
    "balance.recovered": _recovered,
    "credits.granted": _granted,
    "credits.expiring": _expiring,
    "credits.expired": _expired,
    "period.renewed": _renewed,
    "run.paused": _paused,
    "run.finished": _finished,
    "payment.succeeded": _bought,
    "payment.refunded": _refunded,
    "payment.disputed": _disputed,
    "auto_recharge.failed": _recharge_failed,
}


# -- alert rules and pool states ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PoolAlertsRow:
    """One pool: its credits available now, its state (`ran_out`, `low` or `ok`) and that
    state in words, and its alert rules in words ("Below 200 credits"), highest first."""

    pool: str
    available: Credits
    state: str
    text: str
    rules: list[str]


@dataclass(frozen=True, slots=True)
class AlertsView:
    """`source`: `account` (its own rules) or `plan` (the plan's defaults)."""

    source: str
    plan_name: str
    pools: list[PoolAlertsRow]

    @property
    def has_rules(self) -> bool:
        return any(pool.rules for pool in self.pools)


def alerts_view(ledger: Ledger, account: Account) -> AlertsView:
    alerts = ledger.get_alerts(account.account_id)
    plan = ledger.get_plan(account.plan_id)
    rows = []
    for pool in alerts.pools:
        allowance = plan.allowance(pool.pool)
        rules = sorted(
            (rule for rule in alerts.rules if rule.pool == pool.pool),
            key=lambda rule: -(rule.threshold(allowance) or 0),
        )
        state, text = pool_state(pool, bool(rules))
        texts = [rule_text(rule, allowance) for rule in rules]
        rows.append(PoolAlertsRow(pool.pool, pool.available, state, text, texts))
    return AlertsView(alerts.source, plan.name or plan.plan_id, rows)


def rule_text(rule: AlertRule, allowance: Credits) -> str:
    """When the rule fires, in words."""
    if rule.credits is not None:
        return f"Below {formatting.credits(rule.credits)} credits"
    below = f"Below {share(rule.percent)} of the period's allowance"
    threshold = rule.threshold(allowance)
    if threshold is None:
        return f"{below} (this pool has no allowance, so it never fires)"
    return f"{below} ({formatting.credits(Credits(threshold))} credits)"


def pool_state(pool: PoolAlerts, has_rules: bool) -> tuple[str, str]:
    """A pool's alert state, and the state as a customer reads it."""
    if pool.depleted:
        if pool.available.is_positive():
            why = "a charge was refused for lack of credits"
        else:
            why = "no credits are left"
        return "ran_out", f"Ran out: {why}. This clears when credits are added."
    if pool.low:
        below = " and ".join(formatting.credits(value) for value in reversed(pool.low))
        return "low", f"Low: below {below} credits."
    return "ok", "OK: above every alert." if has_rules else "OK."
