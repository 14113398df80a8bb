"""Balance alerts: when a pool has nothing to report, `is_quiet` says so without evaluating it
(charges ask after every charge), and `evaluate` agrees."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from creditbook.domain.alerts import AlertRule, PoolState, evaluate, is_quiet
from creditbook.domain.amounts import Credits

PROPERTY = settings(database=None, deadline=None, max_examples=500)
POOL = "credits"

RULES = (
    AlertRule(POOL, credits=Credits.of(100)),
    AlertRule(POOL, percent=Decimal(20)),
)
ALLOWANCE = Credits.of(1000)  # so the percent rule's threshold is 200 credits


def quiet(
    available: int,
    *,
    rules: tuple[AlertRule, ...] = RULES,
    low: bool = False,
    depleted: bool = False,
    refused: int | None = None,
) -> bool:
    return is_quiet(rules, ALLOWANCE, available, low=low, depleted=depleted, refused=refused)


def test_a_pool_at_or_above_its_highest_threshold_is_quiet() -> None:
    assert quiet(200_000)
    assert quiet(10**9)


@pytest.mark.parametrize(
    ("available", "kwargs"),
    [
        (199_999, {}),  # below the percent rule's 200 credits
        (500_000, {"low": True}),  # a rule is low: it may recover
        (500_000, {"depleted": True}),  # depleted: it may recover
        (500_000, {"refused": 1_000}),  # a refused charge depletes the pool
        (0, {"rules": ()}),  # nothing left: depleted, rules or none
    ],
)
def test_a_pool_with_something_to_report_is_not_quiet(
    available: int, kwargs: dict[str, object]
) -> None:
    assert not quiet(available, **kwargs)  # type: ignore[arg-type]


def test_a_pool_without_rules_is_quiet_while_it_has_credits() -> None:
    assert quiet(1, rules=())


def test_a_percent_rule_of_a_pool_without_allowance_has_no_threshold() -> None:
    rules = (AlertRule(POOL, percent=Decimal(50)),)
    assert is_quiet(rules, Credits.zero(), 1, low=False, depleted=False, refused=None)


rule_sets = st.lists(
    st.one_of(
        st.integers(1, 5_000).map(lambda n: AlertRule(POOL, credits=Credits.of(n))),
        st.integers(1, 100).map(lambda n: AlertRule(POOL, percent=Decimal(n))),
    ),
    max_size=4,
    unique_by=lambda rule: rule.key,
).map(tuple)


@st.composite
def pools(draw: st.DrawFn) -> tuple[tuple[AlertRule, ...], Credits, int, PoolState, int | None]:
    """A pool's rules, allowance, available millicredits, alert state (a rule low or none)
    and the amount of a charge refused on it (or none)."""
    rules = draw(rule_sets)
    low = frozenset(rule.key for rule in rules[:1]) if draw(st.booleans()) else frozenset()
    return (
        rules,
        Credits.of(draw(st.integers(0, 10_000))),
        draw(st.integers(-(10**7), 10**7)),
        PoolState(low, draw(st.booleans())),
        draw(st.none() | st.integers(1, 10**6)),
    )


@PROPERTY
@given(pool=pools(), credited=st.booleans())
def test_a_quiet_pool_evaluates_to_no_transition_and_the_same_state(
    pool: tuple[tuple[AlertRule, ...], Credits, int, PoolState, int | None], credited: bool
) -> None:
    rules, allowance, available, state, refused = pool
    transitions, after = evaluate(
        rules, allowance, available, state, credited=credited, refused=refused
    )
    depleted = state.depleted
    if is_quiet(
        rules, allowance, available, low=bool(state.low), depleted=depleted, refused=refused
    ):
        assert transitions == []
        assert after == state
    elif not state.low and not depleted and refused is None and available > 0:
        # Not quiet for credits below a threshold: crossing it is reported.
        assert [transition.type for transition in transitions][:1] == ["balance.low"]
