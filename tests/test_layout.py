"""The layout stays small enough to hold in one's head: no function in src/ longer than 60
lines, no module longer than 600. Migrations (history, written once) and generated modules
(a header saying so and "do not edit") are excepted."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 600
# A generated module says so in its first lines.
HEADER_LINES = 5


def is_generated(text: str) -> bool:
    header = "\n".join(text.splitlines()[:HEADER_LINES]).lower()
    return "generated" in header and "do not edit" in header


def checked_modules() -> Iterator[tuple[Path, str]]:
    for path in sorted(SRC.rglob("*.py")):
        if "migrations" in path.relative_to(SRC).parts:
            continue
        text = path.read_text(encoding="utf-8")
        if not is_generated(text):
            yield path, text


def long_functions(path: Path, text: str) -> list[str]:
    """Each function (nested ones too) counted from its first decorator to its last line."""
    found = []
    for node in ast.walk(ast.parse(text, filename=str(path))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            lines = (node.end_lineno or node.lineno) - first + 1
            if lines > MAX_FUNCTION_LINES:
                found.append((node.lineno, f"{node.name}() has {lines} lines"))
    return [f"{path.relative_to(SRC)}:{line} {what}" for line, what in sorted(found)]


def test_no_function_exceeds_60_lines() -> None:
    offenders = [
        offender for path, text in checked_modules() for offender in long_functions(path, text)
    ]
    assert not offenders, (
        f"functions longer than {MAX_FUNCTION_LINES} lines (split them):\n  "
        + "\n  ".join(offenders)
    )


def test_no_module_exceeds_600_lines() -> None:
    offenders = [
        f"{path.relative_to(SRC)} has {len(text.splitlines())} lines"
        for path, text in checked_modules()
        if len(text.splitlines()) > MAX_MODULE_LINES
    ]
    assert not offenders, (
        f"modules longer than {MAX_MODULE_LINES} lines (split them by noun or operation):\n  "
        + "\n  ".join(offenders)
    )


def test_generated_modules_are_recognised() -> None:
    header = "# Generated from _resources.py by a script: do not edit;\n'''Doc.'''\n"
    assert is_generated(header)
    assert not is_generated('"""A module that mentions generated ids."""\n')
