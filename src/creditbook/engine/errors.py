"""Errors the engine passes on to its callers besides the domain's (`creditbook.domain.errors`).

The shells (API, CLI, dashboard) import them from here, never from the store below.
"""

from creditbook.store.database import DatabaseUrlError

__all__ = ["DatabaseUrlError"]
