"""Which URLs the dispatcher may call.

A webhook URL is given by whoever holds the operator key, and the server then makes
requests to it: without a check that is a way into the server's own network (SSRF). So a URL
must be https, and its host must resolve to public addresses only: no loopback, private,
link-local (cloud metadata), multicast, reserved or unspecified address. The check runs when
an endpoint is created or changed, and again before every delivery, since a name may
resolve elsewhere later.

`allow_private` (the setting `CREDITBOOK_WEBHOOKS_ALLOW_PRIVATE=1`) lifts both rules, for
receivers on the same machine or network and for tests: http and any address are allowed.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from creditbook.domain.errors import WebhookUrlError
from creditbook.domain.webhooks import MAX_URL_CHARS

SCHEMES = ("https",)
SCHEMES_WHEN_PRIVATE = ("https", "http")


def check_url(url: str, *, allow_private: bool) -> str:
    """`url` when the dispatcher may call it; a `WebhookUrlError` saying why not otherwise."""
    host, port = _parts(url, allow_private)
    if allow_private:
        return url
    for address in _addresses(host, port):
        if not address.is_global or address.is_multicast:
            raise WebhookUrlError(
                f"url host {host!r} resolves to {address}, which is not a public address "
                "(set CREDITBOOK_WEBHOOKS_ALLOW_PRIVATE=1 to allow private addresses)"
            )
    return url


def _parts(url: str, allow_private: bool) -> tuple[str, int]:
    if not isinstance(url, str) or not url or len(url) > MAX_URL_CHARS:
        raise WebhookUrlError(f"url must be a URL of at most {MAX_URL_CHARS} characters")
    if any(character.isspace() or not character.isprintable() for character in url):
        raise WebhookUrlError("url must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise WebhookUrlError(f"url is malformed: {error}") from None
    schemes = SCHEMES_WHEN_PRIVATE if allow_private else SCHEMES
    if parts.scheme not in schemes:
        raise WebhookUrlError(
            "url must be https (set CREDITBOOK_WEBHOOKS_ALLOW_PRIVATE=1 to allow http)"
            if parts.scheme == "http"
            else "url must be an https URL"
        )
    if not parts.hostname:
        raise WebhookUrlError("url has no host")
    if parts.username is not None or parts.password is not None:
        raise WebhookUrlError("url must not carry a user name or password")
    if parts.fragment:
        raise WebhookUrlError("url must not have a fragment")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def _addresses(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise WebhookUrlError(f"url host {host!r} does not resolve") from None
    addresses = []
    for *_, sockaddr in found:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        mapped = getattr(address, "ipv4_mapped", None)
        addresses.append(mapped or address)
    if not addresses:
        raise WebhookUrlError(f"url host {host!r} does not resolve")
    return addresses
