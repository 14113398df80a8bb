"""What the dashboard's pages show, read from the ledger through its public methods.

Every figure (balances, consumption, forecasts, stats, breakdowns) comes from the ledger.
This module only arranges them for a page: shares of a total, how far the period has run,
days without spend filled with zero, the labels and colours of functions. The transaction
history and its CSV export are in history_figures.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from creditbook.dashboard.outlook import Outlook, outlook
from creditbook.domain.amounts import Credits
from creditbook.domain.errors import InvariantError, ValidationError
from creditbook.domain.grants import GrantSource
from creditbook.domain.periods import local_date
from creditbook.domain.rates import (
    BASE_FUNCTION,
    DEFAULT_BACKGROUND_COLOR,
    DEFAULT_TEXT_COLOR,
    RateCard,
)
from creditbook.domain.stats import MAX_STATS_RANGE_DAYS
from creditbook.engine.ledger import Ledger
from creditbook.engine.results import (
    Account,
    Balance,
    Forecast,
    PoolBalance,
    Run,
    RunBreakdown,
    Stats,
    Total,
)

# An account is flagged low when a pool with an allowance has less than this share of it
# left, when a pool in use (an allowance or spend this period) is empty, when a pool owes
# credits, or when the pace really empties a pool before its credits come back (outlook.py).
LOW_BALANCE_SHARE = Decimal("0.10")
# A run page calls out a function (or filter) that costs at least this share of the run,
# when the run has more than one priced line.
DOMINANT_SHARE_PERCENT = Decimal(50)
TOP_RESOURCES = 10
OPERATOR_PAGE_SIZE = 50
RUNS_SHOWN = 100
# The runs page lists this many runs a page, older pages by cursor.
RUNS_PAGE_SIZE = 50
FORECAST_WINDOW_DAYS = 7
# Spend charged as raw credits carries no function; the usage chart stacks it apart.
UNATTRIBUTED = ""
UNATTRIBUTED_STYLE = ("Other (raw credits)", "#F1F5F9", "#94A3B8")
# Stats name a paid filter's charges `filter:<name>` among the functions.
FILTER_PREFIX = "filter:"
FILTER_COLORS = ("#FEF3C7", "#B45309")
# Functions whose rate card left the default colours get one of these, in order.
PALETTE = ("#2563EB", "#D97706", "#7C3AED", "#DC2626", "#0891B2", "#65A30D", "#DB2777")
USAGE_RANGES = ("7d", "30d", "period", "custom")
BASE_LABEL = "Base rows"
DEFAULT_USAGE_RANGE = "30d"


def share_percent(part: Credits, whole: Credits) -> Decimal:
    """`part` as a percent of `whole` (0 when `whole` is not positive)."""
    if not whole.is_positive():
        return Decimal(0)
    return Decimal(part.millicredits * 100) / Decimal(whole.millicredits)


def chart_number(amount: Credits) -> float:
    """A chart's bar height. Display only: figures shown as text stay exact."""
    return float(amount.to_decimal())


# -- overview -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PoolCard:
    """One pool of the overview.

    Attributes:
        used_percent: consumed as a percent of the allowance (None without an allowance).
        bonus, rollover: spendable credits from bonus and rolled-over grants.
    """

    pool: str
    available: Credits
    allowance: Credits
    consumed: Credits
    used_percent: Decimal | None
    bonus: Credits
    rollover: Credits
    rollover_expires_at: datetime | None
    held: Credits
    overdraft_limit: Credits
    low: bool


@dataclass(frozen=True, slots=True)
class Overview:
    account: Account
    balance: Balance
    cards: list[PoolCard]
    period_elapsed_percent: Decimal
    forecast: list[Forecast]
    low: bool
    outlook: Outlook

    @property
    def headline_forecast(self) -> Forecast | None:
        return next((f for f in self.forecast if f.window_days == FORECAST_WINDOW_DAYS), None)


def pool_cards(balance: Balance) -> list[PoolCard]:
    cards = []
    for pool in balance.pools.values():
        allowance = pool.allowance
        cards.append(
            PoolCard(
                pool=pool.pool,
                available=pool.available,
                allowance=allowance,
                consumed=pool.consumed,
                used_percent=(
                    share_percent(pool.consumed, allowance) if allowance.is_positive() else None
                ),
                bonus=pool.by_source.get(GrantSource.BONUS.value, Credits(0)),
                rollover=pool.by_source.get(GrantSource.ROLLOVER.value, Credits(0)),
                rollover_expires_at=pool.rollover_expires_at,
                held=pool.held,
                overdraft_limit=pool.overdraft_limit,
                low=is_pool_low(pool),
            )
        )
    return cards


def is_pool_low(pool: PoolBalance) -> bool:
    """Less than LOW_BALANCE_SHARE of the allowance left, or nothing left of a pool in use.

    A pool the plan gives nothing and nothing was spent from this period sits at zero
    without anyone relying on it: that is no alarm. Credits owed (below zero) always are.
    """
    available, allowance = pool.available, pool.allowance
    if available.is_negative():
        return True
    if allowance.is_positive():
        left = Decimal(available.millicredits)
        return left < Decimal(allowance.millicredits) * LOW_BALANCE_SHARE
    return pool.consumed.is_positive() and not available.is_positive()


def period_elapsed_percent(balance: Balance) -> Decimal:
    length = (balance.period_end_at - balance.period_start_at).total_seconds()
    elapsed = (balance.at - balance.period_start_at).total_seconds()
    if length <= 0:
        return Decimal(100)
    return min(Decimal(100), max(Decimal(0), Decimal(elapsed * 100 / length)))


def overview(ledger: Ledger, account_id: str) -> Overview:
    account = ledger.get_account(account_id)
    balance = ledger.balance(account_id)
    today = local_date(balance.at, account.timezone)
    # Stats of one day: the forecast comes with them (trailing 7- and 30-day burn).
    forecast = ledger.stats(account_id, today, today).forecast
    cards = pool_cards(balance)
    ahead = outlook(ledger, account, balance, today)
    low = any(card.low for card in cards) or ahead.short
    return Overview(account, balance, cards, period_elapsed_percent(balance), forecast, low, ahead)


@dataclass(frozen=True, slots=True)
class AccountRow:
    """One line of the operator's list of accounts (`pools`: the overview's cards)."""

    account: Account
    pools: list[PoolCard]
    burn_per_day: Decimal
    runs_out_on: date | None
    before_reset: bool
    low: bool
    has_unpaid_bill: bool


@dataclass(frozen=True, slots=True)
class AccountList:
    rows: list[AccountRow]
    next_after: str | None


def account_list(ledger: Ledger, after: str | None) -> AccountList:
    accounts = ledger.list_accounts(limit=OPERATOR_PAGE_SIZE + 1, after=after)
    more = len(accounts) > OPERATOR_PAGE_SIZE
    accounts = accounts[:OPERATOR_PAGE_SIZE]
    rows = []
    for account in accounts:
        view = overview(ledger, account.account_id)
        headline = view.headline_forecast
        rows.append(
            AccountRow(
                account,
                view.cards,
                headline.daily_burn if headline else Decimal(0),
                headline.runs_out_on if headline else None,
                view.outlook.short,
                view.low,
                view.balance.has_unpaid_bill,
            )
        )
    return AccountList(rows, accounts[-1].account_id if more and accounts else None)


# -- functions: labels and colours ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FunctionStyle:
    key: str
    label: str
    bg_color: str
    txt_color: str


def _is_default(bg_color: str, txt_color: str) -> bool:
    return (bg_color.upper(), txt_color.upper()) == (
        DEFAULT_BACKGROUND_COLOR.upper(),
        DEFAULT_TEXT_COLOR.upper(),
    )


def function_styles(cards: list[RateCard], preferred: list[str]) -> dict[str, FunctionStyle]:
    """Label and colours per function name from the rate cards. The cards in `preferred`
    (those the account's runs used, in order) speak first, so `base` takes their label."""
    order = {card_id: index for index, card_id in enumerate(preferred)}
    ranked = sorted(cards, key=lambda c: (order.get(c.rate_card_id, len(order)), c.rate_card_id))
    # Stats sum every card's base rows under one name: a card's own label fits only when
    # all cards share it.
    labels = {card.base_label or BASE_LABEL for card in cards}
    styles: dict[str, FunctionStyle] = {}
    for card in ranked:
        if BASE_FUNCTION not in styles:
            colors = card.base_colors
            label = labels.pop() if len(labels) == 1 else BASE_LABEL
            styles[BASE_FUNCTION] = FunctionStyle(
                BASE_FUNCTION, label, colors.bg_color, colors.txt_color
            )
        for name, function in sorted(card.functions.items()):
            if name not in styles:
                colors = function.colors
                styles[name] = FunctionStyle(
                    name, name.replace("_", " "), colors.bg_color, colors.txt_color
                )
        for name, paid_filter in sorted(card.filters.items()):
            key = f"{FILTER_PREFIX}{name}"
            if key not in styles:
                label = f"{paid_filter.display or name} (filter)"
                styles[key] = FunctionStyle(key, label, FILTER_COLORS[0], FILTER_COLORS[1])
    return _distinct_colors(styles)


def _distinct_colors(styles: dict[str, FunctionStyle]) -> dict[str, FunctionStyle]:
    """Give functions left in the default grey a colour of their own from the palette."""
    result: dict[str, FunctionStyle] = {}
    spare = iter(PALETTE)
    for key, style in styles.items():
        if _is_default(style.bg_color, style.txt_color):
            color = next(spare, DEFAULT_TEXT_COLOR)
            style = FunctionStyle(key, style.label, DEFAULT_BACKGROUND_COLOR, color)
        result[key] = style
    return result


def style_of(styles: dict[str, FunctionStyle], key: str) -> FunctionStyle:
    if key == UNATTRIBUTED:
        label, bg_color, txt_color = UNATTRIBUTED_STYLE
        return FunctionStyle(key, label, bg_color, txt_color)
    found = styles.get(key)
    return found or FunctionStyle(key, key.replace("_", " "), DEFAULT_BACKGROUND_COLOR, "#475569")


def account_styles(ledger: Ledger, account_id: str) -> dict[str, FunctionStyle]:
    used = [run.rate_card_id for run in ledger.list_runs(account_id, limit=RUNS_SHOWN)]
    return function_styles(ledger.list_rate_cards(), list(dict.fromkeys(used)))


# -- usage ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UsageRange:
    key: str
    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def usage_range_key(key: str | None) -> str:
    """One of USAGE_RANGES: a missing or unknown key (an old or mistyped link) is the
    default, so the page shows that range and highlights its tab."""
    return key if key in USAGE_RANGES else DEFAULT_USAGE_RANGE


def usage_range(
    key: str | None, start: date | None, end: date | None, today: date, period_start: date
) -> UsageRange:
    """The range a usage page shows; ValidationError for a custom range the ledger refuses."""
    key = usage_range_key(key)
    if key == "7d":
        return UsageRange(key, today - timedelta(days=6), today)
    if key == "30d":
        return UsageRange(key, today - timedelta(days=29), today)
    if key == "period":
        return UsageRange(key, min(period_start, today), today)
    if start is None or end is None:
        raise ValidationError("choose both a first and a last day")
    if start > end:
        raise ValidationError("the first day must not come after the last day")
    if (end - start).days + 1 > MAX_STATS_RANGE_DAYS:
        raise ValidationError(f"a range is at most {MAX_STATS_RANGE_DAYS:,} days")
    return UsageRange(key, start, end)


@dataclass(frozen=True, slots=True)
class ShareRow:
    key: str
    label: str
    amount: Credits
    units: int
    percent: Decimal
    style: FunctionStyle | None = None


@dataclass(frozen=True, slots=True)
class ResourceRow:
    """A resource (a table, a scraper) among the range's most expensive."""

    resource_id: str
    name: str
    module: str
    amount: Credits
    units: int
    percent: Decimal


@dataclass(frozen=True, slots=True)
class Usage:
    range: UsageRange
    stats: Stats
    chart: dict[str, Any]
    by_function: list[ShareRow]
    by_module: list[ShareRow]
    by_service: list[ShareRow]
    by_user: list[ShareRow]
    resources: list[ResourceRow]


def shares(totals: list[Total], whole: Credits) -> list[ShareRow]:
    return [
        ShareRow(t.key, t.key, t.amount, t.units, share_percent(t.amount, whole)) for t in totals
    ]


def usage(
    ledger: Ledger, account_id: str, chosen: UsageRange, styles: dict[str, FunctionStyle]
) -> Usage:
    stats = ledger.stats(account_id, chosen.start, chosen.end)
    by_function = [
        ShareRow(
            t.key,
            style_of(styles, t.key).label,
            t.amount,
            t.units,
            share_percent(t.amount, stats.total),
            style_of(styles, t.key),
        )
        for t in stats.by_function
    ]
    unattributed = stats.total - sum((t.amount for t in stats.by_function), Credits(0))
    if unattributed:
        style = style_of(styles, UNATTRIBUTED)
        by_function.append(
            ShareRow(
                UNATTRIBUTED,
                style.label,
                unattributed,
                0,
                share_percent(unattributed, stats.total),
                style,
            )
        )
    resources = [
        ResourceRow(
            r.resource_id,
            r.name or r.resource_id,
            r.module,
            r.amount,
            r.units,
            share_percent(r.amount, stats.total),
        )
        for r in stats.by_resource[:TOP_RESOURCES]
    ]
    return Usage(
        chosen,
        stats,
        daily_chart(stats, chosen, by_function),
        by_function,
        shares(stats.by_module, stats.total),
        shares(stats.by_service, stats.total),
        shares(stats.by_user, stats.total),
        resources,
    )


def daily_chart(stats: Stats, chosen: UsageRange, functions: list[ShareRow]) -> dict[str, Any]:
    """A stacked bar chart: one bar per day of the range, one stack per function."""
    days = [chosen.start + timedelta(days=n) for n in range(chosen.days)]
    by_day = {day.date: day for day in stats.daily}
    datasets = []
    for row in functions:
        style = row.style
        if style is None:
            raise InvariantError("every charted function has a style")
        data = []
        for day in days:
            spent = by_day.get(day)
            if spent is None:
                data.append(0.0)
            elif row.key == UNATTRIBUTED:
                attributed = sum(spent.by_function.values(), Credits(0))
                data.append(chart_number(spent.amount - attributed))
            else:
                data.append(chart_number(spent.by_function.get(row.key, Credits(0))))
        datasets.append(
            {
                "key": row.key,
                "label": row.label,
                "data": data,
                "backgroundColor": style.txt_color,
                "borderColor": style.txt_color,
            }
        )
    return {
        "type": "bar",
        "stacked": True,
        "labels": [f"{day.day} {day:%b}" for day in days],
        "dates": [day.isoformat() for day in days],
        "datasets": datasets,
    }


# -- runs -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunLine:
    """One priced line of a run: a function, or a paid filter.

    Attributes:
        quantity: rows kept (base), attempts (enrichment functions), rows kept (filters).
    """

    kind: str
    key: str
    label: str
    rate: Credits
    quantity: int
    credits: Credits
    percent: Decimal
    style: FunctionStyle


@dataclass(frozen=True, slots=True)
class RunView:
    run: Run
    breakdown: RunBreakdown
    functions: list[RunLine]
    filters: list[RunLine]
    dominant: RunLine | None
    chart: dict[str, Any] = field(default_factory=dict)


def run_view(ledger: Ledger, account_id: str, run_id: str) -> RunView:
    run = ledger.get_run(account_id, run_id)
    breakdown = ledger.run_breakdown(account_id, run_id)
    total = breakdown.total_credits
    # The usage page's colours (default grey made distinct), so a function looks the same
    # on both pages; the labels are the run's own card's.
    styles = account_styles(ledger, account_id)
    functions = []
    for item in breakdown.breakdown:
        is_base = item.function == BASE_FUNCTION
        label = (breakdown.base_function_label or BASE_FUNCTION) if is_base else item.function
        colors = style_of(styles, item.function)
        if is_base:
            colors = card_base_style(breakdown, label) or colors
        style = FunctionStyle(
            item.function,
            label if is_base else label.replace("_", " "),
            colors.bg_color,
            colors.txt_color,
        )
        rate = breakdown.rates.get("credits_per_row" if is_base else item.function, Credits(0))
        functions.append(
            RunLine(
                "function",
                item.function,
                style.label,
                rate,
                breakdown.total_results if is_base else item.attempts,
                item.credits,
                share_percent(item.credits, total),
                style,
            )
        )
    filters = [
        RunLine(
            "filter",
            item.name,
            item.display or item.name,
            item.rate,
            breakdown.total_results,
            item.credits,
            share_percent(item.credits, total),
            FunctionStyle(item.name, item.display, *FILTER_COLORS),
        )
        for item in breakdown.filter_breakdown
    ]
    return RunView(
        run,
        breakdown,
        functions,
        filters,
        dominant_line(functions + filters, total),
        run_chart(functions + filters),
    )


def card_base_style(breakdown: RunBreakdown, label: str) -> FunctionStyle | None:
    """A run's base rows in its own card's colours, unless the card left them grey. The
    usage page's base line adds up every card's base rows; a run's are one card's, under
    that card's label."""
    own = breakdown.function_colors.get(label, {})
    bg_color = own.get("bg_color", DEFAULT_BACKGROUND_COLOR)
    txt_color = own.get("txt_color", DEFAULT_TEXT_COLOR)
    if _is_default(bg_color, txt_color):
        return None
    return FunctionStyle(BASE_FUNCTION, label, bg_color, txt_color)


def dominant_line(lines: list[RunLine], total: Credits) -> RunLine | None:
    priced = [line for line in lines if line.credits.is_positive()]
    if len(lines) < 2 or not total.is_positive() or not priced:
        return None
    top = max(priced, key=lambda line: line.credits)
    return top if top.percent >= DOMINANT_SHARE_PERCENT else None


def run_chart(lines: list[RunLine]) -> dict[str, Any]:
    """A doughnut of the run's credits per function and filter."""
    shown = [line for line in lines if line.credits.is_positive()]
    return {
        "type": "doughnut",
        "labels": [line.label for line in shown],
        "datasets": [
            {
                "label": "Credits",
                "data": [chart_number(line.credits) for line in shown],
                "backgroundColor": [line.style.txt_color for line in shown],
                "borderColor": "#ffffff",
            }
        ],
    }
