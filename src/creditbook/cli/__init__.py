"""The `creditbook` command line (`creditbook.cli:app`)."""

from creditbook.cli.app import app

__all__ = ["app"]
