"""Exact sums of integer columns (millicredits above all), at any size, on both databases.

A database written before the amount bound can hold rows whose sum leaves 64 bits.
PostgreSQL's `sum(bigint)` is a `numeric`, exact at any size. SQLite's `sum()` fails with
"integer overflow" once its running total leaves 64 bits, and its `total()` is a float; there
`exact_sum` calls `creditbook_sum`, an aggregate every connection registers
(`creditbook.store.database`), which adds Python ints and answers a total beyond 64 bits as
its decimal text. Either way the column reads back as a Python int (NULL over no rows, as
`sum`).

Read it, never compare it in SQL: on SQLite a total beyond 64 bits is text there.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator

from creditbook.domain.errors import invariant

SQLITE_FUNCTION = "creditbook_sum"
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


class ExactInteger(TypeDecorator[int]):
    """An integer column that may arrive as `numeric` (PostgreSQL) or decimal text (SQLite)."""

    impl = BigInteger
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:
        if value is None:
            return None
        invariant(not isinstance(value, float), "an exact sum read back as a float")
        return int(value)


class ExactSum(FunctionElement[int]):
    """`sum(column)` of integers, exact beyond 64 bits (see the module)."""

    type = ExactInteger()
    inherit_cache = True


def exact_sum(column: ColumnElement[int]) -> ExactSum:
    """`sum(column)`, exact at any size: use it as `func.sum` (`.label(...)`, `coalesce`)."""
    return ExactSum(column)


@compiles(ExactSum)
def _sum(element: ExactSum, compiler: SQLCompiler, **kw: Any) -> str:
    return f"sum({compiler.process(element.clauses, **kw)})"


@compiles(ExactSum, "sqlite")
def _sqlite_sum(element: ExactSum, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{SQLITE_FUNCTION}({compiler.process(element.clauses, **kw)})"


class SQLiteSum:
    """The aggregate behind `exact_sum` on SQLite: Python ints, so nothing overflows; a total
    that fits 64 bits is answered as an integer, a larger one as its decimal text."""

    def __init__(self) -> None:
        self.total: int | None = None

    def step(self, value: Any) -> None:
        if value is None:
            return
        invariant(type(value) is int, "exact_sum of a column that is not an integer")
        self.total = value if self.total is None else self.total + value

    def finalize(self) -> int | str | None:
        if self.total is None or _INT64_MIN <= self.total <= _INT64_MAX:
            return self.total
        return str(self.total)
