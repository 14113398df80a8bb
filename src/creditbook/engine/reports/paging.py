"""Page limits and opaque cursors shared by the paged reports."""

from __future__ import annotations

import base64

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
