"""Rate cards: what a run's work costs, and the breakdown of a run's credits.

A rate card prices one product. Its base function costs credits per kept row; each
enrichment function costs credits per success (never per attempt); each paid filter costs
credits per row it kept. Rows a filter discarded cost nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from creditbook.domain.amounts import Credits
from creditbook.domain.errors import ValidationError
from creditbook.domain.plans import DEFAULT_POOL, check_identifier

BASE_FUNCTION = "base"
MAX_FUNCTIONS_PER_CARD = 64
MAX_FILTERS_PER_CARD = 64
MAX_LABEL_CHARS = 200
COLOR_PATTERN = re.compile(r"^#[0-9A-Fa-f]{6}$")
DEFAULT_BACKGROUND_COLOR = "#EEF2F7"
DEFAULT_TEXT_COLOR = "#62748A"


def check_label(kind: str, value: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_LABEL_CHARS:
        raise ValidationError(f"{kind} must be a string of at most {MAX_LABEL_CHARS} chars")
    return value


def check_color(kind: str, value: str) -> str:
    if not isinstance(value, str) or not COLOR_PATTERN.match(value):
        raise ValidationError(f"{kind} must be a colour like #0F9F5F, got {value!r}")
    return value


def check_rate(kind: str, rate: Credits) -> Credits:
    if rate.is_negative():
        raise ValidationError(f"{kind} must not be negative", field=kind)
    return rate


@dataclass(frozen=True, slots=True)
class Colors:
    """Display colours of one function in the dashboard."""

    bg_color: str = DEFAULT_BACKGROUND_COLOR
    txt_color: str = DEFAULT_TEXT_COLOR

    def __post_init__(self) -> None:
        check_color("bg_color", self.bg_color)
        check_color("txt_color", self.txt_color)


@dataclass(frozen=True, slots=True)
class FunctionRate:
    """One priced enrichment function.

    Attributes:
        name: the function's identifier (`get_phone_numbers`).
        credits_per_success: billed once per successful result.
        pool: the pool it draws from.
        colors: display colours.
    """

    name: str
    credits_per_success: Credits
    pool: str = DEFAULT_POOL
    colors: Colors = field(default_factory=Colors)

    def __post_init__(self) -> None:
        check_identifier("function", self.name)
        check_identifier("pool", self.pool)
        check_rate("credits_per_success", self.credits_per_success)
        if self.name == BASE_FUNCTION:
            raise ValidationError("'base' is the base function's name", field="functions")


@dataclass(frozen=True, slots=True)
class FilterRate:
    """One paid filter: credits for every row it kept.

    Attributes:
        name: the filter's identifier (`geo_match`).
        display: its display name (`Geo match`).
        credits_per_row: billed per kept row while the filter is active on a run.
    """

    name: str
    display: str
    credits_per_row: Credits

    def __post_init__(self) -> None:
        check_identifier("filter", self.name)
        check_label("display", self.display)
        check_rate("credits_per_row", self.credits_per_row)


@dataclass(frozen=True, slots=True)
class RateCard:
    """The price list of one product.

    Attributes:
        rate_card_id: the operator's identifier.
        credits_per_row: the base function's rate, per kept row.
        base_label: display name of the base function (None: no label).
        base_colors: display colours of the base function.
        pool: the pool the base function and filters draw from.
        functions: enrichment functions by name.
        filters: paid filters by name.
        module: the module the card bills under in stats (`lasso`).
        service: the service type it bills under in stats (`ai_field`).
    """

    rate_card_id: str
    credits_per_row: Credits
    base_label: str | None = None
    base_colors: Colors = field(default_factory=Colors)
    pool: str = DEFAULT_POOL
    functions: Mapping[str, FunctionRate] = field(default_factory=dict)
    filters: Mapping[str, FilterRate] = field(default_factory=dict)
    module: str = ""
    service: str = ""

    def __post_init__(self) -> None:
        check_identifier("rate_card_id", self.rate_card_id)
        check_identifier("pool", self.pool)
        check_rate("credits_per_row", self.credits_per_row)
        if self.base_label is not None:
            check_label("base_label", self.base_label)
        if len(self.functions) > MAX_FUNCTIONS_PER_CARD:
            raise ValidationError(f"at most {MAX_FUNCTIONS_PER_CARD} functions")
        if len(self.filters) > MAX_FILTERS_PER_CARD:
            raise ValidationError(f"at most {MAX_FILTERS_PER_CARD} filters")
        for name, function in self.functions.items():
            if name != function.name:
                raise ValidationError(f"function key {name!r} != name {function.name!r}")
        for name, filter_rate in self.filters.items():
            if name != filter_rate.name:
                raise ValidationError(f"filter key {name!r} != name {filter_rate.name!r}")
        for kind, value in (("module", self.module), ("service", self.service)):
            if value:
                check_identifier(kind, value)

    def function(self, name: str) -> FunctionRate:
        try:
            return self.functions[name]
        except KeyError:
            raise ValidationError(
                f"rate card {self.rate_card_id!r} has no function {name!r}", field="functions"
            ) from None

    def filter(self, name: str) -> FilterRate:
        try:
            return self.filters[name]
        except KeyError:
            raise ValidationError(
                f"rate card {self.rate_card_id!r} has no filter {name!r}", field="filters"
            ) from None

    def rate_of(self, function: str) -> Credits:
        if function == BASE_FUNCTION:
            return self.credits_per_row
        return self.function(function).credits_per_success

    def pool_of(self, function: str) -> str:
        if function == BASE_FUNCTION:
            return self.pool
        return self.function(function).pool

    def rates(self) -> dict[str, Credits]:
        """The lobstr `rates` object: `credits_per_row` then each function's rate."""
        rates = {"credits_per_row": self.credits_per_row}
        for name in sorted(self.functions):
            rates[name] = self.functions[name].credits_per_success
        return rates

    def function_colors(self) -> dict[str, Colors]:
        """Colours keyed by display name: the base label (or `base`), then function names."""
        colors = {self.base_label or BASE_FUNCTION: self.base_colors}
        for name in sorted(self.functions):
            colors[name] = self.functions[name].colors
        return colors


@dataclass(frozen=True, slots=True)
class ChargeLine:
    """Credits one step of work costs.

    Attributes:
        kind: `function` or `filter`.
        name: the function or filter name.
        pool: the pool it draws from.
        quantity: rows kept (base, filters) or successes (functions).
        attempts: rows tried (functions); rows kept for base and filters.
        amount: quantity × rate.
    """

    kind: str
    name: str
    pool: str
    quantity: int
    attempts: int
    amount: Credits


def price_results(
    card: RateCard,
    *,
    rows_kept: int,
    functions: Mapping[str, tuple[int, int]],
    active_filters: tuple[str, ...],
) -> list[ChargeLine]:
    """Charge lines for one batch of a run's results.

    `functions` maps a function name to (attempts, successes). Base and each active filter
    bill the kept rows; a function bills its successes only.
    """
    if rows_kept < 0:
        raise ValidationError("rows_kept must not be negative", field="rows_kept")
    lines = [
        ChargeLine(
            "function",
            BASE_FUNCTION,
            card.pool,
            rows_kept,
            rows_kept,
            card.credits_per_row * rows_kept,
        )
    ]
    for name in sorted(functions):
        attempts, successes = functions[name]
        if attempts < 0 or successes < 0 or successes > attempts:
            raise ValidationError(
                f"function {name!r}: need 0 <= successes <= attempts", field="functions"
            )
        rate = card.function(name)
        lines.append(
            ChargeLine(
                "function",
                name,
                rate.pool,
                successes,
                attempts,
                rate.credits_per_success * successes,
            )
        )
    for name in active_filters:
        filter_rate = card.filter(name)
        lines.append(
            ChargeLine(
                "filter",
                name,
                card.pool,
                rows_kept,
                rows_kept,
                filter_rate.credits_per_row * rows_kept,
            )
        )
    return lines


@dataclass(frozen=True, slots=True)
class Estimate:
    """A quote for a job before it runs.

    Attributes:
        lines: the expected charge lines.
        total_by_pool: credits needed per pool.
        total: all credits needed.
    """

    lines: tuple[ChargeLine, ...]
    total_by_pool: dict[str, Credits]
    total: Credits


def estimate(
    card: RateCard,
    *,
    rows: int,
    functions: Mapping[str, int] | None = None,
    success_rates_percent: Mapping[str, int] | None = None,
    active_filters: tuple[str, ...] = (),
) -> Estimate:
    """Quote `rows` rows with the given functions.

    `functions` maps a function to the rows it will be tried on (default: all rows).
    Enrichments bill per success; without an expected success rate the quote assumes every
    attempt succeeds, the most the job can cost.
    """
    if rows < 0:
        raise ValidationError("rows must not be negative", field="rows")
    expected: dict[str, tuple[int, int]] = {}
    for name, attempts in (functions or {}).items():
        if not 0 <= attempts <= rows:
            raise ValidationError(f"function {name!r}: attempts must be within 0..rows")
        percent = (success_rates_percent or {}).get(name, 100)
        if not 0 <= percent <= 100:
            raise ValidationError("success rates are percentages within 0..100")
        # Round successes up: a quote should not undershoot.
        expected[name] = (attempts, -(-attempts * percent // 100))
    lines = price_results(card, rows_kept=rows, functions=expected, active_filters=active_filters)
    by_pool: dict[str, Credits] = {}
    for line in lines:
        by_pool[line.pool] = by_pool.get(line.pool, Credits.zero()) + line.amount
    total = Credits(sum(line.amount.millicredits for line in lines))
    return Estimate(tuple(lines), by_pool, total)
