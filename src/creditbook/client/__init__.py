"""The Python SDK of the creditbook API.

    from creditbook.client import Client

    with Client(api_key="cb_...", base_url="http://127.0.0.1:8000") as client:
        charge = client.charges.create("acme", amount=3, description="API call")
        for line in client.credits.transactions("acme"):
            print(line.type, line.amount)

`AsyncClient` is the same API for asyncio. Responses are the API's own pydantic models
(`creditbook.client.models`); failures raise the classes of `creditbook.client.errors`.
`creditbook.client.config` names the environment variables a client reads.
"""

from creditbook.client._client import AsyncClient, Client
from creditbook.client.errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    CreditbookAPIError,
    InsufficientCreditsError,
    InternalServerError,
    KeySecretLostError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    UnprocessableEntityError,
)
from creditbook.client.pagination import AsyncPager, Page, Pager

__all__ = [
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
