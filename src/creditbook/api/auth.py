"""Who is calling: the key of a request, from `Authorization: Bearer|Token <key>` or
`X-API-KEY` (what a key may do is `creditbook.engine.principal.Principal`)."""

from __future__ import annotations

from fastapi import Request

from creditbook.engine.principal import token_from_headers


def token_of(request: Request) -> str | None:
    headers = request.headers
    return token_from_headers(headers.get("authorization"), headers.get("x-api-key"))
