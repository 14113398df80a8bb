"""Expected failures of the CLI and the exit codes they end with.

    exit  meaning                    error codes
    0     ok
    1     failure                    anything else (e.g. `verify` found differences)
    2     usage                      Typer's own usage errors; validation_error,
                                     malformed_request, usage (a wrong mode or option, a
                                     database URL that names no database, a missing SQLite
                                     file for a read command), file_error (a
                                     file or directory that cannot be read or written)
    3     not found                  not_found
    4     insufficient credits       insufficient_credits
    5     authentication/permission  unauthenticated, key_revoked, forbidden
    6     conflict                   idempotency_key_conflict, invalid_state, no_free_slots
    7     cannot connect             connection_error (server or database unreachable)
    8     rate limited               rate_limited (retry later)

Both backends raise `CliError` with the API's stable error code, so a script sees the same
exit code whether the command ran on a database or against a server.
"""

from __future__ import annotations

import functools
import io
import os
import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import pydantic
import typer
from sqlalchemy.exc import DBAPIError

from creditbook.cli.output import error_line
from creditbook.domain.errors import CreditbookError
from creditbook.engine.errors import DatabaseUrlError

P = ParamSpec("P")
R = TypeVar("R")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_INSUFFICIENT_CREDITS = 4
EXIT_AUTH = 5
EXIT_CONFLICT = 6
EXIT_CONNECTION = 7
EXIT_RATE_LIMITED = 8

EXIT_CODES: dict[str, int] = {
    "usage": EXIT_USAGE,
    "validation_error": EXIT_USAGE,
    "malformed_request": EXIT_USAGE,
    "file_error": EXIT_USAGE,
    "not_found": EXIT_NOT_FOUND,
    "insufficient_credits": EXIT_INSUFFICIENT_CREDITS,
    "unauthenticated": EXIT_AUTH,
    "key_revoked": EXIT_AUTH,
    "forbidden": EXIT_AUTH,
    "idempotency_key_conflict": EXIT_CONFLICT,
    "invalid_state": EXIT_CONFLICT,
    "no_free_slots": EXIT_CONFLICT,
    "connection_error": EXIT_CONNECTION,
    "rate_limited": EXIT_RATE_LIMITED,
}


class CliError(Exception):
    """An expected failure: printed as one line, ended with the code's exit status."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.code, EXIT_FAILURE)


def usage(message: str) -> CliError:
    return CliError("usage", message)


def handled(command: Callable[P, R]) -> Callable[P, R]:
    """Run a command; turn expected failures into one stderr line and an exit code."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except CliError as error:
            error_line(error.code, error.message)
            raise typer.Exit(error.exit_code) from None
        except pydantic.ValidationError as error:
            error_line("validation_error", describe(error))
            raise typer.Exit(EXIT_USAGE) from None
        except CreditbookError as error:
            error_line(error.code, error.message)
            raise typer.Exit(EXIT_CODES.get(error.code, EXIT_FAILURE)) from None
        except BrokenPipeError:
            # The reader went away (`creditbook export … | head`): stop quietly, as `cat` does.
            _silence_stdout()
            raise typer.Exit(EXIT_FAILURE) from None
        except DatabaseUrlError as error:
            error_line("usage", f"database URL: {error}")
            raise typer.Exit(EXIT_USAGE) from None
        except OSError as error:
            # A path given on the command line or in CREDITBOOK_CONFIG that cannot be read
            # or written (missing directory, a directory, no permission): name it and why.
            # Without a path (a full disk while writing) it is a plain failure.
            code = "error" if error.filename is None else "file_error"
            error_line(code, describe_os_error(error))
            raise typer.Exit(EXIT_CODES.get(code, EXIT_FAILURE)) from None
        except DBAPIError as error:
            # The database refused the connection or a statement: say which, briefly.
            reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
            code = (
                "connection_error"
                if error.connection_invalidated or _is_connect(error)
                else "error"
            )
            error_line(code, f"database: {reason}")
            raise typer.Exit(EXIT_CODES.get(code, EXIT_FAILURE)) from None

    return wrapper


def describe_os_error(error: OSError) -> str:
    """An OS error as one line: `path: reason` (both paths of a rename), else the reason."""
    reason = error.strerror or str(error)
    if error.filename is None:
        return reason
    paths = os.fsdecode(error.filename)
    if error.filename2 is not None:
        paths += f" -> {os.fsdecode(error.filename2)}"
    return f"{paths}: {reason}"


def _is_connect(error: DBAPIError) -> bool:
    text = str(error.orig).lower()
    return any(
        word in text
        for word in ("connection", "could not connect", "unable to open", "no such host")
    )


def describe(error: pydantic.ValidationError) -> str:
    """A pydantic error as one line: `field: problem; field: problem`."""
    return "; ".join(
        f"{'.'.join(str(part) for part in item['loc']) or 'value'}: {item['msg']}"
        for item in error.errors()
    )


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        pass
