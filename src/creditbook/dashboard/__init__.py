"""The web dashboard: server-rendered pages over the ledger, for customers and the operator.

`create_dashboard(ledger)` builds the application the API mounts at `/dashboard`.
"""

from creditbook.dashboard.app import MOUNT_PATH, create_dashboard

__all__ = ["MOUNT_PATH", "create_dashboard"]
