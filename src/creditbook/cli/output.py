"""What the CLI prints: rich for people on stdout, exact JSON for scripts, one-line errors.

Every command prints its result on stdout (a rich rendering, or JSON with `--json`) and
anything else — progress, notes, errors — on stderr, so `--json` output is always valid JSON.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import simplejson
from pydantic import BaseModel
from rich.console import Console, JustifyMethod
from rich.table import Table

from creditbook.domain.amounts import Credits
from creditbook.domain.errors import InvariantError

# Both consoles look up sys.stdout / sys.stderr when they write, so test runners that swap
# the streams capture them.
console = Console(soft_wrap=False)
err_console = Console(stderr=True)


def rfc3339(instant: datetime) -> str:
    """UTC with a `Z`, as the API renders instants."""
    aware = instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)
    return f"{aware.astimezone(UTC).replace(tzinfo=None).isoformat()}Z"


def plain(value: Any) -> Any:
    """A JSON-shaped copy: dicts, lists, str, int, bool, None and exact Decimals.

    Both backends hand their results through this, so the local and remote modes print the
    same thing. Floats (a JSON parser's numbers) become the Decimal of their shortest repr.
    """
    if isinstance(value, BaseModel):
        return plain(value.model_dump(mode="python"))
    if isinstance(value, Credits):
        return value.to_decimal()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return plain(value.value)
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return value


def dumps(value: Any, *, indent: int | None = 2) -> str:
    """Exact JSON: Decimals as numbers (`116`, `0.5`), never floats."""
    text: str = simplejson.dumps(
        plain(value),
        use_decimal=True,
        ensure_ascii=False,
        indent=indent,
        separators=(",", ": ") if indent else (",", ":"),
    )
    return text


def print_json(value: Any) -> None:
    sys.stdout.write(dumps(value) + "\n")
    sys.stdout.flush()


def stream_json(items: Iterable[Any]) -> None:
    """`{"data": [...], "has_more": false, "next_cursor": null}`, written item by item."""
    out = sys.stdout
    out.write('{"data": [')
    for index, item in enumerate(items):
        out.write(("," if index else "") + "\n  " + dumps(item, indent=None))
    out.write('\n], "has_more": false, "next_cursor": null}\n')
    out.flush()


def text(value: Any) -> str:
    """A cell for people: exact amounts, instants to the minute, blanks for nothing."""
    value = plain(value)
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value.normalize():f}" if value == value.to_integral_value() else f"{value:f}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return ", ".join(f"{key} {text(item)}" for key, item in value.items())
    if isinstance(value, list):
        return ", ".join(text(item) for item in value)
    if isinstance(value, str) and len(value) >= 20 and value.endswith("Z") and "T" in value:
        return value[:16].replace("T", " ")
    return str(value)


def table(
    title: str | None,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    numeric: Sequence[str] = (),
) -> Table:
    """A table for people. An id column (`id`, `*_id`) is never cut: it is as wide as its
    longest id, and the other columns (a description) wrap instead."""
    cells = [[text(cell) for cell in row] for row in rows]
    result = Table(title=title, title_justify="left")
    for index, column in enumerate(columns):
        justify: JustifyMethod = "right" if column in numeric else "left"
        if column == "id" or column.endswith("_id"):
            widest = max((len(row[index]) for row in cells), default=0)
            result.add_column(
                column,
                justify=justify,
                no_wrap=True,
                overflow="fold",
                min_width=max(widest, len(column)),
            )
        else:
            result.add_column(column, justify=justify)
    for row in cells:
        result.add_row(*row)
    return result


def record(title: str, value: Mapping[str, Any], fields: Sequence[str] | None = None) -> Table:
    """One object as a two-column table of its fields."""
    names = list(fields) if fields is not None else list(value)
    return table(title, ("field", "value"), ((name, value.get(name)) for name in names))


def error_line(code: str, message: str) -> None:
    """The one line an expected failure prints: `error: <code>: <message>` on stderr."""
    sys.stderr.write(f"error: {code}: {' '.join(message.split())}\n")
    sys.stderr.flush()


def note(message: str) -> None:
    """A remark for people, on stderr so that stdout stays the result."""
    err_console.print(message, highlight=False)


def as_json(value: Any) -> dict[str, Any]:
    """`plain` of one object (a model, a dataclass, a mapping): a JSON object."""
    result = plain(value)
    if not isinstance(result, dict):
        raise InvariantError(f"{type(value).__name__} is not an object")
    return result
