"""The 200 bodies of the vendor-compatible endpoints, for the OpenAPI document only.

The compat routes build their bodies by hand and return them as `ExactJSONResponse`, so
FastAPI never serializes through these models: they describe the bytes (same keys, order,
nesting and JSON types as the vendor pages) without producing them; the API's tests validate
real responses against the published schemas. Fields are named by their JSON keys (aliases
where a key is camelCase or a keyword). This module holds what the vendors' shapes share.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

# The three ways the pages print times and days.
SECONDS = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"  # lobstr: 2025-02-01T00:00:00Z
MILLIS = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"  # 2026-05-01T00:00:00.000Z
DAY = r"^\d{4}-\d{2}-\d{2}$"  # 2025-01-31
InstantSeconds = Annotated[str, Field(pattern=SECONDS, json_schema_extra={"format": "date-time"})]
InstantMillis = Annotated[str, Field(pattern=MILLIS, json_schema_extra={"format": "date-time"})]
DayText = Annotated[str, Field(pattern=DAY, json_schema_extra={"format": "date"})]
# Decimal results (percentages, ratios, prices) render as exact JSON numbers too.
Number = Annotated[Decimal, WithJsonSchema({"type": "number"})]
Slots = Annotated[int, Field(ge=0)]


class Shape(BaseModel):
    """A documented response shape: exactly these keys (additionalProperties false)."""

    model_config = ConfigDict(extra="forbid")


def documented(description: str, **media: Any) -> dict[int | str, dict[str, Any]]:
    """A route's `responses` entry for its 200: a description and an `example` (or named
    `examples`) shown with the model given as `response_model`."""
    return {200: {"description": description, "content": {"application/json": media}}}
