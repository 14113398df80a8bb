"""django-hordak as a peer for benchmarks/engine.py: the same charge done the way a hordak
application does it, on the same PostgreSQL server (its own scratch database).

One charge: in one transaction, lock the customer's account row (`select_for_update`), read
its balance (hordak's SUM over the legs), refuse when short, and `transfer_to` the revenue
account (one transaction row and two legs, the customer's balance going down). Batched:
that, for each charge of the batch, in one transaction. Installed by the optional `bench`
extra (`pip install -e '.[bench]'`).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

CURRENCY = "EUR"


def available() -> bool:
    return importlib.util.find_spec("hordak") is not None


def _unshadow_stdlib() -> None:
    """Run as `python benchmarks/engine.py`, this folder is first on sys.path and its
    `http.py` would hide the standard library's `http`, which Django imports."""
    here = Path(__file__).resolve().parent
    sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != here]
    shadow = sys.modules.get("http")
    if shadow is not None and Path(getattr(shadow, "__file__", "") or "").parent == here:
        del sys.modules["http"]


class HordakPeer:
    """Customer accounts funded with plenty, charged one unit at a time."""

    def __init__(self, database_url: str, accounts: int) -> None:
        _unshadow_stdlib()
        import django
        from django.conf import settings

        url = make_url(database_url)
        if not settings.configured:
            settings.configure(
                DATABASES={
                    "default": {
                        "ENGINE": "django.db.backends.postgresql",
                        "NAME": url.database,
                        "USER": url.username or "",
                        "PASSWORD": url.password or "",
                        "HOST": url.host or "",
                        "PORT": str(url.port or ""),
                    }
                },
                INSTALLED_APPS=[
                    "django.contrib.contenttypes",
                    "django.contrib.auth",
                    "mptt",
                    "djmoney",
                    "hordak",
                ],
                USE_TZ=True,
                DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
                HORDAK_DECIMAL_PLACES=3,
            )
            django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        self._setup(accounts)

    def _setup(self, accounts: int) -> None:
        from django.db import transaction
        from hordak.models import Account
        from moneyed import Money

        with transaction.atomic():
            equity = Account.objects.create(
                name="equity", type=Account.TYPES.equity, currencies=[CURRENCY]
            )
            self.revenue = Account.objects.create(
                name="revenue", type=Account.TYPES.income, currencies=[CURRENCY]
            )
            self.customers: list[Any] = []
            for index in range(accounts):
                customer = Account.objects.create(
                    name=f"customer-{index}", type=Account.TYPES.liability, currencies=[CURRENCY]
                )
                # Hordak's sign rules: between two right-hand-side accounts (equity,
                # liability, income) a transfer increases its source and decreases its target.
                customer.transfer_to(equity, Money(10**9, CURRENCY))
                self.customers.append(customer.pk)

    def _charge(self, customer_pk: int) -> None:
        from hordak.models import Account
        from moneyed import Money

        customer = Account.objects.select_for_update().get(pk=customer_pk)
        amount = Money(1, CURRENCY)
        if customer.get_simple_balance().monies()[0] < amount:
            raise RuntimeError("hordak customer cannot pay")
        self.revenue.transfer_to(customer, amount, description="charge")

    def charge(self, customer_pks: list[int]) -> int:
        from django.db import transaction

        with transaction.atomic():
            for customer_pk in customer_pks:
                self._charge(customer_pk)
        return len(customer_pks)

    def close(self) -> None:
        from django.db import connections

        connections.close_all()
