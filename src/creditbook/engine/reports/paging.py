"""Page limits and opaque cursors shared by the paged reports."""

from __future__ import annotations

import base64
from datetime import datetime

from creditbook.domain.errors import ValidationError

MAX_PAGE_SIZE = 100


def check_limit(name: str, value: int, maximum: int) -> None:
    """A ValidationError on the field `name` unless 1 <= value <= maximum."""
    if not 1 <= value <= maximum:
        raise ValidationError(f"{name} must be within 1..{maximum}", field=name)


def encode_cursor_body(kind: str, body: str) -> str:
    """An opaque cursor of `kind` carrying `body` (URL-safe, unpadded)."""
    return base64.urlsafe_b64encode(f"{kind}:{body}".encode()).decode().rstrip("=")


def cursor_body(cursor: str, kind: str) -> str:
    """What an opaque cursor of `kind` carries; a ValidationError for anything else."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except ValueError:  # also binascii.Error and UnicodeDecodeError
        raise malformed_cursor() from None
    prefix, colon, body = text.partition(":")
    if prefix != kind or not colon:
        raise malformed_cursor()
    return body


def malformed_cursor() -> ValidationError:
    return ValidationError("malformed cursor", field="cursor")


def encode_instant_cursor(kind: str, at: datetime, identifier: str) -> str:
    """A cursor of `kind` after the row at (`at`, `identifier`)."""
    return encode_cursor_body(kind, f"{at.isoformat()}|{identifier}")


def decode_instant_cursor(cursor: str, kind: str) -> tuple[datetime, str]:
    """The (instant, identifier) an `encode_instant_cursor` cursor carries."""
    at, _, identifier = cursor_body(cursor, kind).partition("|")
    try:
        instant = datetime.fromisoformat(at)
    except ValueError:
        raise malformed_cursor() from None
    if not identifier or instant.tzinfo is None:
        raise malformed_cursor()
    return instant, identifier
