"""Balance alerts, as pure code: thresholds per pool in credits or in percent of the period's
allowance, and the transitions a pool's balance makes across them.

A pool is *low* under a rule while its available credits are below the rule's threshold, and
*depleted* once nothing is left (available credits at or below zero) or a charge on it was
refused for lack of credits. Each state is entered once and left once: `balance.low` when a
pool goes below a threshold, `balance.depleted` when it runs out, `balance.recovered` when it
is back at or above the threshold, or (depleted) when credits arrive and some are available.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from creditbook.domain.amounts import Credits
from creditbook.domain.errors import AmountRangeError, ValidationError

MAX_RULES_PER_POOL = 10
MAX_THRESHOLD = Credits.of(10**15)


@dataclass(frozen=True, slots=True)
class AlertRule:
    """One threshold on one pool: `credits`, or `percent` of the period's allowance."""

    pool: str
    credits: Credits | None = None
    percent: Decimal | None = None

    def __post_init__(self) -> None:
        if (self.credits is None) == (self.percent is None):
            raise ValidationError(
                "an alert sets exactly one of credits and percent", field="alerts"
            )
        if self.credits is not None:
            if not self.credits.is_positive():
                raise ValidationError("an alert threshold must be positive", field="alerts")
            if self.credits > MAX_THRESHOLD:
                raise AmountRangeError(
                    f"an alert threshold is at most {MAX_THRESHOLD} credits", field="alerts"
                )
        if self.percent is not None:
            percent = Decimal(self.percent)
            exponent = percent.as_tuple().exponent
            if (
                not percent.is_finite()
                or not 0 < percent <= 100
                or not isinstance(exponent, int)
                or exponent < -2
            ):
                raise ValidationError(
                    "an alert percent is within 0.01..100, to two decimal places",
                    field="alerts",
                )
            shown = percent.normalize()  # 20.0 and 20 are one rule; 2E+1 is written 20
            exponent = shown.as_tuple().exponent
            if isinstance(exponent, int) and exponent > 0:
                shown = shown.quantize(Decimal(1))
            object.__setattr__(self, "percent", shown)

    @property
    def key(self) -> str:
        """What names the rule in the account's alert state."""
        if self.credits is not None:
            return f"{self.pool}:{self.credits.millicredits}"
        return f"{self.pool}:{self.percent}%"

    def threshold(self, allowance: Credits) -> int | None:
        """The threshold in millicredits (None: a percent of a pool without an allowance)."""
        if self.credits is not None:
            return self.credits.millicredits
        if self.percent is None or not allowance.is_positive():
            return None
        return int(Decimal(allowance.millicredits) * self.percent / 100)

    def to_body(self) -> dict[str, Any]:
        if self.credits is not None:
            return {"pool": self.pool, "credits": self.credits.millicredits}
        return {"pool": self.pool, "percent": str(self.percent)}

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> AlertRule:
        if "credits" in body:
            return cls(body["pool"], credits=Credits(int(body["credits"])))
        return cls(body["pool"], percent=Decimal(body["percent"]))


def check_rules(rules: tuple[AlertRule, ...], pools: tuple[str, ...]) -> None:
    """Every rule on one of `pools`, at most MAX_RULES_PER_POOL a pool, no rule twice."""
    keys = [rule.key for rule in rules]
    if len(set(keys)) != len(keys):
        raise ValidationError("an alert is set twice", field="alerts")
    for rule in rules:
        if rule.pool not in pools:
            raise ValidationError(f"no pool {rule.pool!r} on the plan", field="alerts")
        if sum(other.pool == rule.pool for other in rules) > MAX_RULES_PER_POOL:
            raise ValidationError(f"at most {MAX_RULES_PER_POOL} alerts a pool", field="alerts")


@dataclass(frozen=True, slots=True)
class PoolState:
    """Which of a pool's rules are low now (by key), and whether it is depleted."""

    low: frozenset[str] = frozenset()
    depleted: bool = False


@dataclass(frozen=True, slots=True)
class Transition:
    """An alert event to record: its type and its data (amounts in millicredits)."""

    type: str
    data: dict[str, Any] = field(default_factory=dict)


def evaluate(
    rules: tuple[AlertRule, ...],
    allowance: Credits,
    available: int,
    state: PoolState,
    *,
    credited: bool,
    refused: int | None = None,
) -> tuple[list[Transition], PoolState]:
    """The transitions of one pool whose available credits are now `available` (after a
    write that `credited` it credits or not; `refused`: the amount of a charge refused for
    lack of credits), and the pool's new state."""
    quiet = is_quiet(
        rules, allowance, available, low=bool(state.low), depleted=state.depleted, refused=refused
    )
    if quiet:
        return [], state  # the common case: well above every threshold, nothing to do
    thresholds = [(rule, _threshold(rule, allowance)) for rule in rules]
    transitions: list[Transition] = []
    low = set(state.low & {rule.key for rule in rules})
    for rule, threshold in sorted(thresholds, key=lambda pair: -(pair[1] or 0)):
        if threshold is None:
            continue
        data = {"available": available, "threshold": threshold, **_percent(rule)}
        if rule.key not in low and available < threshold:
            low.add(rule.key)
            transitions.append(Transition("balance.low", data))
        elif rule.key in low and available >= threshold:
            low.discard(rule.key)
            transitions.append(Transition("balance.recovered", {**data, "recovered_from": "low"}))
    depleted = state.depleted
    if not depleted and (available <= 0 or refused is not None):
        depleted = True
        reason = "charge_refused" if refused is not None else "exhausted"
        data = {"available": available, "reason": reason}
        if refused is not None:
            data["requested"] = refused
        transitions.append(Transition("balance.depleted", data))
    elif depleted and credited and available > 0:
        depleted = False
        transitions.append(
            Transition(
                "balance.recovered",
                {"available": available, "threshold": None, "recovered_from": "depleted"},
            )
        )
    return transitions, PoolState(frozenset(low), depleted)


def is_quiet(
    rules: tuple[AlertRule, ...],
    allowance: Credits,
    available: int,
    *,
    low: bool,
    depleted: bool,
    refused: int | None,
) -> bool:
    """Whether a pool has nothing to report: no rule low, not depleted, no charge refused,
    and credits left at or above every threshold (then `evaluate` changes nothing)."""
    if low or depleted or refused is not None or available <= 0:
        return False
    highest = _highest_threshold(rules, allowance)
    return highest is None or available >= highest


@functools.lru_cache(maxsize=4096)
def _highest_threshold(rules: tuple[AlertRule, ...], allowance: Credits) -> int | None:
    """The highest threshold of the rules (None: none of them has one)."""
    thresholds = [t for rule in rules if (t := _threshold(rule, allowance)) is not None]
    return max(thresholds, default=None)


@functools.lru_cache(maxsize=4096)
def _threshold(rule: AlertRule, allowance: Credits) -> int | None:
    return rule.threshold(allowance)


def _percent(rule: AlertRule) -> dict[str, Any]:
    return {} if rule.percent is None else {"threshold_percent": str(rule.percent)}
