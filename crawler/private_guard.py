"""Private-network guard: never request loopback, private, link-local or reserved addresses.

Every request, including each hop of a redirect chain, has its host resolved
(in a thread, cached for the run) before it is sent. If any address it
resolves to is not a public unicast address, the request is refused with
``ForbiddenAddress`` (outcome ``forbidden_address``). A name that does not
exist raises ``HostNotFound`` here, which is not retried.

``LINKHEALTH_ALLOW_PRIVATE`` turns the address check off (the name is still
resolved). Known gap: the download handler resolves the name again when it
connects, so a DNS answer that changes between the two lookups (DNS
rebinding) is not caught.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from typing import TYPE_CHECKING

from scrapy.exceptions import CannotResolveHostError
from scrapy.utils.asyncio import run_in_thread
from scrapy.utils.httpobj import urlparse_cached

from crawler.errors import ForbiddenAddress, HostNotFound

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler

_NOT_FOUND = {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)}


def address_problem(address: str) -> str | None:
    """Why an IP address must not be contacted, or None for a public unicast address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    for label, flag in (
        ("loopback", ip.is_loopback), ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast), ("unspecified", ip.is_unspecified),
        ("private", ip.is_private), ("reserved", ip.is_reserved),
    ):
        if flag:
            return label
    return None if ip.is_global else "non-public"


def lookup(host: str, port: int) -> list[str]:
    """Every address a name resolves to (blocking; run in a thread)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        if exc.errno in _NOT_FOUND:
            raise HostNotFound(f"DNS lookup failed: no such host {host}") from exc
        raise CannotResolveHostError(f"DNS lookup failed for {host}: {exc.strerror}") from exc
    except UnicodeError as exc:
        raise HostNotFound(f"DNS lookup failed: invalid host name {host}") from exc
    return sorted({info[4][0] for info in infos})


class PrivateAddressGuard:
    def __init__(self, allow_private: bool):
        self.allow_private = allow_private
        self._resolved: dict[str, list[str] | HostNotFound] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> PrivateAddressGuard:
        return cls(crawler.settings.getbool("LINKHEALTH_ALLOW_PRIVATE"))

    async def process_request(self, request: Request) -> None:
        # The first attempt stamps the start of the check; retries and redirects keep it.
        request.meta.setdefault("linkhealth_started", time.monotonic())
        parsed = urlparse_cached(request)
        if parsed.scheme not in ("http", "https"):
            raise ForbiddenAddress(f"refusing to fetch a {parsed.scheme}: URL")
        host = parsed.hostname or ""
        addresses = await self._addresses(host, parsed.port or 443)
        if self.allow_private:
            return
        for address in addresses:
            problem = address_problem(address)
            if problem:
                raise ForbiddenAddress(f"{host} is a {problem} address ({address})"
                                       if host == address else
                                       f"{host} resolves to a {problem} address ({address})")

    async def _addresses(self, host: str, port: int) -> list[str]:
        try:
            return [str(ipaddress.ip_address(host))]
        except ValueError:
            pass
        cached = self._resolved.get(host)
        if isinstance(cached, HostNotFound):
            raise HostNotFound(str(cached))
        if cached is not None:
            return cached
        try:
            addresses = await run_in_thread(lookup, host, port)
        except HostNotFound as exc:
            self._resolved[host] = exc
            raise
        self._resolved[host] = addresses
        return addresses
