"""`exact_sum`: a sum of BIGINT rows that leaves 64 bits reads back exact on both databases
(SQLite's own sum() fails with "integer overflow" there)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import BigInteger, Engine, Subquery, func, literal, select, union_all
from sqlalchemy.exc import OperationalError

from creditbook import Ledger
from creditbook.store.queries.sums import exact_sum

INT64_MAX = 2**63 - 1


def rows_of(numbers: list[int]) -> Subquery:
    """A table of one BIGINT column `n` (a UNION ALL of literals: both databases read it)."""
    return union_all(*(select(literal(n, BigInteger).label("n")) for n in numbers)).subquery()


def scalar(engine: Engine, statement: Any) -> Any:
    with engine.connect() as connection:
        return connection.execute(statement).scalar_one()


@pytest.mark.parametrize(
    ("numbers", "expected"),
    [
        ([INT64_MAX, INT64_MAX, 2], 2**64),
        ([INT64_MAX, 1, -INT64_MAX], 1),  # past 64 bits on the way, back in range at the end
        ([-INT64_MAX - 1, -INT64_MAX - 1], -(2**64)),
        ([5, -7], -2),
    ],
)
def test_an_exact_sum_reads_back_as_an_exact_int(
    ledger: Ledger, numbers: list[int], expected: int
) -> None:
    total = scalar(ledger.engine, select(exact_sum(rows_of(numbers).c.n)))
    assert type(total) is int and total == expected


def test_an_exact_sum_of_no_rows_is_null_like_sum(ledger: Ledger) -> None:
    rows = rows_of([1, 2])
    assert scalar(ledger.engine, select(exact_sum(rows.c.n)).where(rows.c.n < 0)) is None
    zero = select(func.coalesce(exact_sum(rows.c.n), 0)).where(rows.c.n < 0)
    assert scalar(ledger.engine, zero) == 0


def test_sqlite_sum_overflows_where_exact_sum_does_not(ledger: Ledger) -> None:
    if ledger.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's sum(bigint) is numeric: it never overflows")
    with pytest.raises(OperationalError, match="integer overflow"):
        scalar(ledger.engine, select(func.sum(rows_of([INT64_MAX, 1]).c.n)))
