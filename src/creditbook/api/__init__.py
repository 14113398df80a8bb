"""The HTTP service: a thin FastAPI shell over the Ledger."""
