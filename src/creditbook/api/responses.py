"""JSON responses with exact numbers: credits render as `116`, `0.5`, `6.67`, never floats."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import simplejson
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from creditbook.domain.periods import rfc3339


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, BaseModel):
        return value.model_dump(mode="python")
    raise TypeError(f"cannot render {type(value).__name__} as JSON")


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


def page_of(page: Any, model: Any, item: Any = None) -> dict[str, Any]:
    """A cursor page of results as the API answers it: `data` (each item read by `model`,
    after `item` turned it into what the model reads), `has_more`, `next_cursor`."""
    return {
        "data": [
            model.model_validate(found if item is None else item(found)) for found in page.data
        ],
        "has_more": page.has_more,
        "next_cursor": page.next_cursor,
    }
