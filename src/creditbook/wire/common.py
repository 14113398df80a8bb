"""Types and checks every body shares: amounts, ids, days, storable text; errors, health."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    WithJsonSchema,
    model_validator,
)

from creditbook.domain.amounts import AmountError, Credits
from creditbook.domain.errors import ValidationError
from creditbook.domain.periods import SUPPORTED_YEARS, is_supported_day, is_supported_instant
from creditbook.domain.plans import MAX_PRICE, MAX_PRICE_DECIMAL_PLACES

# Text the databases can store: PostgreSQL refuses NUL in text and JSON, so the API does too.
STORABLE_TEXT = r"^[^\x00]*$"


# Instants and days a caller may give: the domain's supported years (the dashboard's too).
def instant_in_range(value: datetime) -> datetime:
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if not is_supported_instant(aware):
        raise ValueError(f"must be in {SUPPORTED_YEARS}")
    return value


def day_in_range(value: date) -> date:
    if not is_supported_day(value):
        raise ValueError(f"must be in {SUPPORTED_YEARS}")
    return value


# RFC 3339 text only: a number is not an instant here, though pydantic would read it as a
# Unix time (`at=0.5`).
_RFC3339_START = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _instant_text(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _RFC3339_START.match(value):
        raise ValueError("must be an RFC 3339 date-time")
    return value


Instant = Annotated[datetime, BeforeValidator(_instant_text), AfterValidator(instant_in_range)]
Day = Annotated[date, AfterValidator(day_in_range)]


# A decimal number as JSON writes it, or as a string: no `1_000`, no `NaN`, no spaces.
_DECIMAL_TEXT = re.compile(r"^-?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def _exact_number(value: Any) -> Any:
    """Numbers only: JSON numbers or decimal strings, never booleans or other text."""
    if isinstance(value, bool):
        raise ValueError("must be a number")
    if isinstance(value, str) and not _DECIMAL_TEXT.match(value):
        raise ValueError("must be a decimal number")
    return value


def _decimal_of_credits(value: Any) -> Any:
    # Engine results carry `Credits`; the wire speaks exact decimals of credits.
    return value.to_decimal() if isinstance(value, Credits) else _exact_number(value)


# Credits in JSON: an exact number (`116`, `0.5`); requests may also send a decimal string.
# Responses are built from engine results, whose `Credits` become exact decimals here.
Amount = Annotated[
    Decimal,
    BeforeValidator(_decimal_of_credits),
    WithJsonSchema({"type": "number", "examples": [116]}),
]
# Totals in engine results say `amount`; the wire calls them `credits`.
SpentCredits = Annotated[Amount, Field(validation_alias=AliasChoices("credits", "amount"))]
Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.:-]{0,63}$")]
OptionalId = Annotated[str, Field(max_length=64, pattern=r"^([a-z0-9][a-z0-9_.:-]{0,63})?$")]
Text = Annotated[str, Field(max_length=500)]
Name = Annotated[str, Field(max_length=200)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
# Integers and booleans in bodies are strict: `true` is not 1, `1` is not true, "3" is not 3.
Count = Annotated[StrictInt, Field(ge=0, le=1_000_000_000)]
Flag = StrictBool
# Other exact decimals render as JSON numbers too (ExactJSONResponse), so say so.
Percent = Annotated[
    Decimal,
    BeforeValidator(_exact_number),
    Field(ge=0, le=100),
    WithJsonSchema({"type": "number", "minimum": 0, "maximum": 100}),
]
# Bounded in digits and exponent: huge or absurdly fine prices are refused at the edge.
Price = Annotated[
    Decimal,
    BeforeValidator(_exact_number),
    Field(ge=0, le=MAX_PRICE, decimal_places=MAX_PRICE_DECIMAL_PLACES),
    WithJsonSchema({"type": "number", "minimum": 0, "maximum": int(MAX_PRICE)}),
]


def credits(value: Decimal, field: str) -> Credits:
    """A body's decimal as `Credits`; an inexact or out-of-range one names its field."""
    try:
        return Credits.of(value)
    except AmountError as error:
        raise ValidationError(f"{field}: {error}", field=field) from None


def check_storable(value: Any) -> None:
    """Refuse strings (keys too, at any depth) with NUL or lone surrogates."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("text must not contain NUL (U+0000)")
        try:
            value.encode()
        except UnicodeEncodeError:
            raise ValueError("text must be valid Unicode (no lone surrogates)") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            check_storable(key)
            check_storable(item)
    elif isinstance(value, list):
        for item in value:
            check_storable(item)


class Strict(BaseModel):
    """Request bodies: unknown fields and unstorable text are refused (422).

    Response models never forbid unknown fields: a newer server may add one, and the SDK
    (which parses responses with these models) must keep working. An output model that
    extends a request body says `extra="ignore"` (see `PlanOut`).
    """

    # Responses always carry every field, defaults included: document them as required.
    model_config = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        check_storable(data)
        return data


class Out(BaseModel):
    """Response models: built from engine results by attribute (`Model.model_validate(result)`),
    and from JSON by the SDK. Unknown fields are ignored, never refused (see `Strict`)."""

    model_config = ConfigDict(from_attributes=True)


class ErrorOut(Out):
    """Every native error: a message for people and a stable snake_case code."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"detail": "account not found: acme", "code": "not_found"}]}
    )

    detail: str
    code: str


class DetailOut(Out):
    """The lobstr error shape (run credits): a message only."""

    detail: str


class HealthOut(Out):
    """`status`: `ok`, or `unavailable` (503) when a dependency does not answer;
    `database`: its dialect; `rate_limiter`: `memory`, `redis` or `unavailable` (none from
    a server older than the field)."""

    status: str
    database: str
    rate_limiter: str | None = None
