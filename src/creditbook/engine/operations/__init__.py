"""The ledger's operations, one module per noun; each write takes the shared `Context` and
one request value (`creditbook.domain.requests`) and is one database transaction."""
