"""One write transaction on one account: the names the operations use, from
`creditbook.engine.account`."""

from __future__ import annotations

from creditbook.domain.grants import Draw
from creditbook.engine.account.flush import flush_all
from creditbook.engine.account.lines import Attribution, Line, Posted, draws_total, new_id
from creditbook.engine.account.state import AccountTx

__all__ = [
    "AccountTx",
    "Attribution",
    "Draw",
    "Line",
    "Posted",
    "draws_total",
    "flush_all",
    "new_id",
]
