#!/usr/bin/env python
"""Write the async client's resources from the sync ones; `--check` only compares.

    python scripts/generate_async.py           write the async modules of src/creditbook/client
    python scripts/generate_async.py --check   exit 1 if one of them is out of date

The sources are the sync modules of `PAIRS` (`_resources.py`, `_payments.py`); each is the
only source of its async module. The rules, applied to a source's syntax tree and tokens
(never to strings or comments):

- each call of the client's I/O methods (`_send`, `_request`, `_account`) is awaited;
- a function whose own body awaits becomes `async def`, and no other: a list method stays
  a plain `def` that returns a pager at once, and the pager's `fetch` does the I/O;
- the names `Client` and `Pager` become `AsyncClient` and `AsyncPager` (import lists are
  re-sorted as ruff sorts them);
- the module docstring gives way to a header naming this script and a short docstring.

This is unasync's token replacement run the other way. unasync itself only goes from async
to sync (dropping `await` needs no knowledge; adding it needs to know which calls do I/O),
so the rules are kept here. `tests/client/test_generated.py` fails when a committed file
differs from what this writes; `scripts/check` runs `--check` before the linters.
"""

from __future__ import annotations

import argparse
import ast
import io
import sys
import tokenize
from collections.abc import Iterator
from pathlib import Path
from typing import TypeGuard

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "creditbook" / "client"
# (sync source, async module written from it), in the client package.
PAIRS = (
    (PACKAGE / "_resources.py", PACKAGE / "_async_resources.py"),
    (PACKAGE / "_payments.py", PACKAGE / "_async_payments.py"),
)
REGENERATE = "python scripts/generate_async.py"

AWAITED = frozenset({"_send", "_request", "_account"})
RENAMED = {"Client": "AsyncClient", "Pager": "AsyncPager"}
LINE_LENGTH = 100  # ruff's: the generated file is linted like any other


def header(source_name: str) -> str:
    """The first lines of the async module written from `source_name`."""
    return (
        f"# Generated from {source_name} by `{REGENERATE}`: do not edit;\n"
        f"# edit {source_name} and run the script.\n"
        f'"""The async client\'s resources: those of `{source_name}`, awaited (see there)."""\n'
    )


HEADER = header("_resources.py")

# (line, column in characters, characters replaced, replacement), lines counted from 1.
Edit = tuple[int, int, int, str]


class GenerateError(Exception):
    """The source breaks a rule the generator relies on."""


def _column(lines: list[str], line: int, byte_offset: int) -> int:
    # ast counts columns in UTF-8 bytes; the edits count characters.
    return len(lines[line - 1].encode()[:byte_offset].decode())


def _is_io(node: ast.AST) -> TypeGuard[ast.Call]:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in AWAITED
    )


def _own_calls(function: ast.FunctionDef) -> Iterator[ast.Call]:
    """The I/O calls of a function's own body, not of the functions, lambdas and classes
    in it."""
    stack = list(ast.iter_child_nodes(function))
    while stack:
        node = stack.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            continue
        if _is_io(node):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _await_edits(tree: ast.Module, lines: list[str]) -> list[Edit]:
    edits: list[Edit] = []
    awaited: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.AsyncFunctionDef | ast.Await):
            raise GenerateError(f"line {node.lineno}: the source is sync code")
        if not isinstance(node, ast.FunctionDef):
            continue
        calls = list(_own_calls(node))
        if calls:
            edits.append((node.lineno, _column(lines, node.lineno, node.col_offset), 0, "async "))
        for call in calls:
            awaited.add(id(call))
            edits.append((call.lineno, _column(lines, call.lineno, call.col_offset), 0, "await "))
    for node in ast.walk(tree):
        if _is_io(node) and id(node) not in awaited:
            # At module level or in a lambda: neither can await.
            raise GenerateError(f"line {node.lineno}: an I/O call outside a def cannot await")
    return edits


def _rename_edits(source: str) -> list[Edit]:
    return [
        (token.start[0], token.start[1], len(token.string), RENAMED[token.string])
        for token in tokenize.generate_tokens(io.StringIO(source).readline)
        if token.type == tokenize.NAME and token.string in RENAMED
    ]


def _apply(lines: list[str], edits: list[Edit]) -> list[str]:
    result = list(lines)
    # From the end backwards, so that each edit's column still points where it did.
    for line, column, length, text in sorted(edits, reverse=True):
        original = result[line - 1]
        result[line - 1] = original[:column] + text + original[column + length :]
    return result


def _member_key(name: str) -> tuple[int, str]:
    # ruff's isort order: CONSTANTS, then Classes, then the rest, each case-insensitively.
    rank = 0 if name.isupper() and len(name) > 1 else 1 if name[:1].isupper() else 2
    return rank, name.lower()


def _sort_imports(text: str) -> str:
    lines = text.splitlines(keepends=True)
    imports = [node for node in ast.walk(ast.parse(text)) if isinstance(node, ast.ImportFrom)]
    for node in sorted(imports, key=lambda found: found.lineno, reverse=True):
        names = [alias.name for alias in node.names]
        if any(alias.asname for alias in node.names) or names == sorted(names, key=_member_key):
            continue
        indent = " " * node.col_offset
        head = f"{indent}from {'.' * node.level}{node.module or ''} import "
        ordered = sorted(names, key=_member_key)
        if node.lineno == node.end_lineno:
            statement = [head + ", ".join(ordered) + "\n"]
        else:
            statement = [head + "(\n", *(f"{indent}    {name},\n" for name in ordered)]
            statement.append(f"{indent})\n")
        end_lineno = node.end_lineno or node.lineno
        lines[node.lineno - 1 : end_lineno] = statement
    return "".join(lines)


def _check(text: str) -> None:
    tree = ast.parse(text)
    awaited = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Await)}
    for node in ast.walk(tree):
        if _is_io(node) and id(node) not in awaited:
            raise GenerateError(f"generated line {node.lineno}: an I/O call is not awaited")
    for number, line in enumerate(text.splitlines(), start=1):
        if len(line) > LINE_LENGTH:
            raise GenerateError(
                f"generated line {number} is longer than {LINE_LENGTH}: shorten its source line"
            )


def generate(source: str, source_name: str = "_resources.py") -> str:
    """The async module for a sync `source` (the file `source_name`), by the rules of this
    module's docstring."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    edits = _await_edits(tree, lines) + _rename_edits(source)
    body = _apply(lines, edits)
    first = tree.body[0] if tree.body else None
    has_docstring = (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    )
    if first is None or not has_docstring or first.end_lineno is None:
        raise GenerateError("the source starts with its docstring")
    text = _sort_imports(header(source_name) + "".join(body[first.end_lineno :]))
    _check(text)
    return text


def _generate_one(source: Path, target: Path, check: bool) -> int:
    try:
        text = generate(source.read_text(encoding="utf-8"), source.name)
    except GenerateError as error:
        print(f"{source.relative_to(ROOT)}: {error}", file=sys.stderr)
        return 1
    current = target.read_text(encoding="utf-8") if target.exists() else None
    if current == text:
        return 0
    if check:
        print(f"out of date: {target.relative_to(ROOT)}; run `{REGENERATE}`", file=sys.stderr)
        return 1
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target.relative_to(ROOT)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args(argv)
    failures = [_generate_one(source, target, args.check) for source, target in PAIRS]
    return 1 if any(failures) else 0


if __name__ == "__main__":
    sys.exit(main())
