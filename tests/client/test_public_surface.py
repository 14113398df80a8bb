"""The SDK's public surface is pinned: changing it is a deliberate act."""

from __future__ import annotations

import asyncio
import inspect

import creditbook.client
from creditbook.client import AsyncClient, AsyncPager, Client, Pager, models


def test_public_surface() -> None:
    assert sorted(creditbook.client.__all__) == [
        "APIConnectionError",
        "APITimeoutError",
        "AsyncClient",
        "AsyncPager",
        "AuthenticationError",
        "BadRequestError",
        "Client",
        "ConflictError",
        "CreditbookAPIError",
        "InsufficientCreditsError",
        "InternalServerError",
        "KeySecretLostError",
        "NotFoundError",
        "Page",
        "Pager",
        "PayloadTooLargeError",
        "PermissionDeniedError",
        "RateLimitError",
        "UnprocessableEntityError",
    ]
    for name in creditbook.client.__all__ + models.__all__:
        assert getattr(creditbook.client, name, None) or getattr(models, name)


RESOURCES = {
    "plans": ["list", "put"],
    "rate_cards": ["list", "put"],
    "accounts": ["create", "get", "list", "update"],
    "keys": ["create", "current", "revoke"],
    "grants": ["create"],
    "charges": ["batch", "create", "estimate", "refund"],
    "runs": ["credits", "finish", "get", "list", "report_results", "start"],
    "credits": ["balance", "stats", "transactions"],
    "ledger": ["verify"],
    "credit_packs": ["get", "list", "put"],
    "checkout_sessions": ["create"],
    "auto_recharge": ["get", "remove", "set"],
    "payments": ["list"],
}


def _methods(resource: object) -> list[str]:
    return sorted(
        name
        for name, member in inspect.getmembers(type(resource), inspect.isfunction)
        if not name.startswith("_")
    )


def test_sync_and_async_clients_have_the_same_resources() -> None:
    with Client(api_key="k") as sync_client:
        async_client = AsyncClient(api_key="k")
        for attribute, methods in RESOURCES.items():
            sync_resource = getattr(sync_client, attribute)
            async_resource = getattr(async_client, attribute)
            assert _methods(sync_resource) == methods, attribute
            assert _methods(async_resource) == methods, attribute
            for name in methods:
                sync_signature = inspect.signature(getattr(sync_resource, name))
                async_signature = inspect.signature(getattr(async_resource, name))
                assert str(sync_signature).replace("AsyncPager", "Pager") == str(
                    async_signature
                ).replace("AsyncPager", "Pager"), f"{attribute}.{name}"
        asyncio.run(async_client.close())


def test_the_async_pager_has_the_sync_pagers_members() -> None:
    def members(cls: type) -> list[str]:
        return sorted(name for name in dir(cls) if not name.startswith("_"))

    assert members(AsyncPager) == members(Pager) == ["first_page", "page", "pages"]
    assert hasattr(Pager, "__iter__") and hasattr(AsyncPager, "__aiter__")


def test_bodies_are_keyword_only() -> None:
    """Only ids (and the stats period mapping) are positional; body fields are keywords."""
    positional = {"account_id", "plan_id", "rate_card_id", "key_id", "charge_id", "run_id"}
    positional |= {"pack_id"}
    positional |= {"items", "period"}
    with Client(api_key="k") as client:
        for attribute, methods in RESOURCES.items():
            for name in methods:
                signature = inspect.signature(getattr(getattr(client, attribute), name))
                for parameter in signature.parameters.values():
                    if parameter.kind is not parameter.KEYWORD_ONLY:
                        assert parameter.name in positional, (attribute, name, parameter.name)
