"""The ledger engine: operations as transactions, and reports."""
