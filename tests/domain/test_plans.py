"""Plans and rollover policies: validation and the rollover arithmetic."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from creditbook.domain.amounts import MAX_ABS_MILLICREDITS, Credits
from creditbook.domain.errors import ValidationError
from creditbook.domain.periods import Interval
from creditbook.domain.plans import (
    DEFAULT_POOL,
    MAX_POOLS_PER_PLAN,
    MAX_ROLLOVER_PERIODS,
    Plan,
    RolloverPolicy,
    check_identifier,
)

PROPERTY = settings(database=None, deadline=None, max_examples=300)


def c(value: int | str) -> Credits:
    return Credits.of(value)


# --- rollover arithmetic -------------------------------------------------------------------


def test_no_cap_rolls_over_everything_unused() -> None:
    policy = RolloverPolicy()
    assert policy.rollover_amount(unused=c(70), allowance=c(100)) == c(70)
    assert policy.rollover_amount(unused=c("0.001"), allowance=c(100)) == c("0.001")


def test_absolute_cap() -> None:
    policy = RolloverPolicy(cap=c(50))
    assert policy.rollover_amount(unused=c(70), allowance=c(100)) == c(50)
    assert policy.rollover_amount(unused=c(50), allowance=c(100)) == c(50)
    assert policy.rollover_amount(unused=c("20.5"), allowance=c(100)) == c("20.5")


def test_percent_cap_is_a_share_of_the_allowance() -> None:
    policy = RolloverPolicy(cap_percent=Decimal(25))
    assert policy.rollover_amount(unused=c(70), allowance=c(100)) == c(25)
    assert policy.rollover_amount(unused=c(10), allowance=c(100)) == c(10)
    assert policy.rollover_amount(unused=c(70), allowance=c(1000)) == c(70)


@pytest.mark.parametrize(
    ("percent", "allowance_millicredits", "expected_millicredits"),
    [
        (Decimal(50), 999, 499),  # 499.5 floors
        (Decimal("33.3"), 1000, 333),
        (Decimal("33.3"), 1001, 333),  # 333.333 floors
        (Decimal("66.67"), 1, 0),  # 0.6667 floors to nothing
        (Decimal("0.1"), 9999, 9),
        (Decimal(100) / Decimal(3), 3, 0),  # 0.99999... never rounds up to 1
        # A 28-digit percent times a large allowance overflows a default decimal context:
        # the exact product is just under 3e15, so the floor is one below.
        (Decimal(100) / Decimal(3), 9 * 10**15, 3 * 10**15 - 1),
        (Decimal("33.3333333333333333333333333333333"), 3 * 10**9, 10**9 - 1),
        (Decimal("33.3333333333333333333333333333333"), 3, 0),
    ],
)
def test_percent_cap_floors_to_the_millicredit(
    percent: Decimal, allowance_millicredits: int, expected_millicredits: int
) -> None:
    policy = RolloverPolicy(cap_percent=percent)
    unused = Credits(MAX_ABS_MILLICREDITS)
    amount = policy.rollover_amount(unused=unused, allowance=Credits(allowance_millicredits))
    assert amount == Credits(expected_millicredits)


def test_percent_cap_may_be_an_int() -> None:
    policy = RolloverPolicy(cap_percent=50)  # type: ignore[arg-type]
    assert policy.rollover_amount(unused=c(100), allowance=Credits(1001)) == Credits(500)


def test_both_caps_the_smaller_wins() -> None:
    absolute_smaller = RolloverPolicy(cap=c(10), cap_percent=Decimal(50))
    assert absolute_smaller.rollover_amount(unused=c(80), allowance=c(100)) == c(10)
    percent_smaller = RolloverPolicy(cap=c(60), cap_percent=Decimal(50))
    assert percent_smaller.rollover_amount(unused=c(80), allowance=c(100)) == c(50)
    neither_binds = RolloverPolicy(cap=c(60), cap_percent=Decimal(50))
    assert neither_binds.rollover_amount(unused=c(5), allowance=c(100)) == c(5)


def test_zero_caps_roll_nothing_over() -> None:
    assert RolloverPolicy(cap=c(0)).rollover_amount(c(5), c(10)) == Credits.zero()
    assert RolloverPolicy(cap_percent=Decimal(0)).rollover_amount(c(5), c(10)) == Credits.zero()


def test_full_percent_cap_is_the_allowance() -> None:
    policy = RolloverPolicy(cap_percent=Decimal(100))
    assert policy.rollover_amount(unused=c(150), allowance=c(100)) == c(100)
    assert policy.rollover_amount(unused=c(40), allowance=c(100)) == c(40)


@pytest.mark.parametrize("unused", [Credits.zero(), Credits(-1), c(-50)])
@pytest.mark.parametrize(
    "policy",
    [
        RolloverPolicy(),
        RolloverPolicy(cap=c(10)),
        RolloverPolicy(cap_percent=Decimal(50)),
        RolloverPolicy(cap=c(10), cap_percent=Decimal(50)),
    ],
)
def test_nothing_unused_rolls_nothing_over(policy: RolloverPolicy, unused: Credits) -> None:
    assert policy.rollover_amount(unused=unused, allowance=c(100)) == Credits.zero()


caps = st.none() | st.integers(min_value=0, max_value=10**12).map(Credits)
percents = st.none() | st.decimals(
    min_value=0, max_value=100, allow_nan=False, allow_infinity=False, places=4
)
allowances = st.integers(min_value=0, max_value=10**15).map(Credits)
unused_amounts = st.integers(min_value=-(10**15), max_value=10**15).map(Credits)


@PROPERTY
@given(caps, percents, allowances, unused_amounts)
def test_rollover_is_the_exact_minimum_of_its_limits(
    cap: Credits | None, percent: Decimal | None, allowance: Credits, unused: Credits
) -> None:
    policy = RolloverPolicy(cap=cap, cap_percent=percent)
    amount = policy.rollover_amount(unused=unused, allowance=allowance)
    assert Credits.zero() <= amount
    assert amount <= max(unused, Credits.zero())
    if cap is not None:
        assert amount <= cap
    if percent is not None:
        # Never above the exact percentage of the allowance.
        exact = allowance.millicredits * Fraction(percent) / 100
        assert amount.millicredits <= exact
    limits = [max(unused.millicredits, 0)]
    if cap is not None:
        limits.append(cap.millicredits)
    if percent is not None:
        limits.append(int(allowance.millicredits * Fraction(percent) // 100))
    assert amount.millicredits == min(limits)


# --- rollover validation -------------------------------------------------------------------


def test_rollover_defaults() -> None:
    policy = RolloverPolicy()
    assert policy.cap is None
    assert policy.cap_percent is None
    assert policy.expires_after_periods == 1


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"cap": Credits(-1)}, "rollover.cap", "must not be negative"),
        ({"cap_percent": Decimal("-0.001")}, "rollover.cap_percent", "within 0..100"),
        ({"cap_percent": Decimal("100.001")}, "rollover.cap_percent", "within 0..100"),
        ({"cap_percent": Decimal(101)}, "rollover.cap_percent", "within 0..100"),
        ({"expires_after_periods": 0}, "rollover.expires_after_periods", "within 1..120"),
        ({"expires_after_periods": -1}, "rollover.expires_after_periods", "within 1..120"),
        (
            {"expires_after_periods": MAX_ROLLOVER_PERIODS + 1},
            "rollover.expires_after_periods",
            "within 1..120",
        ),
    ],
)
def test_rollover_validation(kwargs: dict[str, object], field: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as caught:
        RolloverPolicy(**kwargs)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert caught.value.code == "validation_error"
    assert caught.value.status == 422


@pytest.mark.parametrize(
    "kwargs",
    [
        {"cap": Credits(0)},
        {"cap_percent": Decimal(0)},
        {"cap_percent": Decimal(100)},
        {"expires_after_periods": 1},
        {"expires_after_periods": MAX_ROLLOVER_PERIODS},
    ],
)
def test_rollover_bounds_are_inclusive(kwargs: dict[str, object]) -> None:
    policy = RolloverPolicy(**kwargs)  # type: ignore[arg-type]
    for name, value in kwargs.items():
        assert getattr(policy, name) == value


def test_max_rollover_periods_is_ten_years_of_months() -> None:
    assert MAX_ROLLOVER_PERIODS == 120


# --- identifiers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["professional", "pro-2024", "a", "0", "a" * 64, "x.y:z_1", "contact_views"]
)
def test_valid_identifiers(value: str) -> None:
    assert check_identifier("pool", value) == value


@pytest.mark.parametrize(
    "value",
    [
        "",
        "Pro",
        "PRO",
        "-pro",
        "_pro",
        ".pro",
        "a" * 65,
        "pro plan",
        "pro/1",
        "prö",
        "pro\n",
        "\npro",
        "pro\t",
        123,
        None,
    ],
)
def test_invalid_identifiers(value: object) -> None:
    with pytest.raises(ValidationError, match="must match") as caught:
        check_identifier("plan_id", value)  # type: ignore[arg-type]
    assert caught.value.field == "plan_id"
    assert repr(value) in caught.value.message


# --- plans ---------------------------------------------------------------------------------


def test_plan_defaults() -> None:
    plan = Plan("starter")
    assert plan.plan_id == "starter"
    assert plan.interval is Interval.MONTHLY
    assert plan.allowances == {DEFAULT_POOL: Credits.zero()}
    assert plan.pools == ("credits",)
    assert plan.is_unified
    assert plan.rollover is None
    assert plan.slots == 1
    assert plan.overdraft == Credits.zero()
    assert plan.currency() is None


def test_plans_do_not_share_default_allowances() -> None:
    assert Plan("a").allowances is not Plan("b").allowances


def test_plan_is_frozen() -> None:
    plan = Plan("starter")
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.slots = 5  # type: ignore[misc]
    assert plan.slots == 1


@pytest.mark.parametrize(
    ("value", "interval"), [("daily", Interval.DAILY), ("monthly", Interval.MONTHLY)]
)
def test_plan_interval_from_a_string(value: str, interval: Interval) -> None:
    assert Plan("pro", interval=value).interval is interval  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["weekly", "DAILY", "", None])
def test_plan_unknown_interval(value: object) -> None:
    with pytest.raises(ValidationError, match="interval must be one of monthly, daily") as caught:
        Plan("pro", interval=value)  # type: ignore[arg-type]
    assert caught.value.field == "interval"


@pytest.mark.parametrize("plan_id", ["", "Pro", "pro plan", "pro\n", "a" * 65])
def test_plan_id_must_be_an_identifier(plan_id: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Plan(plan_id)
    assert caught.value.field == "plan_id"


def _error(**kwargs: object) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        Plan("pro", **kwargs)  # type: ignore[arg-type]
    return caught.value


def test_plan_needs_a_pool() -> None:
    error = _error(allowances={})
    assert error.field == "allowances"
    assert "at least one pool" in error.message


def test_plan_pool_limit() -> None:
    pools = {f"pool_{index:02d}": c(1) for index in range(MAX_POOLS_PER_PLAN)}
    assert len(Plan("pro", allowances=pools).pools) == MAX_POOLS_PER_PLAN
    error = _error(allowances={**pools, "one_more": c(1)})
    assert error.field == "allowances"
    assert f"at most {MAX_POOLS_PER_PLAN} pools" in error.message


def test_plan_pool_names_must_be_identifiers() -> None:
    error = _error(allowances={"Contact Views": c(10)})
    assert error.field == "pool"
    assert "'Contact Views'" in error.message


def test_plan_allowances_must_not_be_negative() -> None:
    error = _error(allowances={"credits": Credits(-1)})
    assert error.field == "allowances"
    assert "negative" in error.message
    assert Plan("pro", allowances={"credits": Credits.zero()}).allowance("credits") == Credits(0)


@pytest.mark.parametrize("slots", [-1, 100_001])
def test_plan_slots_bounds(slots: int) -> None:
    error = _error(slots=slots)
    assert error.field == "slots"
    assert "0..100000" in error.message


@pytest.mark.parametrize("slots", [0, 1, 100_000])
def test_plan_slots_bounds_are_inclusive(slots: int) -> None:
    assert Plan("pro", slots=slots).slots == slots


def test_plan_overdraft_must_not_be_negative() -> None:
    error = _error(overdraft=Credits(-1))
    assert error.field == "overdraft"
    assert Plan("pro", overdraft=c(25)).overdraft == c(25)


@pytest.mark.parametrize("currency", ["eur", "EURO", "EU", "E1R", "", " EUR"])
def test_plan_currency_codes(currency: str) -> None:
    error = _error(prices={currency: Decimal(10)})
    assert error.field == "prices"
    assert repr(currency) in error.message


def test_plan_prices_must_not_be_negative() -> None:
    error = _error(prices={"EUR": Decimal("-0.01")})
    assert error.field == "prices"
    assert Plan("free", prices={"EUR": Decimal(0)}).prices == {"EUR": Decimal(0)}


def test_display_currency_must_be_priced() -> None:
    error = _error(prices={"EUR": Decimal(99)}, display_currency="USD")
    assert error.field == "display_currency"
    assert _error(display_currency="EUR").field == "display_currency"


def test_separate_pool_plan() -> None:
    plan = Plan(
        "prospect",
        name="Prospect",
        allowances={"direct_dials": c(50), "contact_views": c(1000)},
    )
    assert plan.pools == ("contact_views", "direct_dials")
    assert not plan.is_unified
    assert plan.allowance("contact_views") == c(1000)
    assert plan.allowance("direct_dials") == c(50)
    assert plan.allowance("credits") == Credits.zero()
    assert plan.allowance("unknown") == Credits.zero()


def test_unified_plan() -> None:
    plan = Plan("professional", allowances={"credits": c(30000)}, interval=Interval.DAILY)
    assert plan.is_unified
    assert plan.pools == ("credits",)
    assert plan.allowance("credits") == c(30000)
    assert plan.allowance("contact_views") == Credits.zero()


@pytest.mark.parametrize(
    ("prices", "display", "expected"),
    [
        ({}, None, None),
        ({"USD": Decimal(10)}, None, "USD"),
        ({"USD": Decimal(10), "EUR": Decimal(9), "GBP": Decimal(8)}, None, "EUR"),
        ({"USD": Decimal(10), "EUR": Decimal(9)}, "USD", "USD"),
        ({"CZK": Decimal(250)}, "CZK", "CZK"),
    ],
)
def test_plan_currency(
    prices: dict[str, Decimal], display: str | None, expected: str | None
) -> None:
    assert Plan("pro", prices=prices, display_currency=display).currency() == expected
