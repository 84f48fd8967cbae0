"""Which URLs a worker may fetch inputs from, and a resolver that holds the connection to that rule.

A worker fetches URL inputs on behalf of whoever wrote the chat message, so a URL must never turn it
into a way into internal services. Three checks, all needed:

- the URL is ``https`` on one of the configured hosts (Discord's attachment CDN);
- every address the host resolves to is a public one; the check runs inside the connector's resolver,
  so the addresses checked are the addresses connected to (a DNS answer that changes between a check
  and the connection, "DNS rebinding", has nothing to slip through);
- a redirect is followed only when its target passes the same checks (the fetcher's job).

``UrlPolicy.allow_private`` lifts the scheme and address checks, never the host list: the tests' fake
Discord serves attachments over plain HTTP on 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
import socket

from aiohttp import DefaultResolver
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from jobs.config import UrlPolicy
from jobs.errors import InputRefused

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def is_public(address: IPAddress) -> bool:
    """True for an address on the public internet: not loopback, private, link-local (cloud metadata
    services live at 169.254.169.254), shared (CGNAT), reserved, multicast or unspecified. IPv6 forms
    that carry an IPv4 address (mapped, 6to4) are judged by the IPv4 address they reach."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None:
            return is_public(embedded)
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def check_url(url: URL, policy: UrlPolicy) -> None:
    """Refuse ``url`` unless its scheme, host and (when the host is written as an address) address
    pass ``policy``. Host names are checked again, address by address, when they are resolved."""
    allowed_schemes = ("https", "http") if policy.allow_private else ("https",)
    if url.scheme not in allowed_schemes:
        raise InputRefused(f"scheme {url.scheme or 'none'!r} is not fetched")
    if url.user is not None or url.password is not None:
        raise InputRefused("URLs with credentials are not fetched")
    host = (url.host or "").rstrip(".").lower()
    if host not in policy.hosts:
        raise InputRefused(f"host {host or 'none'!r} is not an attachment host")
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return  # a name: its addresses are checked by GuardedResolver when the connection is made
    if not policy.allow_private and not is_public(literal):
        raise InputRefused(f"address {literal} is not public")


class GuardedResolver(AbstractResolver):
    """Resolves through ``inner`` (the system's resolver unless a test fakes DNS) and refuses a host
    if any of its addresses is not public, unless ``policy.allow_private``. Refusing on any, not
    dropping the bad ones, keeps a half-internal name from being tried at all."""

    def __init__(self, policy: UrlPolicy, inner: AbstractResolver | None = None) -> None:
        self.policy = policy
        self.inner = inner or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self.inner.resolve(host, port, family)
        if not self.policy.allow_private:
            for result in results:
                address = ipaddress.ip_address(result["host"].partition("%")[0])
                if not is_public(address):
                    raise InputRefused(f"{host} resolves to {address}, which is not public")
        return results

    async def close(self) -> None:
        await self.inner.close()
