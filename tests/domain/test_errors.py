"""Domain errors: stable codes and statuses, informative messages."""

from __future__ import annotations

import inspect
import re

import pytest

from creditbook.domain import errors
from creditbook.domain.errors import (
    CreditbookError,
    IdempotencyConflictError,
    InsufficientCreditsError,
    NoFreeSlotsError,
    NotFoundError,
    StateError,
    ValidationError,
)

DOCUMENTED = {
    ValidationError: ("validation_error", 422),
    NotFoundError: ("not_found", 404),
    InsufficientCreditsError: ("insufficient_credits", 402),
    NoFreeSlotsError: ("no_free_slots", 409),
    IdempotencyConflictError: ("idempotency_key_conflict", 409),
    StateError: ("invalid_state", 409),
}

EXAMPLES: list[CreditbookError] = [
    ValidationError("slots must be within 0..100000", field="slots"),
    NotFoundError("account", "acc_123"),
    InsufficientCreditsError("credits", 2500, 750),
    NoFreeSlotsError(2, 3, 4),
    IdempotencyConflictError("key-1"),
    StateError("run is already finished"),
]


@pytest.mark.parametrize(("cls", "documented"), DOCUMENTED.items(), ids=lambda v: str(v))
def test_code_and_status(cls: type[CreditbookError], documented: tuple[str, int]) -> None:
    assert (cls.code, cls.status) == documented
    assert issubclass(cls, CreditbookError)
    assert issubclass(cls, Exception)


@pytest.mark.parametrize("error", EXAMPLES, ids=lambda error: type(error).__name__)
def test_instances_carry_code_status_and_message(error: CreditbookError) -> None:
    assert (error.code, error.status) == DOCUMENTED[type(error)]
    assert error.message
    assert str(error) == error.message
    assert error.args == (error.message,)


def test_base_error() -> None:
    error = CreditbookError("something went wrong")
    assert (error.code, error.status) == ("error", 400)
    assert str(error) == error.message == "something went wrong"


def test_every_error_class_is_documented_in_the_module_docstring() -> None:
    assert errors.__doc__ is not None
    tree = {
        name: (code, int(status))
        for name, code, status in re.findall(r"(\w+Error)\s+(\w+)\s+\((\d{3})\)", errors.__doc__)
    }
    classes = {
        name: cls
        for name, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, CreditbookError) and cls is not CreditbookError
    }
    assert set(classes) == set(tree)
    for name, cls in classes.items():
        assert (cls.code, cls.status) == tree[name], name
        assert re.fullmatch(r"[a-z]+(_[a-z]+)*", cls.code), name


def test_errors_are_caught_by_their_base() -> None:
    for error in EXAMPLES:
        with pytest.raises(CreditbookError) as caught:
            raise error
        assert caught.value is error


def test_validation_error_field() -> None:
    assert ValidationError("bad").field is None
    error = ValidationError("rollover cap must not be negative", field="rollover.cap")
    assert error.field == "rollover.cap"
    assert error.message == "rollover cap must not be negative"


def test_not_found_message() -> None:
    error = NotFoundError("run", "9f2c0e4b7a1d4e3f8b6a5c4d3e2f1a0b")
    assert str(error) == "run not found: 9f2c0e4b7a1d4e3f8b6a5c4d3e2f1a0b"
    assert (error.kind, error.identifier) == ("run", "9f2c0e4b7a1d4e3f8b6a5c4d3e2f1a0b")


@pytest.mark.parametrize(
    ("requested", "available", "text"),
    [
        (2500, 750, "requested 2.5, available 0.75"),
        (116_000, 80_000, "requested 116, available 80"),
        (1, 0, "requested 0.001, available 0"),
        (3000, -250, "requested 3, available -0.25"),
        # Exact to the millicredit: no float rounding, no exponent notation.
        (1_234_567, 1_234_565, "requested 1234.567, available 1234.565"),
        (10**15, 999_999_999_999_999, "requested 1000000000000, available 999999999999.999"),
    ],
)
def test_insufficient_credits_message(requested: int, available: int, text: str) -> None:
    error = InsufficientCreditsError("direct_dials", requested, available)
    assert str(error) == f"insufficient credits in pool 'direct_dials': {text}"
    assert error.pool == "direct_dials"
    assert error.requested_millicredits == requested
    assert error.available_millicredits == available


def test_no_free_slots_message() -> None:
    error = NoFreeSlotsError(requested=2, used=3, total=4)
    assert str(error) == "no free slots: requested 2, 3 of 4 in use"
    assert (error.requested, error.used, error.total) == (2, 3, 4)


def test_idempotency_conflict_message() -> None:
    error = IdempotencyConflictError("charge-42")
    assert str(error) == "idempotency key 'charge-42' was used with a different request"
    assert error.key == "charge-42"


def test_state_error_message() -> None:
    error = StateError("run 9f2c is already finished")
    assert str(error) == "run 9f2c is already finished"
    assert error.code == "invalid_state"
