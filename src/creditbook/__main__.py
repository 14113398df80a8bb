"""`python -m creditbook` is the `creditbook` command."""

from creditbook.cli import app

app(prog_name="creditbook")
