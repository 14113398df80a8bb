"""Options every command shares, and turning them into a target."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from typing import Annotated

import typer

from creditbook.cli.errors import CliError, usage
from creditbook.cli.target import (
    DATABASE_URL_ENV,
    PROFILE_ENV,
    Target,
    TargetOptions,
    load_config,
    profile,
    resolve,
)
from creditbook.settings import DEFAULT_DATABASE_URL

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="Local mode: a SQLAlchemy URL (sqlite:///creditbook.db, postgresql://…).",
        show_default=False,
    ),
]
BaseUrl = Annotated[
    str | None,
    typer.Option(
        "--base-url",
        help="Remote mode: the server (key from CREDITBOOK_API_KEY or --profile).",
        show_default=False,
    ),
]
Profile = Annotated[
    str | None,
    typer.Option(
        "--profile", help="A profile of the config file (CREDITBOOK_CONFIG).", show_default=False
    ),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON on stdout (for scripts).")]
Account = Annotated[
    str | None,
    typer.Argument(
        help="The account (default: CREDITBOOK_ACCOUNT_ID or the profile's account_id).",
        show_default=False,
    ),
]
IdempotencyKey = Annotated[
    str | None,
    typer.Option(
        "--idempotency-key",
        help="Repeat the command with the same key and it takes effect once.",
        show_default=False,
    ),
]


def target(database_url: str | None, base_url: str | None, profile_name: str | None) -> Target:
    return resolve(TargetOptions(database_url, base_url, profile_name))


def local_url(
    command: str, database_url: str | None, base_url: str | None, profile_name: str | None
) -> str:
    """The database of a local-only command: --database-url, a database --profile,
    CREDITBOOK_DATABASE_URL, a database default profile, else sqlite:///creditbook.db.

    A server (--base-url, or a server --profile) is refused with a usage error; the
    CREDITBOOK_BASE_URL variable and a server default profile are ignored here.
    """

    def refuse(where: str) -> CliError:
        return usage(
            f"`creditbook {command}` works on a database only (local mode), not on the "
            f"server of {where}: give --database-url or CREDITBOOK_DATABASE_URL"
        )

    if database_url:
        return database_url
    if base_url:
        raise refuse("--base-url")
    if profile_name:
        found = profile(profile_name)
        if "database_url" not in found:
            raise refuse(f"profile {profile_name}")
        return found["database_url"]
    if os.environ.get(DATABASE_URL_ENV):
        return os.environ[DATABASE_URL_ENV]
    name = os.environ.get(PROFILE_ENV) or load_config().get("default_profile")
    if name:
        found = profile(str(name))
        if "database_url" in found:
            return found["database_url"]
    return DEFAULT_DATABASE_URL


def instant(value: str | None, name: str) -> datetime | None:
    """An RFC 3339 / ISO 8601 instant from the command line; naive means UTC."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise usage(f"{name}: not an ISO 8601 date or time: {value!r}") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def day(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise usage(f"{name}: not a date (YYYY-MM-DD): {value!r}") from None
