"""Credits: exact millicredit amounts, never binary floats."""

from __future__ import annotations

from decimal import Decimal, getcontext, localcontext

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from creditbook.domain.amounts import (
    MAX_ABS_MILLICREDITS,
    MILLICREDITS_PER_CREDIT,
    AmountError,
    AmountOutOfRangeError,
    Credits,
    total,
)

PROPERTY = settings(database=None, deadline=None, max_examples=300)

MAX_CREDITS = MAX_ABS_MILLICREDITS // MILLICREDITS_PER_CREDIT

in_range_millicredits = st.integers(min_value=-MAX_ABS_MILLICREDITS, max_value=MAX_ABS_MILLICREDITS)
# Small enough that sums of three never leave the range.
summable_millicredits = st.integers(
    min_value=-(MAX_ABS_MILLICREDITS // 3), max_value=MAX_ABS_MILLICREDITS // 3
)
# Below the bound, so a digit appended under the last millicredit stays in range.
inner_millicredits = st.integers(
    min_value=-MAX_ABS_MILLICREDITS + 1, max_value=MAX_ABS_MILLICREDITS - 1
)
three_place_decimals = st.decimals(
    min_value=-MAX_CREDITS,
    max_value=MAX_CREDITS,
    places=3,
    allow_nan=False,
    allow_infinity=False,
)


# --- construction ------------------------------------------------------------------------


def test_one_credit_is_a_thousand_millicredits() -> None:
    assert MILLICREDITS_PER_CREDIT == 1000
    assert Credits.of(1).millicredits == 1000


def test_constructor_takes_millicredits() -> None:
    assert Credits(5).millicredits == 5
    assert Credits(-5).millicredits == -5
    assert Credits(0) == Credits.zero()


@pytest.mark.parametrize(
    ("value", "millicredits"),
    [
        (0, 0),
        (4, 4000),
        (-3, -3000),
        (116, 116_000),
        ("116", 116_000),
        ("0.5", 500),
        ("6.67", 6670),
        ("-1.25", -1250),
        ("0.001", 1),
        ("-0.001", -1),
        ("0.0010", 1),
        ("1e-3", 1),
        ("1E+3", 1_000_000),
        ("-0", 0),
        (" 2 ", 2000),
        ("1_000", 1_000_000),
        (Decimal("0.5"), 500),
        (Decimal("6.670"), 6670),
        (Decimal("-0.125"), -125),
        (Decimal("2E+1"), 20_000),
        # Trailing zeros past any working precision are still exact.
        ("1." + "0" * 60, 1000),
        (MAX_CREDITS, MAX_ABS_MILLICREDITS),
        (-MAX_CREDITS, -MAX_ABS_MILLICREDITS),
        (str(MAX_CREDITS) + ".000", MAX_ABS_MILLICREDITS),
        ("999999999999999.999", MAX_ABS_MILLICREDITS - 1),
    ],
)
def test_of_builds_exact_amounts(value: int | str | Decimal, millicredits: int) -> None:
    assert Credits.of(value) == Credits(millicredits)
    assert Credits.of(value).millicredits == millicredits


def test_of_returns_credits_unchanged() -> None:
    amount = Credits(1234)
    assert Credits.of(amount) is amount


@pytest.mark.parametrize("value", [0.5, 1.0, 0.0, float("nan"), float("inf"), True, False])
def test_of_refuses_floats_and_bools(value: object) -> None:
    with pytest.raises(AmountError, match="never float"):
        Credits.of(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value",
    ["NaN", "nan", "-NaN", "sNaN", "Infinity", "inf", "-Infinity", Decimal("NaN"), Decimal("-Inf")],
)
def test_of_refuses_non_finite(value: str | Decimal) -> None:
    with pytest.raises(AmountError, match="not a finite number"):
        Credits.of(value)


@pytest.mark.parametrize("value", ["", "abc", "1,5", "1.2.3", "0x10", "one", None, object()])
def test_of_refuses_non_numbers(value: object) -> None:
    with pytest.raises(AmountError, match="not a number of credits"):
        Credits.of(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value",
    [
        "0.0001",
        "1.2345",
        "-0.0005",
        Decimal("0.0005"),
        "1e-4",
        "1E-1000010",
        # More digits than a default decimal context holds: must not be rounded away.
        "1.0000000000000000000000000000001",
        "0.000" + "0" * 50 + "1",
        "123456789012345.1234567890123456789012345678901234567890",
    ],
)
def test_of_refuses_sub_millicredit_values(value: str | Decimal) -> None:
    with pytest.raises(AmountError, match="finer than a millicredit"):
        Credits.of(value)


@pytest.mark.parametrize(
    "value",
    [MAX_CREDITS + 1, -MAX_CREDITS - 1, "1000000000000000.001", "1e16", "1e999999", "-1E+999999"],
)
def test_of_refuses_out_of_range(value: int | str) -> None:
    with pytest.raises(AmountError, match="out of range"):
        Credits.of(value)


def test_of_does_not_depend_on_the_ambient_decimal_precision() -> None:
    with localcontext() as context:
        context.prec = 5
        assert Credits.of("123456.789").millicredits == 123_456_789
        with pytest.raises(AmountError, match="finer than a millicredit"):
            Credits.of("123456.7891")
    assert getcontext().prec == 28


@pytest.mark.parametrize("value", [1.5, "5", Decimal(5), True, False, None])
def test_constructor_refuses_non_int_millicredits(value: object) -> None:
    with pytest.raises(AmountError, match="millicredits must be an int"):
        Credits(value)  # type: ignore[arg-type]


def test_amount_error_is_a_value_error() -> None:
    assert issubclass(AmountError, ValueError)


# --- range ---------------------------------------------------------------------------------


def test_range_bound_is_inclusive() -> None:
    assert Credits(MAX_ABS_MILLICREDITS).millicredits == MAX_ABS_MILLICREDITS
    assert Credits(-MAX_ABS_MILLICREDITS).millicredits == -MAX_ABS_MILLICREDITS
    with pytest.raises(AmountError, match="out of range"):
        Credits(MAX_ABS_MILLICREDITS + 1)
    with pytest.raises(AmountError, match="out of range"):
        Credits(-MAX_ABS_MILLICREDITS - 1)


def test_range_fits_a_signed_64_bit_column() -> None:
    assert MAX_ABS_MILLICREDITS < 2**63 - 1


def test_arithmetic_out_of_range_is_refused() -> None:
    top = Credits(MAX_ABS_MILLICREDITS)
    with pytest.raises(AmountError, match="out of range"):
        top + Credits(1)
    with pytest.raises(AmountError, match="out of range"):
        -top - Credits(1)
    with pytest.raises(AmountError, match="out of range"):
        top * 2


# --- unbounded: what reads report from stored data -----------------------------------------

BEYOND = 12 * MAX_ABS_MILLICREDITS  # past the bound and past a signed 64-bit integer


def test_unbounded_credits_skip_the_range_check_and_stay_exact() -> None:
    beyond = Credits.unbounded(BEYOND + 1)
    assert beyond.millicredits == BEYOND + 1
    assert beyond.to_decimal() == Decimal("12000000000000000.001")
    assert str(beyond) == "12000000000000000.001"
    assert Credits.unbounded(BEYOND).to_json() == 12 * MAX_CREDITS
    # More digits than the default decimal context keeps (28), still exact.
    assert str(Credits.unbounded(10**40 + 1)) == "1" + "0" * 37 + ".001"
    with pytest.raises(AmountError, match="must be an int"):
        Credits.unbounded(1.5)  # type: ignore[arg-type]


def test_arithmetic_with_unbounded_credits_stays_unbounded_either_side() -> None:
    largest = Credits(MAX_ABS_MILLICREDITS)
    beyond = Credits.unbounded(MAX_ABS_MILLICREDITS)
    assert (largest + beyond).millicredits == 2 * MAX_ABS_MILLICREDITS
    assert (beyond + largest).millicredits == 2 * MAX_ABS_MILLICREDITS
    assert (-largest - beyond).millicredits == -2 * MAX_ABS_MILLICREDITS
    assert (beyond - -largest).millicredits == 2 * MAX_ABS_MILLICREDITS
    assert (3 * beyond).millicredits == (beyond * 3).millicredits == 3 * MAX_ABS_MILLICREDITS
    assert sum([beyond] * 12, Credits(0)).millicredits == BEYOND
    # Amounts the ledger accepts are still bounded.
    with pytest.raises(AmountOutOfRangeError):
        largest + largest


def test_unbounded_credits_compare_and_hash_as_credits() -> None:
    assert Credits.unbounded(5) == Credits(5) and Credits(5) == Credits.unbounded(5)
    assert hash(Credits.unbounded(5)) == hash(Credits(5))
    assert Credits(5) < Credits.unbounded(BEYOND) and Credits.unbounded(BEYOND) > Credits(5)
    assert Credits(5) <= Credits.unbounded(5) <= Credits(5)
    assert max(Credits(0), Credits.unbounded(-BEYOND)) == Credits(0)
    assert sorted([Credits.unbounded(BEYOND), Credits(1)]) == [
        Credits(1),
        Credits.unbounded(BEYOND),
    ]
    assert Credits.unbounded(5) != 5


# --- arithmetic ----------------------------------------------------------------------------


def test_addition_and_subtraction() -> None:
    assert Credits.of(80) + Credits.of(36) == Credits.of(116)
    assert Credits.of("0.5") + Credits.of("0.25") == Credits.of("0.75")
    assert Credits.of(1) - Credits.of("0.001") == Credits(999)
    assert Credits.of(1) - Credits.of(3) == Credits.of(-2)


def test_negation() -> None:
    assert -Credits.of("6.67") == Credits.of("-6.67")
    assert -Credits.zero() == Credits.zero()
    seven = -Credits(7)
    assert -seven == Credits(7)


def test_multiplication_by_an_int_on_either_side() -> None:
    assert Credits.of(4) * 20 == Credits.of(80)
    assert 6 * Credits.of(6) == Credits.of(36)
    assert Credits.of("0.333") * 3 == Credits(999)
    assert Credits.of(2) * -1 == Credits.of(-2)
    assert Credits.of(2) * 0 == Credits.zero()


@pytest.mark.parametrize("factor", [1.5, 2.0, Decimal("2"), True, "2"])
def test_multiplication_refuses_non_int_factors(factor: object) -> None:
    with pytest.raises(TypeError):
        Credits.of(2) * factor  # type: ignore[operator]
    with pytest.raises(TypeError):
        factor * Credits.of(2)  # type: ignore[operator]


def test_truthiness_and_sign() -> None:
    assert not Credits.zero()
    assert Credits(1)
    assert Credits(-1)
    assert Credits(1).is_positive() and not Credits(1).is_negative()
    assert Credits(-1).is_negative() and not Credits(-1).is_positive()
    assert not Credits.zero().is_positive() and not Credits.zero().is_negative()


def test_ordering_equality_and_hashing() -> None:
    assert Credits(1) < Credits(2) <= Credits(2) < Credits(1000)
    assert Credits(-5) < Credits.zero()
    assert max(Credits.of("0.5"), Credits.of("0.25"), Credits(-1)) == Credits(500)
    assert Credits.of("1.0") == Credits.of(1)
    assert len({Credits.of("1.0"), Credits.of(1), Credits(1000), Credits(999)}) == 2
    assert sorted([Credits(3), Credits(-2), Credits(0)]) == [Credits(-2), Credits(0), Credits(3)]


def test_credits_are_immutable() -> None:
    amount = Credits(5)
    with pytest.raises(AttributeError):
        amount.millicredits = 6  # type: ignore[misc]
    assert amount.millicredits == 5


# --- rendering -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (116, 116),
        ("116.000", 116),
        (0, 0),
        (-2, -2),
        (100, 100),
        (MAX_CREDITS, MAX_CREDITS),
    ],
)
def test_to_json_is_an_int_when_whole(value: int | str, expected: int) -> None:
    rendered = Credits.of(value).to_json()
    assert type(rendered) is int
    assert rendered == expected


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("0.5", "0.5"),
        ("6.67", "6.67"),
        ("6.670", "6.67"),
        ("0.001", "0.001"),
        ("0.01", "0.01"),
        ("-0.5", "-0.5"),
        ("100.5", "100.5"),
        ("999999999999999.999", "999999999999999.999"),
    ],
)
def test_to_json_is_an_exact_decimal_otherwise(value: str, text: str) -> None:
    rendered = Credits.of(value).to_json()
    assert isinstance(rendered, Decimal)
    assert rendered == Decimal(text)
    # No exponent and no trailing zeros: ready for a Decimal-aware JSON encoder.
    assert str(rendered) == text


def test_to_json_renders_the_seed_breakdown() -> None:
    # Seed 000: 20 rows at 4 credits, phone numbers at 6 for 6 successes: 80 + 36 = 116.
    base = Credits.of(4) * 20
    phones = Credits.of(6) * 6
    assert [base.to_json(), phones.to_json(), (base + phones).to_json()] == [80, 36, 116]
    assert type((base + phones).to_json()) is int


@pytest.mark.parametrize(
    ("millicredits", "text"),
    [
        (0, "0"),
        (500, "0.5"),
        (6670, "6.67"),
        (116_000, "116"),
        (100_000, "100"),
        (1, "0.001"),
        (-500, "-0.5"),
        (-100_000, "-100"),
        (MAX_ABS_MILLICREDITS, "1000000000000000"),
    ],
)
def test_str_and_to_decimal(millicredits: int, text: str) -> None:
    amount = Credits(millicredits)
    assert str(amount) == text
    assert str(amount.to_decimal()) == text
    assert amount.to_decimal() == Decimal(text)
    assert repr(amount) == f"Credits({text})"


# --- total ---------------------------------------------------------------------------------


def test_total_of_nothing_is_zero() -> None:
    assert total([]) == Credits.zero()


def test_total_sums_any_iterable() -> None:
    amounts = [Credits.of(80), Credits.of(36), Credits.of("-0.5")]
    assert total(amounts) == Credits.of("115.5")
    assert total(amount for amount in amounts) == Credits.of("115.5")
    assert total(iter([Credits(1)] * 1000)) == Credits.of(1)


def test_total_may_pass_the_bound_in_between_but_not_at_the_end() -> None:
    top = Credits(MAX_ABS_MILLICREDITS)
    assert total([top, top, -top]) == top
    with pytest.raises(AmountError, match="out of range"):
        total([top, Credits(1)])


# --- pydantic round trip (stored idempotent results) ---------------------------------------


class _Stored(BaseModel):
    amount: Credits


def test_pydantic_round_trips_as_integer_millicredits() -> None:
    stored = _Stored(amount=Credits.of("6.67"))
    assert stored.model_dump() == {"amount": 6670}
    assert stored.model_dump_json() == '{"amount":6670}'
    assert _Stored.model_validate({"amount": 6670}).amount == Credits.of("6.67")
    assert _Stored.model_validate_json('{"amount":-1}').amount == Credits(-1)


def test_pydantic_refuses_non_integer_millicredits() -> None:
    from pydantic import ValidationError as PydanticValidationError

    with pytest.raises(PydanticValidationError):
        _Stored.model_validate({"amount": 1.5})
    with pytest.raises(PydanticValidationError):
        _Stored.model_validate({"amount": "lots"})
    with pytest.raises(PydanticValidationError):
        _Stored.model_validate({"amount": MAX_ABS_MILLICREDITS + 1})


# --- properties ----------------------------------------------------------------------------


@PROPERTY
@given(three_place_decimals)
def test_three_place_decimals_round_trip_through_strings(value: Decimal) -> None:
    amount = Credits.of(str(value))
    assert amount == Credits.of(value)
    assert amount.to_decimal() == value
    assert amount.millicredits == int(value.scaleb(3))
    assert Credits.of(str(amount)) == amount


@PROPERTY
@given(in_range_millicredits)
def test_str_and_json_round_trip(millicredits: int) -> None:
    amount = Credits(millicredits)
    assert Credits.of(str(amount)) == amount
    assert Credits.of(amount.to_json()) == amount
    assert Credits.of(amount.to_decimal()) == amount
    rendered = amount.to_json()
    assert isinstance(rendered, int) == (millicredits % MILLICREDITS_PER_CREDIT == 0)
    assert "E" not in str(rendered).upper()


@PROPERTY
@given(inner_millicredits, st.integers(min_value=1, max_value=30))
def test_any_digit_below_a_millicredit_is_refused(millicredits: int, extra: int) -> None:
    # Append a nonzero digit `extra` places below the last millicredit digit.
    text = f"{Credits(millicredits).to_decimal():.3f}" + "0" * (extra - 1) + "7"
    with pytest.raises(AmountError, match="finer than a millicredit"):
        Credits.of(text)


@PROPERTY
@given(summable_millicredits, summable_millicredits, summable_millicredits)
def test_addition_is_associative_and_commutative(a: int, b: int, c: int) -> None:
    x, y, z = Credits(a), Credits(b), Credits(c)
    assert (x + y) + z == x + (y + z)
    assert x + y == y + x
    assert (x + y) - y == x
    assert x + (-x) == Credits.zero()
    assert total([x, y, z]) == Credits(a + b + c)


@PROPERTY
@given(summable_millicredits, summable_millicredits)
def test_order_matches_millicredits(a: int, b: int) -> None:
    assert (Credits(a) < Credits(b)) == (a < b)
    assert (Credits(a) == Credits(b)) == (a == b)
    assert (Credits(a).to_decimal() < Credits(b).to_decimal()) == (a < b)
