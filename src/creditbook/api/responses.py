"""JSON responses with exact numbers: credits render as `116`, `0.5`, `6.67`, never floats."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import simplejson
from fastapi.responses import JSONResponse
from pydantic import BaseModel


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, BaseModel):
        return value.model_dump(mode="python")
    raise TypeError(f"cannot render {type(value).__name__} as JSON")


def rfc3339(instant: datetime) -> str:
    """UTC with a `Z`, to the second unless there is a fraction."""
    text = instant.astimezone(UTC).replace(tzinfo=None).isoformat()
    return f"{text}Z"


class ExactJSONResponse(JSONResponse):
    """Renders Decimal as an exact JSON number (simplejson's use_decimal)."""

    def render(self, content: Any) -> bytes:
        if isinstance(content, BaseModel):
            content = content.model_dump(mode="python")
        text: str = simplejson.dumps(
            content,
            use_decimal=True,
            default=_default,
            ensure_ascii=False,
            separators=(",", ":"),
        )
        return text.encode()


def respond(
    content: Any, status_code: int = 200, headers: dict[str, str] | None = None
) -> ExactJSONResponse:
    return ExactJSONResponse(content, status_code=status_code, headers=headers)
