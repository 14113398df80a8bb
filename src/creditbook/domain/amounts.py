"""Credits: the one amount type, exact integers in millicredits.

1 credit = 1000 millicredits. Amounts never pass through binary floats: they are built from
ints, decimal strings or `Decimal`, and rendered for JSON as an int when whole or an exact
`Decimal` otherwise.

Every amount the ledger accepts or computes for a write is bounded by `MAX_ABS_MILLICREDITS`.
What it reports from stored data is not: a database written before the bound can hold totals
beyond it, and a read shows them exactly (`Credits.unbounded`) instead of failing.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Context, Decimal, Inexact, InvalidOperation
from typing import Any

from creditbook.domain.errors import AmountRangeError, ValidationError

MILLICREDITS_PER_CREDIT = 1000

# One bound for every amount the ledger accepts: a quadrillion credits fits in a signed
# 64-bit column with room to sum many of them.
MAX_ABS_MILLICREDITS = 10**18

OUT_OF_RANGE = (
    f"amount out of range: at most {MAX_ABS_MILLICREDITS // MILLICREDITS_PER_CREDIT:,} credits"
    " either way"
)

# Scaling to millicredits must never round: 40 digits hold any in-range amount down to far
# below a millicredit, and losing any nonzero digit traps instead of rounding silently.
_EXACT = Context(prec=40, traps=[InvalidOperation, Inexact])


class AmountError(ValidationError, ValueError):
    """An amount that cannot be represented exactly in millicredits (422 `validation_error`).

    A ValueError too, so that pydantic validators report it as an invalid field."""


class AmountOutOfRangeError(AmountRangeError, AmountError):
    """An amount beyond `MAX_ABS_MILLICREDITS`: given, or computed (a price times a quantity,
    a sum); 422 `amount_out_of_range`."""


@dataclass(frozen=True, slots=True, order=True)
class Credits:
    """An exact amount of credits.

    Attributes:
        millicredits: the amount in thousandths of a credit (signed).
    """

    millicredits: int

    def __post_init__(self) -> None:
        if isinstance(self.millicredits, bool) or not isinstance(self.millicredits, int):
            raise AmountError(f"millicredits must be an int, got {self.millicredits!r}")
        if abs(self.millicredits) > MAX_ABS_MILLICREDITS:
            raise AmountOutOfRangeError(OUT_OF_RANGE)

    @classmethod
    def of(cls, value: int | str | Decimal | Credits) -> Credits:
        """Credits from a number of credits: `Credits.of(4)`, `Credits.of("0.5")`."""
        if isinstance(value, Credits):
            return value
        if isinstance(value, bool | float):
            raise AmountError("credits must be given as int, str or Decimal, never float")
        try:
            number = Decimal(value)
        except (InvalidOperation, TypeError) as error:
            raise AmountError(f"not a number of credits: {_shown(value)}") from error
        if not number.is_finite():
            raise AmountError(f"not a finite number of credits: {_shown(value)}")
        if number.copy_abs() > MAX_ABS_MILLICREDITS // MILLICREDITS_PER_CREDIT:
            raise AmountOutOfRangeError(OUT_OF_RANGE)
        try:
            scaled = _EXACT.multiply(number, MILLICREDITS_PER_CREDIT)
        except Inexact as error:
            raise AmountError(f"{_shown(value)} is finer than a millicredit") from error
        if scaled != scaled.to_integral_value():
            raise AmountError(f"{_shown(value)} is finer than a millicredit")
        return cls(int(scaled))

    @classmethod
    def zero(cls) -> Credits:
        return cls(0)

    @classmethod
    def unbounded(cls, millicredits: int) -> Credits:
        """Exact credits that may lie beyond `MAX_ABS_MILLICREDITS`: for what a read reports
        from stored data (a balance, a sum of spend), never for an amount the ledger accepts.

        Sums, differences and multiples with it stay unbounded, so a report may add it to
        other amounts freely; it compares and hashes as the `Credits` of the same value."""
        return UnboundedCredits(millicredits)

    def to_decimal(self) -> Decimal:
        """The amount in credits as an exact Decimal (`Decimal("6.5")`)."""
        return (Decimal(self.millicredits) / MILLICREDITS_PER_CREDIT).normalize() + 0

    def to_json(self) -> int | Decimal:
        """An int when whole, else an exact Decimal: render with a Decimal-aware encoder."""
        whole, rest = divmod(self.millicredits, MILLICREDITS_PER_CREDIT)
        if rest == 0:
            return whole
        return self.to_decimal()

    # Arithmetic: bounded between bounded amounts; unbounded when either side is (a report
    # adding stored totals). Python asks a subclass's reflected method first, so
    # `Credits(0) + unbounded` comes to the unbounded side's `__radd__`: this same code.
    def __add__(self, other: Credits) -> Credits:
        return _result(self.millicredits + other.millicredits, self, other)

    __radd__ = __add__

    def __sub__(self, other: Credits) -> Credits:
        return _result(self.millicredits - other.millicredits, self, other)

    def __rsub__(self, other: Credits) -> Credits:
        return _result(other.millicredits - self.millicredits, self, other)

    def __neg__(self) -> Credits:
        return _result(-self.millicredits, self)

    def __mul__(self, factor: int) -> Credits:
        if isinstance(factor, bool) or not isinstance(factor, int):
            return NotImplemented
        return _result(self.millicredits * factor, self)

    __rmul__ = __mul__

    def __bool__(self) -> bool:
        return self.millicredits != 0

    def is_positive(self) -> bool:
        return self.millicredits > 0

    def is_negative(self) -> bool:
        return self.millicredits < 0

    def __str__(self) -> str:
        return f"{self.to_decimal():f}"

    def __repr__(self) -> str:
        return f"Credits({self})"

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        # Stored results (idempotent replays) round-trip amounts as integer millicredits.
        from pydantic_core import core_schema

        return core_schema.no_info_after_validator_function(
            lambda value: value if isinstance(value, Credits) else cls(value),
            core_schema.union_schema(
                [core_schema.is_instance_schema(cls), core_schema.int_schema()]
            ),
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda value: value.millicredits
            ),
        )


class UnboundedCredits(Credits):
    """Credits outside the amount range; see `Credits.unbounded`, which builds them."""

    __slots__ = ()

    def __post_init__(self) -> None:
        if isinstance(self.millicredits, bool) or not isinstance(self.millicredits, int):
            raise AmountError(f"millicredits must be an int, got {self.millicredits!r}")

    def to_decimal(self) -> Decimal:
        # The default context keeps 28 digits: these may have more, and must not round.
        exact = Context(prec=len(str(abs(self.millicredits))) + 1, traps=[Inexact])
        shifted = exact.divide(Decimal(self.millicredits), MILLICREDITS_PER_CREDIT)
        return exact.add(exact.normalize(shifted), Decimal(0))

    # Compared by value with any Credits (the dataclass methods compare the same class only).
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Credits):
            return NotImplemented
        return self.millicredits == other.millicredits

    def __hash__(self) -> int:
        return hash((self.millicredits,))

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Credits):
            return NotImplemented
        return self.millicredits < other.millicredits

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Credits):
            return NotImplemented
        return self.millicredits <= other.millicredits

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Credits):
            return NotImplemented
        return self.millicredits > other.millicredits

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Credits):
            return NotImplemented
        return self.millicredits >= other.millicredits


def _result(millicredits: int, first: Credits, second: Credits | None = None) -> Credits:
    """Credits from arithmetic on `first` (and `second`): unbounded when one of them is."""
    if isinstance(first, UnboundedCredits) or isinstance(second, UnboundedCredits):
        return UnboundedCredits(millicredits)
    return Credits(millicredits)


def total(amounts: Any) -> Credits:
    """Sum an iterable of Credits."""
    millicredits = 0
    for amount in amounts:
        millicredits += amount.millicredits
    return Credits(millicredits)


def _shown(value: object) -> str:
    """A number as people write it (`1.0001`, never `Decimal('1.0001')`); text quoted."""
    return str(value) if isinstance(value, int | Decimal) else repr(value)
