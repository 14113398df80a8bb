"""The outcome of verifying the ledger."""

from __future__ import annotations

from creditbook.wire.common import Out


class VerifyOut(Out):
    ok: bool
    differences: list[str]
    accounts: int
    transfers: int
    entries: int
